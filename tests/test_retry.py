"""OPTIONS["RETRY"]: connection errors retried with backoff, a server restart
ridden out, and commands that are not idempotent never sent twice."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from valkey.exceptions import BusyLoadingError
from valkey.exceptions import ConnectionError as ValkeyConnectionError

from django_valkey.driver import Call, Cmd, CmdWith, Pipe
from django_valkey.guard import RetryPolicy, may_resend, retry_from_options
from django_valkey.stats import statistics
from tests.servers import ValkeyServer, free_port

pytestmark = pytest.mark.server

FAST = {"ATTEMPTS": 4, "BACKOFF": 0.001, "MAX_BACKOFF": 0.01}
SENT = ValkeyConnectionError("Connection closed by server.")
NOT_SENT = ValkeyConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")


# Classification (no server) ---------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "safe"),
    [
        (Cmd(False, "GET", "k"), True),
        (Cmd(False, "MGET", "a", "b"), True),
        (Cmd(True, "SET", "k", b"v", "PX", 10), True),
        (Cmd(True, "SET", "k", b"v", "PX", 10, "NX"), False),
        (Cmd(True, "SET", "k", b"v", "GET"), False),
        (CmdWith(True, "SET", "k", b"v", get=True), False),
        (Cmd(True, "INCRBY", "k", 1), False),
        (Cmd(True, "DECRBY", "k", 1), False),
        (Cmd(True, "EVALSHA", "sha", 1, "k", 1), False),
        (Cmd(True, "EVAL", "return 1", 0), False),
        (Cmd(True, "DEL", "k"), False),
        (Cmd(True, "RENAME", "a", "b"), False),
        (Cmd(True, "SPOP", "s"), False),
        (Pipe(True, [("SET", "a", b"1"), ("PEXPIRE", "a", 5)]), True),
        (Pipe(True, [("SET", "a", b"1"), ("INCRBY", "a", 5)]), False),
        (Pipe(True, [("SET", "a", b"1")], transaction=True), False),
        (Call(False, "scan", 0), True),
    ],
)
def test_resend_only_when_safe(request_: Any, safe: bool) -> None:
    assert may_resend(request_, SENT) is safe
    # Never sent (the connection could not be made): always safe to send.
    assert may_resend(request_, NOT_SENT) is True
    assert may_resend(request_, BusyLoadingError("LOADING")) is True


def test_backoff_grows_with_jitter_and_cap() -> None:
    policy = RetryPolicy(attempts=10, backoff=0.1, max_backoff=0.5)
    for retry, ceiling in ((1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (9, 0.5)):
        delays = {policy.delay(retry) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


@pytest.mark.parametrize(
    "setting",
    [[1], {"ATTEMPTS": 0}, {"ATTEMPTS": "3"}, {"BACKOFF": -1}, {"ATEMPTS": 3}, {"BACKOFF": True}],
)
def test_bad_retry_settings(setting: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="RETRY"):
        retry_from_options(setting)


def test_retry_off() -> None:
    assert retry_from_options(None) is None
    assert retry_from_options({}).attempts == 3  # type: ignore[union-attr]


# A fake server that drops the connection after reading a command ----------------


class DroppingServer:
    """Loopback TCP server: answers the connection handshake (CLIENT, HELLO,
    SELECT, PING) with +OK, reads any other command, counts it, then closes
    the connection without answering: the command may have run."""

    def __init__(self) -> None:
        self.received: collections.Counter[str] = collections.Counter()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    @staticmethod
    def _commands(buffer: bytes) -> tuple[list[list[bytes]], bytes]:
        commands = []
        while buffer.startswith(b"*"):
            lines = buffer.split(b"\r\n")
            count = int(lines[0][1:])
            if len(lines) < 1 + 2 * count + 1:
                break
            args = [lines[2 + 2 * i] for i in range(count)]
            consumed = sum(len(line) + 2 for line in lines[: 1 + 2 * count])
            commands.append(args)
            buffer = buffer[consumed:]
        return commands, buffer

    def _handle(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                commands, buffer = self._commands(buffer + data)
                for args in commands:
                    name = args[0].decode().upper()
                    if name in ("CLIENT", "HELLO", "SELECT", "PING", "AUTH"):
                        conn.sendall(b"+OK\r\n")
                        continue
                    self.received[name] += 1
                    return  # drop the connection: the reply never comes

    def close(self) -> None:
        self._stop = True
        self._sock.close()
        self._thread.join(5)


@pytest.fixture
def dropping_server() -> Iterator[DroppingServer]:
    server = DroppingServer()
    try:
        yield server
    finally:
        server.close()


def _fake_cache(make_cache: Any, port: int, **extra: Any) -> Any:
    return make_cache(
        location=f"valkey://127.0.0.1:{port}/0",
        OPTIONS={"RETRY": FAST, "SOCKET_TIMEOUT": 5, **extra},
    )


def test_incr_never_resent_once_sent(make_cache: Any, dropping_server: DroppingServer) -> None:
    cache = _fake_cache(make_cache, dropping_server.port)
    with pytest.raises(ValkeyConnectionError):
        cache.incr("counter")
    with pytest.raises(ValkeyConnectionError):
        cache.decr("counter")
    with pytest.raises(ValkeyConnectionError):
        cache.incr("counter", ignore_key_check=True)
    assert dropping_server.received["EVALSHA"] == 2
    assert dropping_server.received["INCRBY"] == 1
    assert "EVAL" not in dropping_server.received


def test_non_idempotent_writes_never_resent(
    make_cache: Any, dropping_server: DroppingServer
) -> None:
    cache = _fake_cache(make_cache, dropping_server.port)
    with pytest.raises(ValkeyConnectionError):
        cache.add("k", 1)  # SET ... NX
    with pytest.raises(ValkeyConnectionError):
        cache.delete("k")
    assert dropping_server.received["SET"] == 1
    assert dropping_server.received["DEL"] == 1


def test_reads_are_resent(make_cache: Any, dropping_server: DroppingServer) -> None:
    # The same fake server, a safe command: every attempt is sent.
    cache = _fake_cache(make_cache, dropping_server.port)
    with pytest.raises(ValkeyConnectionError):
        cache.get("k")
    assert dropping_server.received["GET"] == FAST["ATTEMPTS"]


def test_async_incr_never_resent(make_cache: Any, dropping_server: DroppingServer) -> None:
    cache = _fake_cache(make_cache, dropping_server.port)

    async def scenario() -> None:
        with pytest.raises(ValkeyConnectionError):
            await cache.aincr("counter")
        with pytest.raises(ValkeyConnectionError):
            await cache.aget("k")
        await cache.async_client._close()

    asyncio.run(scenario())
    assert dropping_server.received["EVALSHA"] == 1
    assert dropping_server.received["GET"] == FAST["ATTEMPTS"]


def test_unsent_incr_is_retried(make_cache: Any) -> None:
    # Nothing listens: the connection is refused, so INCR never left and is
    # retried like anything else (the statistics count each attempt).
    port = free_port()
    location = f"valkey://127.0.0.1:{port}/0"
    stats = statistics(location)
    stats.reset()
    cache = make_cache(location=location, OPTIONS={"RETRY": FAST, "STATISTICS": True})
    with pytest.raises(ValkeyConnectionError):
        cache.incr("counter")
    assert stats.errors == FAST["ATTEMPTS"]


# A real restart ----------------------------------------------------------------


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ValkeyServer]:
    # A fixed port: started again, it must come back where the client looks.
    server = ValkeyServer(name="retry", port=free_port(), workdir=tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _restart_when_failing(
    server: ValkeyServer, stats: Any, restarted: threading.Event, done: threading.Event
) -> None:
    """Stop the server, wait until the client has seen it down, start it again.

    The thread then lives until the test is done: the server dies with the
    thread that started it (the fixtures' parent-death signal).
    """
    server.stop()
    deadline = time.monotonic() + 60
    while stats.errors == 0 and time.monotonic() < deadline and not done.is_set():
        time.sleep(0.005)
    server.start()
    restarted.set()
    done.wait(120)


RIDE_OUT = {"ATTEMPTS": 200, "BACKOFF": 0.005, "MAX_BACKOFF": 0.1}


def test_restart_mid_loop_reaches_no_caller(make_cache: Any, own_server: ValkeyServer) -> None:
    location = f"{own_server.url}/0"
    stats = statistics(location)
    stats.reset()
    cache = make_cache(location=location, OPTIONS={"RETRY": RIDE_OUT, "STATISTICS": True})
    restarted, done = threading.Event(), threading.Event()
    restarter = threading.Thread(
        target=_restart_when_failing, args=(own_server, stats, restarted, done)
    )
    deadline = time.monotonic() + 120
    try:
        for i in itertools.count():
            assert time.monotonic() < deadline, "the restart never finished"
            if i == 100:
                restarter.start()
            cache.set(f"k{i}", i)
            # The data is gone after the restart, so a set may be lost; the
            # call itself must not fail.
            assert cache.get(f"k{i}") in (i, None)
            if restarted.is_set() and i > 150:
                break
        assert stats.errors > 0  # the server really was down under the loop
        cache.set("after", 1)
        assert cache.get("after") == 1
    finally:
        done.set()
        if restarter.is_alive():
            restarter.join(90)


def test_async_restart_mid_loop_reaches_no_caller(
    make_cache: Any, own_server: ValkeyServer
) -> None:
    location = f"{own_server.url}/1"
    stats = statistics(location)
    stats.reset()
    cache = make_cache(location=location, OPTIONS={"RETRY": RIDE_OUT, "STATISTICS": True})
    restarted, done = threading.Event(), threading.Event()
    restarter = threading.Thread(
        target=_restart_when_failing, args=(own_server, stats, restarted, done)
    )

    async def scenario() -> None:
        deadline = time.monotonic() + 120
        try:
            for i in itertools.count():
                assert time.monotonic() < deadline, "the restart never finished"
                if i == 100:
                    restarter.start()
                await cache.aset(f"k{i}", i)
                assert await cache.aget(f"k{i}") in (i, None)
                if restarted.is_set() and i > 150:
                    break
            assert stats.errors > 0
            await cache.aset("after", 1)
            assert await cache.aget("after") == 1
        finally:
            with contextlib.suppress(Exception):
                await cache.async_client._close()

    try:
        asyncio.run(scenario())
    finally:
        done.set()
        if restarter.is_alive():
            restarter.join(90)
