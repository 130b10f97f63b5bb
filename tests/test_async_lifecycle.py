"""Event loops, pools, forks and closing, for both async faces of the package.

Connections belong to the event loop that opened them, so pools are kept per
loop: several loops in sequence (``asyncio.run`` twice, ``async_to_sync``) or
at once (threads) must each get their own, a closed loop's pools must not
leak, a forked child must never touch its parent's sockets, and a sync and an
async cache on one URL must both work.  Closing: Django's own ``close_caches``
receiver stays connected; under ASGI and WSGI it closes the async caches
correctly and nothing warns (RuntimeWarning is an error in this suite).

Tests that count connections use a server of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import valkey
from asgiref.sync import async_to_sync
from django.core import signals
from django.core.cache import caches, close_caches
from django.db import close_old_connections
from django.http import HttpResponse
from django.test import AsyncClient, override_settings
from django.urls import path

from django_valkey.async_cache import pool as async_pool
from django_valkey.async_cache.pool import AsyncConnectionFactory
from django_valkey.base import close_async_caches
from tests.servers import ValkeyServer

pytestmark = pytest.mark.server

ASYNC = "django_valkey.async_cache.cache.AsyncValkeyCache"
SYNC = "django_valkey.cache.ValkeyCache"
BACKENDS = {"AsyncValkeyCache": ASYNC, "ValkeyCache": SYNC}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return BACKENDS[request.param]


@pytest.fixture
def server(tmp_path: Any) -> Iterator[ValkeyServer]:
    """A server of the test's own, to count its connections."""
    srv = ValkeyServer(workdir=tmp_path).start()
    try:
        yield srv
    finally:
        srv.stop()


def connections(srv: ValkeyServer) -> int:
    """Client connections on ``srv``, not counting the one asking."""
    with srv.client() as admin:
        return len(admin.client_list()) - 1


def no_connections_left(srv: ValkeyServer, within: float = 2.0) -> bool:
    """True once ``srv`` has no client connection (the server notices a
    closed socket at its next event-loop turn)."""
    deadline = time.monotonic() + within
    while connections(srv):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@contextlib.contextmanager
def no_unawaited_coroutines() -> Iterator[None]:
    """Fails if a coroutine is left un-awaited inside the block."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield
        gc.collect()
    unawaited = [str(w.message) for w in seen if "never awaited" in str(w.message)]
    assert unawaited == []


def async_client_of(cache: Any) -> Any:
    return cache.client if getattr(cache, "is_async", False) else cache.async_client


async def pool_of(cache: Any) -> Any:
    return (await async_client_of(cache).get_client()).connection_pool


# Loops --------------------------------------------------------------------------


def test_asyncio_run_twice_with_one_backend_object(
    backend: str, make_cache: Callable[..., Any], server: ValkeyServer, speedups: str
) -> None:
    cache = make_cache(backend=backend, location=f"{server.url}/0")
    pools = []

    async def work(n: int) -> None:
        await cache.aset("k", n)
        assert await cache.aget("k") == n
        assert await cache.aincr("k") == n + 1
        pools.append(await pool_of(cache))

    asyncio.run(work(1))
    asyncio.run(work(10))
    assert pools[0] is not pools[1]
    # Each loop's pools were closed as the loop shut down.
    assert not any(loop.is_closed() for loop in async_pool._loops)
    assert no_connections_left(server)


def test_loops_in_sequence_never_reuse_a_closed_loops_pool(
    backend: str, make_cache: Callable[..., Any]
) -> None:
    cache = make_cache(backend=backend)
    for n in range(5):
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(cache.aset("k", n))
            assert loop.run_until_complete(cache.aget("k")) == n
        finally:
            loop.close()  # no shutdown_asyncgens(): the pools are left behind
    assert asyncio.run(_await(cache.aget("k"))) == 4
    # The next loop's first pool released the closed loops' ones.
    assert not any(loop.is_closed() for loop in async_pool._loops)


def test_a_loop_closed_without_shutdown_releases_its_connections(
    backend: str, make_cache: Callable[..., Any], server: ValkeyServer
) -> None:
    cache = make_cache(backend=backend, location=f"{server.url}/0")

    async def work() -> None:
        await asyncio.gather(*(cache.aset(f"k{i}", i) for i in range(5)))

    loop = asyncio.new_event_loop()
    loop.run_until_complete(work())
    loop.close()
    assert connections(server) >= 1
    result = cache.close()  # what Django's close_caches does
    if result is not None:
        asyncio.run(_await(result))
    assert no_connections_left(server)
    assert not any(loop.is_closed() for loop in async_pool._loops)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def test_pools_are_per_loop_and_need_a_running_loop(valkey_server: ValkeyServer) -> None:
    factory = AsyncConnectionFactory({})
    params = factory.make_connection_params(f"{valkey_server.url}/0")
    with pytest.raises(RuntimeError):
        factory.get_or_create_connection_pool(params)

    async def pools() -> tuple[Any, Any]:
        return factory.get_or_create_connection_pool(params), (
            factory.get_or_create_connection_pool(dict(params))
        )

    first, same = asyncio.run(pools())
    second, _ = asyncio.run(pools())
    assert first is same
    assert first is not second


def test_loops_in_threads_share_one_backend_object(
    backend: str, make_cache: Callable[..., Any]
) -> None:
    cache = make_cache(backend=backend)
    errors: list[BaseException] = []

    async def work(t: int) -> None:
        for i in range(50):
            await cache.aset(f"t{t}:{i}", i)
            assert await cache.aget(f"t{t}:{i}") == i
            await cache.aincr("shared")

    def run(t: int) -> None:
        try:
            asyncio.run(work(t))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    asyncio.run(cache.aset("shared", 0))
    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert asyncio.run(cache.aget("shared")) == 200


def test_async_to_sync_from_sync_code(
    backend: str, make_cache: Callable[..., Any], server: ValkeyServer
) -> None:
    # An async view under WSGI: each call runs in a new loop of its own.
    cache = make_cache(backend=backend, location=f"{server.url}/0")
    for n in range(3):
        async_to_sync(cache.aset)("k", n)
        assert async_to_sync(cache.aget)("k") == n
    assert no_connections_left(server)


def test_sync_and_async_caches_on_one_url(
    make_cache: Callable[..., Any], valkey_server: ValkeyServer
) -> None:
    location = f"{valkey_server.url}/0"
    sync = make_cache(location=location)
    both = make_cache(location=location)
    acache = make_cache(backend=ASYNC, location=location)
    sync.set("s", 1)

    async def work() -> None:
        await acache.set("a", 2)
        assert await acache.get("s") == 1
        assert await both.aget("a") == 2
        both.set("b", 3)  # the same alias, sync, inside the loop
        assert await both.aget("b") == 3
        assert isinstance(await pool_of(acache), valkey.asyncio.ConnectionPool)
        assert await pool_of(both) is await pool_of(acache)

    asyncio.run(work())
    assert sync.get("a") == 2
    assert isinstance(sync.client.get_client().connection_pool, valkey.ConnectionPool)


# Fork -----------------------------------------------------------------------------


def _child(check: Callable[[], bool]) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's result is its exit status
        code = 1
        try:
            code = 0 if check() else 2
        except BaseException:
            code = 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork() with threads alive
def test_forked_child_never_uses_the_parents_sockets(
    backend: str, make_cache: Callable[..., Any]
) -> None:
    cache = make_cache(backend=backend)
    loop = asyncio.new_event_loop()

    async def client_id() -> int:
        raw = await async_client_of(cache).get_client()
        await cache.aset("who", os.getpid())
        # CLIENT ID on the same pooled connection the cache uses.
        return int(await raw.client_id())

    parent_id = loop.run_until_complete(client_id())

    def in_child() -> bool:
        # Same backend object, same (idle) loop object: new connections anyway.
        child_id = loop.run_until_complete(client_id())
        again = asyncio.run(client_id())
        return child_id != parent_id and again != parent_id

    try:
        assert _child(in_child) == 0
        # The parent's connection is untouched by the child.
        assert loop.run_until_complete(client_id()) == parent_id
        assert loop.run_until_complete(cache.aget("who")) == os.getpid()
    finally:
        loop.run_until_complete(cache.aclose())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


# Closing ----------------------------------------------------------------------------


async def async_view(request: Any) -> HttpResponse:
    await caches["default"].set("from-async-cache", 1)
    await caches["sync"].aset("from-sync-cache", 2)
    value = (
        await caches["sync"].aget("from-async-cache"),
        await caches["default"].get("from-sync-cache"),
    )
    return HttpResponse(repr(value))


urlpatterns = [path("async/", async_view)]


@pytest.fixture
def asgi_caches(server: ValkeyServer) -> Iterator[Callable[..., Any]]:
    """``CACHES``: "default" an AsyncValkeyCache, "sync" a ValkeyCache, on the
    test's own server; ``configure(**options)`` applies (to both)."""
    stack: list[Any] = []

    def configure(**options: Any) -> Any:
        location = f"{server.url}/0"
        settings_caches = {
            "default": {"BACKEND": ASYNC, "LOCATION": location, "OPTIONS": options},
            "sync": {"BACKEND": SYNC, "LOCATION": location, "OPTIONS": options},
        }
        override = override_settings(CACHES=settings_caches, ROOT_URLCONF=__name__)
        override.enable()
        stack.append(override)
        return caches

    # As Django's test client: the database's receiver stays out of these
    # requests (the test database belongs to other tests).
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield configure
    finally:
        signals.request_finished.connect(close_old_connections)
        for override in reversed(stack):
            override.disable()


def test_django_close_caches_stays_connected() -> None:
    live = signals.request_finished._live_receivers(None)
    # Django >= 5.0 answers (sync receivers, async receivers); 4.2 one list.
    sync_receivers, async_receivers = live if isinstance(live, tuple) else (live, [])
    assert close_caches in sync_receivers
    assert close_async_caches not in sync_receivers + async_receivers


@pytest.mark.asyncio
@pytest.mark.parametrize("close_connection", [False, True])
async def test_asgi_request_end_closes_without_warning(
    asgi_caches: Callable[..., Any], server: ValkeyServer, close_connection: bool
) -> None:
    asgi_caches(CLOSE_CONNECTION=close_connection)
    with no_unawaited_coroutines():
        response = await AsyncClient().get("/async/")
        assert response.content == b"(1, 2)"
        await asyncio.sleep(0.1)  # closes scheduled from Django's thread run
    if close_connection:
        assert no_connections_left(server)
    else:
        assert connections(server) >= 1  # pooled for the next request
    # The caches keep working after being closed.
    assert await caches["default"].get("from-sync-cache") == 2
    await caches["default"].aclose()
    await caches["sync"].aclose()


@pytest.mark.asyncio
async def test_request_finished_asend(asgi_caches: Callable[..., Any]) -> None:
    asgi_caches(CLOSE_CONNECTION=True)
    await caches["default"].set("k", 1)
    await caches["sync"].aset("k", 2)
    with no_unawaited_coroutines():
        await signals.request_finished.asend(sender=None)
        await asyncio.sleep(0.05)
    assert async_client_of(caches["default"])._clients == [None]
    assert await caches["default"].get("k") == 2


@pytest.mark.asyncio
async def test_close_async_caches_connected_by_hand(asgi_caches: Callable[..., Any]) -> None:
    asgi_caches(CLOSE_CONNECTION=True)
    await caches["default"].set("k", 1)
    await caches["sync"].aset("k", 2)
    signals.request_finished.connect(close_async_caches)
    try:
        with no_unawaited_coroutines():
            await signals.request_finished.asend(sender=None)
    finally:
        signals.request_finished.disconnect(close_async_caches)
    assert async_client_of(caches["default"])._clients == [None]
    assert async_client_of(caches["sync"])._clients == [None]


@pytest.mark.parametrize("close_connection", [False, True])
def test_wsgi_request_end_closes_without_warning(
    asgi_caches: Callable[..., Any], server: ValkeyServer, close_connection: bool
) -> None:
    asgi_caches(CLOSE_CONNECTION=close_connection)
    # The caches' async connections live in a loop running in another thread
    # (an async part of a WSGI application); Django ends the request here.
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    default, sync = caches["default"], caches["sync"]

    def in_loop(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(10)

    try:
        in_loop(default.set("k", 1))
        in_loop(sync.aset("k", 2))
        sync.set("s", 3)
        with no_unawaited_coroutines():
            signals.request_finished.send(sender=None)
            in_loop(asyncio.sleep(0.05))
        if close_connection:
            assert no_connections_left(server)
        assert in_loop(default.get("k")) == 2
    finally:
        in_loop(default.aclose())
        in_loop(sync.aclose())
        in_loop(loop.shutdown_asyncgens())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        sync.close()


def test_close_is_awaitable_and_keeps_its_name(make_cache: Callable[..., Any]) -> None:
    from django_valkey.async_cache.cache import AsyncValkeyCache

    assert AsyncValkeyCache.close.__qualname__ == "AsyncBackendCommands.close"
    assert AsyncValkeyCache.aclose is AsyncValkeyCache.close
    cache = make_cache(backend=ASYNC, OPTIONS={"CLOSE_CONNECTION": True})

    async def work() -> None:
        await cache.set("k", 1)
        assert await cache.close() is None
        assert cache.client._clients == [None]
        await cache.set("k", 2)
        # Called without awaiting, inside the loop: closes all the same.
        cache.close()
        await asyncio.sleep(0.01)
        assert cache.client._clients == [None]

    with no_unawaited_coroutines():
        asyncio.run(work())


def test_close_without_close_connection_keeps_the_pool(make_cache: Callable[..., Any]) -> None:
    cache = make_cache(backend=ASYNC)

    async def work() -> None:
        await cache.set("k", 1)
        raw = cache.client._clients[0]
        await cache.close()
        cache.close()
        assert cache.client._clients[0] is raw

    asyncio.run(work())


# Raw client access ----------------------------------------------------------------


def test_get_valkey_connection_refuses_sync_only_backends(
    valkey_server: ValkeyServer,
) -> None:
    from django_valkey.async_cache import get_valkey_connection

    location = f"{valkey_server.url}/0"
    settings_caches = {
        "locmem": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "sync_only": {
            "BACKEND": SYNC,
            "LOCATION": location,
            "OPTIONS": {"CLIENT_CLASS": "tests.test_async_lifecycle.SyncOnlyClient"},
        },
    }
    with override_settings(CACHES=settings_caches):
        with pytest.raises(NotImplementedError):
            asyncio.run(get_valkey_connection("locmem"))
        with pytest.raises(TypeError, match="get_valkey_connection"):
            asyncio.run(get_valkey_connection("sync_only"))
        # Its a* methods still work, in a thread as Django's BaseCache does.
        cache = caches["sync_only"]
        asyncio.run(cache.aset("k", 1))
        assert asyncio.run(cache.aget("k")) == 1
        cache.close()
        caches["sync_only"].client.disconnect()


def _sync_only_client() -> type:
    from valkey import Valkey

    from django_valkey.base_client import BaseClient, ClientCommands

    class SyncOnlyClient(BaseClient[Valkey], ClientCommands[Valkey]):
        """A sync client this package knows no asyncio twin of."""

        CONNECTION_FACTORY_PATH = "django_valkey.pool.ConnectionFactory"

    return SyncOnlyClient


SyncOnlyClient = _sync_only_client()
