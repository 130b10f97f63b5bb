"""Pooled connections found dead by using them (no poll before each command).

A sync command goes out with one write and its reply is read at once; a
dead pooled connection shows up as that write or read failing.  The command
is then sent again on a new connection only when none of its bytes reached
the server (the socket refused them, or the server reset the connection
unread) or when it is read-only: an INCR must never be applied twice.
Real servers throughout: restarted between calls, ``CLIENT KILL`` of the
pooled connection, and a loopback relay that lets a command reach the
server but loses its reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import valkey

from django_valkey import mux as mux_module
from django_valkey.exceptions import ConnectionInterrupted
from tests.servers import LOOPBACK, ValkeyServer

pytestmark = pytest.mark.server

ERRORS = (ConnectionInterrupted, valkey.exceptions.ConnectionError)


def kill_normal_clients(server: ValkeyServer) -> None:
    with server.client() as admin:
        assert admin.client_kill_filter(_type="normal", skipme=True) >= 1


def counter(server: ValkeyServer, key: str) -> int:
    with server.client() as admin:
        return int(admin.get(key) or 0)


@pytest.mark.parametrize("stale", ["restart", "client-kill"])
def test_sync_commands_after_the_pooled_connection_died(
    make_cache: Callable[..., Any], own_server: ValkeyServer, speedups: str, stale: str
) -> None:
    cache = make_cache(location=f"{own_server.url}/0")
    cache.set("k", "v")  # a pooled connection now exists
    kill = own_server.restart if stale == "restart" else lambda: kill_normal_clients(own_server)

    kill()
    # Read-only: sent again on a new connection, transparently (a restart
    # lost the data).
    assert cache.get("k") == ("v" if stale == "client-kill" else None)

    cache.set("n", 10)
    kill()
    if stale == "restart":
        with own_server.client() as admin:
            admin.set(cache.make_key("n"), 10)
    # The server reset the dead connection without reading the INCR: it is
    # sent again, and applied once.
    assert cache.incr("n") == 11
    assert counter(own_server, cache.make_key("n")) == 11

    cache.set("w", 1)
    kill()
    assert cache.set("w", 2) is True  # a write refused unread is sent again
    assert cache.get("w") == 2


class LosingRelay:
    """A loopback relay to a server that, when armed, passes the next
    command on, waits for its reply, and then closes the client's side (an
    orderly end of stream) without passing the reply back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server((LOOPBACK, 0))
        self.port = self.listener.getsockname()[1]
        self.armed = threading.Event()
        self.dropped = threading.Event()
        self.stopping = False
        self.threads: list[threading.Thread] = []
        self._spawn(self._accept)

    def _spawn(self, fn: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=fn, args=args, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _accept(self) -> None:
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._spawn(self._serve, client)

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.target)
        with client, upstream:
            while not self.stopping:
                ready, _, _ = select.select([client, upstream], [], [], 0.2)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        upstream.sendall(data)
                        if self.armed.is_set():
                            self.armed.clear()
                            upstream.recv(65536)  # the reply, lost on purpose
                            self.dropped.set()  # before the client can see the close
                            client.shutdown(socket.SHUT_RDWR)
                            return
                    else:
                        client.sendall(data)

    def close(self) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        self.listener.close()
        for thread in self.threads:
            thread.join(5)


@pytest.fixture
def relay(valkey_server: ValkeyServer) -> Iterator[LosingRelay]:
    host, port = valkey_server.url.split("//", 1)[1].rsplit(":", 1)
    relay = LosingRelay((host, int(port)))
    try:
        yield relay
    finally:
        relay.close()


def test_sync_incr_whose_reply_is_lost_is_not_sent_again(
    make_cache: Callable[..., Any], valkey_server: ValkeyServer, relay: LosingRelay, speedups: str
) -> None:
    cache = make_cache(location=f"valkey://{LOOPBACK}:{relay.port}/0")
    cache.set("n", 1)
    assert cache.incr("n") == 2  # the server now knows incr's script
    relay.armed.set()
    with pytest.raises(ERRORS):
        cache.incr("n")
    assert relay.dropped.is_set()
    key = cache.make_key("n")
    assert counter(valkey_server, key) == 3  # applied once, never twice
    assert cache.incr("n") == 4  # the next call reconnects


@pytest.mark.fastpath  # the re-send on a fresh connection is the direct path's
def test_sync_get_whose_reply_is_lost_is_sent_again(
    make_cache: Callable[..., Any], relay: LosingRelay, speedups: str
) -> None:
    cache = make_cache(location=f"valkey://{LOOPBACK}:{relay.port}/0")
    cache.set("k", "v")
    relay.armed.set()
    assert cache.get("k") == "v"
    assert relay.dropped.is_set()


def test_sync_get_does_not_poll_before_the_command(
    make_cache: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = make_cache()
    cache.set("k", "v")

    def no_poll(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("select.poll() used before a command")

    monkeypatch.setattr(select, "poll", no_poll)
    assert [cache.get("k") for _ in range(10)] == ["v"] * 10


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "backend",
    ["django_valkey.async_cache.cache.AsyncValkeyCache", "django_valkey.cache.ValkeyCache"],
)
@pytest.mark.parametrize("pipelining", [pytest.param(True, marks=pytest.mark.fastpath), False])
async def test_async_commands_after_the_server_restarted(
    make_cache: Callable[..., Any], own_server: ValkeyServer, backend: str, pipelining: bool
) -> None:
    cache = make_cache(
        backend=backend, location=f"{own_server.url}/0", OPTIONS={"PIPELINING": pipelining}
    )
    try:
        await cache.aset("k", "v")
        own_server.restart()
        await asyncio.sleep(0)
        if pipelining and not mux_module.DISABLED_BY_ENV:
            # Read-only commands are sent again on a new shared connection.
            assert await cache.aget("k") is None
        else:
            # valkey-py's pooled path: a dead connection may fail one call.
            with contextlib.suppress(*ERRORS):
                await cache.aget("k")
        assert await cache.aset("k", "w") is True
        assert await cache.aget("k") == "w"
    finally:
        await cache.aclose()
