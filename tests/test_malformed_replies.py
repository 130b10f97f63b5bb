"""A server that answers GET/SET with broken RESP: errors, never hangs or crashes.

A tiny fake server on 127.0.0.1 answers the connection handshake valkey-py
sends (``CLIENT SETINFO`` under protocol 2 on db 0) with ``+OK`` and every
other command with one configured bad reply, then keeps the connection, closes
it, resets it or goes silent.  Whatever the parser (valkey-py's default or
``django_valkey.parsers.Parser``) and the speedups implementation, a cache
call must raise ``InvalidResponse``, ``ConnectionError`` or ``TimeoutError``
within the socket timeout, leave no connection in use in the pool, and the next
call must open a new connection.
"""

from __future__ import annotations

import asyncio
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import valkey.exceptions
from django.utils.module_loading import import_string

from tests.impls import speedups_module

TIMEOUT = 0.5
# Generous: a loaded CI machine may be slow to schedule the fake server's thread.
MARGIN = 2.0
EXPECTED = (
    valkey.exceptions.InvalidResponse,
    valkey.exceptions.ConnectionError,
    valkey.exceptions.TimeoutError,
)
HANDSHAKE = {b"CLIENT", b"HELLO", b"SELECT", b"AUTH", b"PING"}

# name: (bytes sent in answer to a data command, then what the server does)
CASES: dict[str, tuple[bytes, str]] = {
    "garbage-type": (b"?garbage\r\n", "keep"),
    "truncated-bulk-close": (b"$5\r\nab", "close"),
    "truncated-array-close": (b"*2\r\n:1\r\n", "close"),
    "bad-integer": (b":12x\r\n", "keep"),
    "negative-bulk-length": (b"$-5\r\n", "keep"),
    "cut-then-reset": (b"$10\r\nabc", "reset"),
    "never-answers": (b"", "hang"),
}
ASYNC_CASES = ("garbage-type", "truncated-bulk-close", "cut-then-reset", "never-answers")


def _read_command(rfile: Any) -> list[bytes] | None:
    """One RESP array of bulk strings from the client, or None at EOF."""
    line = rfile.readline()
    if not line:
        return None
    if not line.startswith(b"*"):
        return [line.strip()]  # an inline command
    args = []
    for _ in range(int(line[1:])):
        header = rfile.readline()
        if not header.startswith(b"$"):
            return None
        data = rfile.read(int(header[1:]) + 2)
        args.append(data[:-2])
    return args


class FakeServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, reply: bytes, action: str) -> None:
        self.reply = reply
        self.action = action
        self.accepted = 0
        self.commands: list[list[bytes]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def location(self) -> str:
        return f"valkey://127.0.0.1:{self.server_address[1]}/0"


class _Handler(socketserver.StreamRequestHandler):
    server: FakeServer

    def handle(self) -> None:
        server = self.server
        with server.lock:
            server.accepted += 1
        while not server.stopping.is_set():
            try:
                command = _read_command(self.rfile)
            except (OSError, ValueError):
                return
            if command is None:
                return
            with server.lock:
                server.commands.append(command)
            if command and command[0].upper() in HANDSHAKE:
                self.wfile.write(b"+OK\r\n")
                continue
            if server.action == "hang":
                # Accept and read, never answer, until the client gives up.
                server.stopping.wait(TIMEOUT + MARGIN)
                return
            self.wfile.write(server.reply)
            self.wfile.flush()
            if server.action == "close":
                return
            if server.action == "reset":
                # SO_LINGER 0: close() sends RST instead of FIN.
                self.request.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.request.close()
                return


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> str:
    return request.param


def _start(name: str) -> FakeServer:
    reply, action = CASES[name]
    server = FakeServer(reply, action)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return server


def _stop(server: FakeServer) -> None:
    server.stopping.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_server(case: str) -> Iterator[FakeServer]:
    server = _start(case)
    try:
        yield server
    finally:
        _stop(server)


def _parser_classes(impl: str) -> dict[str, Any]:
    from django_valkey.parsers import AsyncParser, Parser

    reader = speedups_module("reader", impl).Reader
    # A subclass per implementation so the Reader twin is chosen explicitly.
    return {
        "Parser": type(f"Parser_{impl}", (Parser,), {"reader_class": reader}),
        "AsyncParser": type(f"AsyncParser_{impl}", (AsyncParser,), {"reader_class": reader}),
    }


PARSERS = ("default", "django_valkey.parsers.Parser")


@pytest.fixture(params=PARSERS, ids=["default-parser", "our-parser"])
def parser(request: pytest.FixtureRequest) -> str:
    return request.param


def _options(parser: str, **extra: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "SOCKET_TIMEOUT": TIMEOUT,
        "SOCKET_CONNECT_TIMEOUT": TIMEOUT,
        "CLOSE_CONNECTION": True,
        # A pool of this test's own (the pool key includes these kwargs).
        "CONNECTION_POOL_KWARGS": {"client_name": f"malformed-{time.monotonic_ns()}"},
    }
    if parser != "default":
        options["PARSER_CLASS"] = parser
    options.update(extra)
    return options


def _build(backend: str, location: str, options: dict[str, Any]) -> Any:
    return import_string(backend)(location, {"OPTIONS": options})


def _pool(cache: Any) -> Any:
    return cache.client.get_client().connection_pool


def _fails_in_time(call: Any) -> BaseException:
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        call()
    elapsed = time.monotonic() - started
    assert isinstance(info.value, EXPECTED), repr(info.value)
    assert elapsed < TIMEOUT + MARGIN, f"took {elapsed:.2f} s"
    return info.value


def test_sync_get_fails_cleanly(fake_server, parser, speedups):
    cache = _build("django_valkey.cache.ValkeyCache", fake_server.location, _options(parser))
    try:
        _fails_in_time(lambda: cache.get("k"))
        pool = _pool(cache)
        assert not pool._in_use_connections, "a broken connection is still in use"
        # Whatever is idle in the pool is disconnected (no socket left).
        assert all(conn._sock is None for conn in pool._available_connections)
        before = fake_server.accepted
        _fails_in_time(lambda: cache.set("k", 1))
        assert fake_server.accepted > before, "the next call reused the broken connection"
        assert not pool._in_use_connections
        # The data commands reached the server (the handshake did not hide them).
        names = [cmd[0].upper() for cmd in fake_server.commands if cmd]
        assert b"GET" in names and b"SET" in names
    finally:
        cache.close()


def test_our_parser_with_each_reader_twin(fake_server, speedups):
    """``Parser`` subclasses pinned to the compiled and the pure Reader."""
    parser_cls = _parser_classes(speedups)["Parser"]
    options = _options("default", PARSER_CLASS=parser_cls)
    cache = _build("django_valkey.cache.ValkeyCache", fake_server.location, options)
    try:
        _fails_in_time(lambda: cache.get("k"))
        assert not _pool(cache)._in_use_connections
    finally:
        cache.close()


ASYNC_BACKENDS = {
    "AsyncValkeyCache": "django_valkey.async_cache.cache.AsyncValkeyCache",
    "ValkeyCache": "django_valkey.cache.ValkeyCache",
}


@pytest.mark.asyncio
@pytest.mark.parametrize("name", ASYNC_CASES)
@pytest.mark.parametrize("backend", sorted(ASYNC_BACKENDS))
@pytest.mark.parametrize("async_parser", ["default", "ours"])
async def test_async_get_fails_cleanly(name, backend, async_parser, speedups):
    server = _start(name)
    extra: dict[str, Any] = {}
    if async_parser == "ours":
        extra["PARSER_CLASS"] = "django_valkey.parsers.AsyncParser"
    options = _options("default", **extra)
    cache = _build(ASYNC_BACKENDS[backend], server.location, options)
    try:
        # A silent server costs the whole timeout: one attempt is enough there.
        for attempt in range(1 if name == "never-answers" else 2):
            before = server.accepted
            started = time.monotonic()
            with pytest.raises(Exception) as info:
                await asyncio.wait_for(cache.aget("k"), TIMEOUT + MARGIN + 1)
            assert isinstance(info.value, EXPECTED), repr(info.value)
            assert time.monotonic() - started < TIMEOUT + MARGIN
            if attempt:
                assert server.accepted > before, "the broken connection was reused"
    finally:
        await cache.aclose()
        _stop(server)
