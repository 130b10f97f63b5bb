"""``manage.py check`` catches the settings a new user gets wrong, each with
an id and a hint, before the first request (no server needed)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_valkey.checks import check_cache_settings, check_caches
from django_valkey.options import KNOWN_OPTIONS

GOOD = {"BACKEND": "django_valkey.cache.ValkeyCache", "LOCATION": "valkey://127.0.0.1:6379/0"}


def _messages(**entry: Any) -> list[checks.CheckMessage]:
    with override_settings(CACHES={"default": {**GOOD, **entry}}):
        # The older check must not crash on the same settings either.
        check_caches()
        return check_cache_settings()


def _only(messages: list[checks.CheckMessage], id_: str) -> checks.CheckMessage:
    found = [m for m in messages if m.id == id_]
    assert len(found) == 1, messages
    assert found[0].hint
    return found[0]


def test_good_settings_pass() -> None:
    assert _messages(OPTIONS={"SOCKET_TIMEOUT": 1, "RETRY": {"ATTEMPTS": 2}}) == []
    assert _messages(TIMEOUT=None) == []


def test_options_as_a_list() -> None:
    message = _only(_messages(OPTIONS=["IGNORE_EXCEPTIONS", True]), "django_valkey.E010")
    assert "must be a dict" in message.msg
    assert message.level == checks.ERROR


@pytest.mark.parametrize(
    "location", ["http://127.0.0.1:6379/0", "127.0.0.1:6379", "", ["valkey://a:1", "tcp://b:2"]]
)
def test_wrong_location_scheme(location: Any) -> None:
    message = _only(_messages(LOCATION=location), "django_valkey.E011")
    assert "valkey://" in message.hint


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("SERIALIZER", "django_valkey.serializers.jsn.JSONSerializer"),
        ("COMPRESSOR", "django_valkey.compressors.zlib.ZlibCompresor"),
        ("CLIENT_CLASS", "django_valkey.client.NoSuchClient"),
        ("CREDENTIAL_PROVIDER", "nowhere.Provider"),
    ],
)
def test_unimportable_dotted_paths(key: str, path: str) -> None:
    message = _only(_messages(OPTIONS={key: path}), "django_valkey.E012")
    assert key in message.msg and path in message.msg


@pytest.mark.parametrize("timeout", ["abc", "300", True, [1]])
def test_timeout_not_a_number(timeout: Any) -> None:
    _only(_messages(TIMEOUT=timeout), "django_valkey.E013")


def test_misspelled_pool_kwarg() -> None:
    message = _only(
        _messages(OPTIONS={"CONNECTION_POOL_KWARGS": {"max_conections": 5}}), "django_valkey.E014"
    )
    assert "max_connections" in message.hint


def test_known_pool_kwargs_pass() -> None:
    kwargs = {"max_connections": 5, "ssl_ca_certs": None, "health_check_interval": 10}
    assert _messages(OPTIONS={"CONNECTION_POOL_KWARGS": kwargs}) == []
    blocking = {
        "CONNECTION_POOL_CLASS": "valkey.connection.BlockingConnectionPool",
        "CONNECTION_POOL_KWARGS": {"timeout": 3, "max_connections": 2},
    }
    assert _messages(OPTIONS=blocking) == []


@pytest.mark.parametrize(
    "options",
    [
        {"RETRY": {"ATTEMPTS": 0}},
        {"RETRY": [3]},
        {"CIRCUIT_BREAKER": {"FAILURES": "5"}},
        {"OPENTELEMETRY": "yes"},
        {"NEAR_CACHE": {"MAX_ENTRIES": 0}},
        {"PIPELINING": "yes"},
        {"PIPELINING_CONNECTIONS": 0},
        {"PIPELINING_MAX_IN_FLIGHT": 1.5},
        {"NEAR_CACHE": {}, "CLIENT_CLASS": "django_valkey.client.HerdClient"},
    ],
)
def test_malformed_policies(options: dict[str, Any]) -> None:
    _only(_messages(OPTIONS=options), "django_valkey.E015")


def test_a_supported_near_cache_passes() -> None:
    assert _messages(OPTIONS={"NEAR_CACHE": {"MAX_ENTRIES": 100}}) == []


def test_pipelining_options_pass() -> None:
    options = {"PIPELINING": False, "PIPELINING_CONNECTIONS": 2, "PIPELINING_MAX_IN_FLIGHT": 64}
    assert _messages(OPTIONS=options) == []


def test_misspelled_option_suggests_the_closest() -> None:
    message = _only(_messages(OPTIONS={"IGNORE_EXCEPTION": True}), "django_valkey.W010")
    assert message.level == checks.WARNING
    assert "'IGNORE_EXCEPTIONS'" in message.hint


def test_pool_kwarg_given_as_option() -> None:
    message = _only(_messages(OPTIONS={"max_connections": 5}), "django_valkey.W010")
    assert "CONNECTION_POOL_KWARGS" in message.hint


def test_every_known_option_passes() -> None:
    messages = _messages(OPTIONS=dict.fromkeys(KNOWN_OPTIONS))
    assert [m for m in messages if m.id == "django_valkey.W010"] == []


def test_other_backends_are_left_alone() -> None:
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    ):
        assert check_cache_settings() == []


@pytest.mark.parametrize(
    ("entry", "id_"),
    [
        ({"TIMEOUT": "abc"}, "E013"),
        ({"OPTIONS": ["IGNORE_EXCEPTIONS"]}, "E010"),
        ({"LOCATION": "http://127.0.0.1:6379"}, "E011"),
        ({"OPTIONS": {"CLIENT_CLASS": "no.such.Client"}}, "E012"),
        ({"OPTIONS": {"SERIALIZER": "no.such.Serializer"}}, "E012"),
        ({"OPTIONS": {"CONNECTION_POOL_KWARGS": {"max_conections": 5}}}, "E014"),
    ],
)
def test_manage_py_check_reports_them(entry: dict[str, Any], id_: str) -> None:
    # Django's own cache checks build every cache: the backend must keep a
    # settings error for the first use so that the check can report it.
    with (
        override_settings(CACHES={"default": {**GOOD, **entry}}),
        pytest.raises(SystemCheckError, match=rf"django_valkey\.{id_}"),
    ):
        call_command("check")


def test_manage_py_check_warns_without_failing(capsys: pytest.CaptureFixture[str]) -> None:
    with override_settings(CACHES={"default": {**GOOD, "OPTIONS": {"IGNORE_EXCEPTION": True}}}):
        call_command("check")
    assert "django_valkey.W010" in capsys.readouterr().err
