"""OPTIONS["CIRCUIT_BREAKER"]: fail fast after consecutive connection failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import valkey.asyncio.connection
import valkey.connection
import valkey.exceptions
from django.core.exceptions import ImproperlyConfigured

from django_valkey.breaker import CircuitBreaker, CircuitOpenError, breaker_from_options
from django_valkey.exceptions import ConnectionInterrupted
from tests.servers import ValkeyServer, free_port

pytestmark = pytest.mark.server

DEAD = {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}
BREAKER = {"FAILURES": 3, "RESET_TIMEOUT": 0.5}
ASYNC_BACKENDS = {
    "AsyncValkeyCache": "django_valkey.async_cache.cache.AsyncValkeyCache",
    "ValkeyCache": "django_valkey.cache.ValkeyCache",
}


@pytest.fixture
def dead_port() -> int:
    # A free port nobody listens on: connections are refused at once.
    return free_port()


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts connection attempts (sync and asyncio): ``len(connects)``."""
    attempts: list[int] = []
    for module in (valkey.connection, valkey.asyncio.connection):
        original = module.AbstractConnection.connect

        if module is valkey.connection:

            def connect(self: Any, _original: Any = original) -> Any:
                attempts.append(1)
                return _original(self)

        else:

            async def connect(self: Any, _original: Any = original) -> Any:  # type: ignore[misc]
                attempts.append(1)
                return await _original(self)

        monkeypatch.setattr(module.AbstractConnection, "connect", connect)
    yield attempts


def wait_reset() -> None:
    time.sleep(BREAKER["RESET_TIMEOUT"] + 0.1)


def test_off_by_default(make_cache: Callable[..., Any], speedups: str) -> None:
    cache = make_cache()
    assert cache.client._breaker is None
    assert make_cache(OPTIONS={"CIRCUIT_BREAKER": None}).client._breaker is None
    cache.set("k", 1)
    assert cache.get("k") == 1


@pytest.mark.parametrize(
    "setting",
    [
        5,
        "yes",
        [3, 1],
        {"FAILURES": 0},
        {"FAILURES": -1},
        {"FAILURES": 2.5},
        {"FAILURES": True},
        {"FAILURES": "3"},
        {"RESET_TIMEOUT": 0},
        {"RESET_TIMEOUT": -1},
        {"RESET_TIMEOUT": "30"},
        {"RESET_TIMEOUT": float("inf")},
        {"RESET_TIMEOUT": float("nan")},
        {"RESET_TIMEOUT": False},
        {"FAILURE": 3},
    ],
)
def test_bad_settings(make_cache: Callable[..., Any], setting: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="CIRCUIT_BREAKER"):
        make_cache(OPTIONS={"CIRCUIT_BREAKER": setting}).client  # noqa: B018


def test_defaults_and_sharing(make_cache: Callable[..., Any], dead_port: int) -> None:
    location = f"valkey://127.0.0.1:{dead_port}/0"
    one = make_cache(location=location, OPTIONS={"CIRCUIT_BREAKER": {}})
    breaker = one.client._breaker
    assert isinstance(breaker, CircuitBreaker)
    assert (breaker.failures, breaker.reset_timeout) == (5, 30.0)
    assert breaker.state == "closed"
    # Same servers and settings: the same process-wide breaker, from any thread.
    two = make_cache(location=location, OPTIONS={"CIRCUIT_BREAKER": {"RESET_TIMEOUT": 30}})
    assert two.client._breaker is breaker
    seen: list[Any] = []
    thread = threading.Thread(
        target=lambda: seen.append(
            make_cache(location=location, OPTIONS={"CIRCUIT_BREAKER": {}}).client._breaker
        )
    )
    thread.start()
    thread.join()
    assert seen == [breaker]
    # Other settings or other servers: another breaker.
    other = make_cache(location=location, OPTIONS={"CIRCUIT_BREAKER": {"FAILURES": 2}})
    assert other.client._breaker is not breaker
    assert breaker_from_options({}, [f"valkey://127.0.0.1:{free_port()}/0"]) is not breaker


def test_opens_fails_fast_and_closes_again(
    make_cache: Callable[..., Any],
    dead_port: int,
    connects: list[int],
    tmp_path: Any,
    speedups: str,
) -> None:
    cache = make_cache(
        location=f"valkey://127.0.0.1:{dead_port}/0", OPTIONS={**DEAD, "CIRCUIT_BREAKER": BREAKER}
    )
    breaker = cache.client._breaker
    for _ in range(3):
        with pytest.raises(valkey.exceptions.ConnectionError) as info:
            cache.get("k")
        assert not isinstance(info.value, CircuitOpenError)
    tried = len(connects)
    assert tried >= 3
    assert breaker.state == "open"

    # Open: 100 calls, not one connection attempt.
    for _ in range(100):
        with pytest.raises(CircuitOpenError) as info:
            cache.get("k")
        assert isinstance(info.value, valkey.exceptions.ConnectionError)
    with pytest.raises(ConnectionInterrupted) as interrupted:
        cache.client.set("k", 1)
    assert isinstance(interrupted.value.__cause__, CircuitOpenError)
    with pytest.raises(CircuitOpenError):
        list(cache.iter_keys("*"))
    assert len(connects) == tried

    # Half-open, server still dead: one trial, then open again for the full period.
    wait_reset()
    assert breaker.state == "half-open"
    with pytest.raises(valkey.exceptions.ConnectionError) as info:
        cache.get("k")
    assert not isinstance(info.value, CircuitOpenError)
    assert len(connects) > tried
    tried = len(connects)
    with pytest.raises(CircuitOpenError):
        cache.get("k")
    assert len(connects) == tried

    # The server comes back: after the reset timeout the trial closes it.
    server = ValkeyServer(port=dead_port, workdir=tmp_path).start()
    try:
        with pytest.raises(CircuitOpenError):
            cache.set("k", 1)
        wait_reset()
        cache.set("k", 1)
        assert breaker.state == "closed"
        assert cache.get("k") == 1
        assert cache.get_many(["k", "x"]) == {"k": 1}
    finally:
        server.stop()


def test_ignore_exceptions_fallbacks_while_open(
    make_cache: Callable[..., Any], dead_port: int, connects: list[int], speedups: str
) -> None:
    cache = make_cache(
        location=f"valkey://127.0.0.1:{dead_port}/0",
        OPTIONS={**DEAD, "IGNORE_EXCEPTIONS": True, "CIRCUIT_BREAKER": BREAKER},
    )
    for _ in range(3):
        assert cache.get("k") is None
    assert cache.client._breaker.state == "open"
    tried = len(connects)
    for _ in range(100):
        assert cache.get("k", "fallback") == "fallback"
    assert cache.set("k", 1) is None
    assert cache.get_many(["a", "b"]) == {}
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert cache.has_key("k") is False
    assert cache.get_or_set("k", lambda: "computed") == "computed"
    assert cache.incr("k") is None
    assert list(cache.iter_keys("*")) == []
    assert len(connects) == tried


def test_success_resets_the_count(make_cache: Callable[..., Any], tmp_path: Any) -> None:
    server = ValkeyServer(workdir=tmp_path).start()
    try:
        cache = make_cache(location=f"{server.url}/0", OPTIONS={**DEAD, "CIRCUIT_BREAKER": BREAKER})
        breaker = cache.client._breaker
        cache.set("k", 1)
        server.stop()
        for _ in range(2):
            with pytest.raises(valkey.exceptions.ConnectionError):
                cache.get("k")
        server.start()
        assert cache.get("k") is None  # a fresh server: nothing stored
        server.stop()
        for _ in range(2):
            with pytest.raises(valkey.exceptions.ConnectionError):
                cache.get("k")
        # 4 failures, but never 3 in a row.
        assert breaker.state == "closed"
        with pytest.raises(valkey.exceptions.ConnectionError):
            cache.get("k")
        assert breaker.state == "open"
    finally:
        server.stop()


def test_response_errors_never_open_it(make_cache: Callable[..., Any], speedups: str) -> None:
    cache = make_cache(OPTIONS={"CIRCUIT_BREAKER": {"FAILURES": 1, "RESET_TIMEOUT": 30}})
    cache.sadd("set", 1)
    for _ in range(5):
        with pytest.raises(valkey.exceptions.ResponseError):
            cache.get("set")
        with pytest.raises(valkey.exceptions.ResponseError):
            cache.incr("set")
    assert cache.client._breaker.state == "closed"
    cache.set("k", 1)
    assert cache.get("k") == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", sorted(ASYNC_BACKENDS))
async def test_async_opens_fails_fast_and_closes_again(
    make_cache: Callable[..., Any],
    dead_port: int,
    connects: list[int],
    tmp_path: Any,
    backend: str,
) -> None:
    cache = make_cache(
        backend=ASYNC_BACKENDS[backend],
        location=f"valkey://127.0.0.1:{dead_port}/0",
        OPTIONS={**DEAD, "CIRCUIT_BREAKER": BREAKER},
    )
    try:
        for _ in range(3):
            with pytest.raises(valkey.exceptions.ConnectionError) as info:
                await cache.aget("k")
            assert not isinstance(info.value, CircuitOpenError)
        tried = len(connects)
        assert tried >= 3
        for _ in range(100):
            with pytest.raises(CircuitOpenError):
                await cache.aget("k")
        with pytest.raises(CircuitOpenError):
            await cache.aset("k", 1)
        assert len(connects) == tried

        server = ValkeyServer(port=dead_port, workdir=tmp_path).start()
        try:
            wait_reset()
            await cache.aset("k", 1)
            assert await cache.aget("k") == 1
            assert len(connects) > tried
        finally:
            server.stop()
    finally:
        await cache.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", sorted(ASYNC_BACKENDS))
async def test_async_ignore_exceptions_and_response_errors(
    make_cache: Callable[..., Any], dead_port: int, connects: list[int], backend: str
) -> None:
    cache = make_cache(
        backend=ASYNC_BACKENDS[backend],
        location=f"valkey://127.0.0.1:{dead_port}/0",
        OPTIONS={**DEAD, "IGNORE_EXCEPTIONS": True, "CIRCUIT_BREAKER": BREAKER},
    )
    alive = make_cache(
        backend=ASYNC_BACKENDS[backend],
        OPTIONS={"CIRCUIT_BREAKER": {"FAILURES": 1, "RESET_TIMEOUT": 30}},
    )
    try:
        for _ in range(3):
            assert await cache.aget("k") is None
        tried = len(connects)
        for _ in range(100):
            assert await cache.aget("k", "fallback") == "fallback"
        assert await cache.aget_many(["a", "b"]) == {}
        assert await cache.ahas_key("k") is False
        assert len(connects) == tried

        await alive.asadd("set", 1)
        for _ in range(3):
            with pytest.raises(valkey.exceptions.ResponseError):
                await alive.aget("set")
        assert alive.client._breaker.state == "closed"
        await alive.aset("k", 1)
        assert await alive.aget("k") == 1
    finally:
        await cache.aclose()
        await alive.aclose()


def test_breaker_unit_half_open_single_trial() -> None:
    breaker = CircuitBreaker(failures=2, reset_timeout=0.05)
    breaker.failure()
    assert breaker.state == "closed"
    breaker.success()
    breaker.failure()
    breaker.failure()
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        breaker.before()
    time.sleep(0.06)
    assert breaker.before() is True  # the trial
    with pytest.raises(CircuitOpenError):
        breaker.before()  # only one trial at a time
    breaker.release(True)  # the trial ended without news: another may go
    assert breaker.before() is True
    breaker.failure(trial=True)
    assert breaker.state == "open"
    time.sleep(0.06)
    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.state == "closed"
