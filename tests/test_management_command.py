"""``manage.py valkey_cache``: every subcommand against a real server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from django_valkey import __version__
from django_valkey.stats import statistics
from tests.servers import ValkeyServer


class Terminal(io.StringIO):
    """An output that says it is a terminal (the progress bar shows)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def caches(django_caches: Any) -> Iterator[Any]:
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "django_valkey"]):
        yield django_caches


def run(*args: str, stdout: io.StringIO | None = None) -> str:
    out = stdout if stdout is not None else io.StringIO()
    call_command("valkey_cache", *args, stdout=out)
    return out.getvalue()


def test_info(caches: Any, valkey_server: ValkeyServer, speedups: str) -> None:
    caches["default"].set("a", 1)
    caches["default"].set("b", 2)
    out = run("info")
    fields = dict(line.split(None, 1) for line in out.splitlines() if "  " in line)
    assert f"127.0.0.1:{valkey_server.port} db 0" in out
    assert "role" in out and "master" in out
    assert fields["version"].strip()[0].isdigit()
    assert "keys in db" in out and "2" in out.split("keys in db", 1)[1].splitlines()[0]
    assert fields["speedups"].strip() == speedups
    assert fields["django_valkey"].strip() == __version__
    assert "circuit breaker" in out and "off" in out
    assert "pool" in out and "memory" in out


def test_info_of_another_alias(caches: Any) -> None:
    caches["other"].set("x", 1)
    assert "db 1" in run("--alias", "other", "info")
    with pytest.raises(CommandError, match="no cache"):
        run("--alias", "nope", "info")


def test_ping(caches: Any) -> None:
    out = run("ping", "--count", "3")
    assert out.startswith("PONG from 127.0.0.1:")
    assert "3 pings" in out and "avg" in out


def test_keys_bounded(caches: Any) -> None:
    cache = caches["default"]
    cache.set_many({f"user:{i}": i for i in range(12)})
    cache.set("other", 1)
    out = run("keys", "user:*", "--limit", "5")
    lines = out.splitlines()
    assert len(lines) == 6
    assert all(line.startswith("user:") for line in lines[:5])
    assert "more than 5" in lines[5]
    out = run("keys", "user:1*")
    assert sorted(out.splitlines()[:-1]) == ["user:1", "user:10", "user:11"]
    assert out.splitlines()[-1] == "3 keys"


def test_delete_pattern_dry_run_and_progress(caches: Any) -> None:
    cache = caches["default"]
    cache.set_many({f"session:{i}": i for i in range(250)})
    cache.set("keep", 1)
    out = run("delete-pattern", "session:*", "--dry-run")
    assert "250 keys match" in out and "dry run" in out
    assert cache.get("session:7") == 7
    assert "\r[" not in out  # not a terminal: no progress bar

    terminal = Terminal()
    out = run("delete-pattern", "session:*", stdout=terminal)
    assert "\r[" in out and "/" in out  # the progress bar
    assert "deleted 250 keys" in out
    assert cache.get("session:7") is None
    assert cache.get("keep") == 1


def test_clear_asks_first(caches: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = caches["default"]
    cache.set("a", 1)
    asked: list[str] = []

    def refuse(prompt: str) -> str:
        asked.append(prompt)
        return "no"

    monkeypatch.setattr("builtins.input", refuse)
    out = io.StringIO()
    with pytest.raises(CommandError, match="cancelled"):
        run("clear", stdout=out)
    assert "FLUSHDB" in out.getvalue() and "KEY_PREFIX" in out.getvalue()
    assert asked
    assert cache.get("a") == 1

    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    assert "FLUSHDB done" in run("clear")
    assert cache.get("a") is None


def test_clear_yes_does_not_ask(caches: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = caches["default"]
    cache.set("a", 1)
    caches["other"].set("b", 2)

    def never(prompt: str) -> str:
        raise AssertionError("asked although --yes")

    monkeypatch.setattr("builtins.input", never)
    assert "FLUSHDB done" in run("clear", "--yes")
    assert cache.get("a") is None
    assert caches["other"].get("b") == 2  # FLUSHDB: only the cache's database


def test_info_shows_breaker_and_statistics(caches: Any) -> None:
    entry = {
        **settings.CACHES["default"],
        "OPTIONS": {"STATISTICS": True, "CIRCUIT_BREAKER": {"FAILURES": 3}},
    }
    with override_settings(CACHES={"default": entry}):
        statistics("default").reset()
        caches["default"].get("nothing")
        out = run("info")
        caches["default"].close()
    assert "closed" in out.split("circuit breaker", 1)[1].splitlines()[0]
    stats_line = out.split("statistics", 1)[1].splitlines()[0]
    assert "1 misses" in stats_line
