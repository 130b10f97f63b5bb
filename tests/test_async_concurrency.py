"""Many coroutines at once, cancellation, and sync and async on one alias.

Hundreds of concurrent coroutines on one loop must each get their own
answer; a call cancelled while its reply is in flight must not leave a
half-read connection in the pool (the next command would read the stale
reply); a ``ValkeyCache`` serves sync threads and async coroutines at once.
Both async faces are tested: ``AsyncValkeyCache`` and ``ValkeyCache.a*``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.servers import ValkeyServer

pytestmark = [pytest.mark.server, pytest.mark.asyncio]

POOLS = {
    "pool": {},
    "blocking-pool": {
        "CONNECTION_POOL_CLASS": "valkey.asyncio.BlockingConnectionPool",
        "CONNECTION_POOL_KWARGS": {"max_connections": 10, "timeout": 20},
    },
}


def async_client_of(cache: Any) -> Any:
    return cache.client if getattr(cache, "is_async", False) else cache.async_client


async def pool_of(cache: Any) -> Any:
    return (await async_client_of(cache).get_client()).connection_pool


# Many coroutines ----------------------------------------------------------------------


@pytest.mark.parametrize("pool", sorted(POOLS))
async def test_hundreds_of_coroutines_on_one_loop(
    amake: Callable[..., Any], speedups: str, pool: str
) -> None:
    cache = amake(OPTIONS=POOLS[pool])
    await cache.aset("counter", 0)

    async def worker(i: int) -> tuple[Any, ...]:
        key = f"key:{i}"
        stored = await cache.aset(key, {"i": i, "text": "x" * (i % 50)})
        got = await cache.aget(key)
        await cache.aset(f"n:{i}", i)
        incremented = await cache.aincr(f"n:{i}", i)
        await cache.aincr("counter")
        many = await cache.aget_many([key, f"n:{i}", "missing"])
        return stored, got, incremented, many

    results = await asyncio.gather(*(worker(i) for i in range(500)))
    for i, (stored, got, incremented, many) in enumerate(results):
        value = {"i": i, "text": "x" * (i % 50)}
        assert stored is True
        assert got == value
        assert incremented == 2 * i
        assert many == {f"key:{i}": value, f"n:{i}": 2 * i}
    assert await cache.aget("counter") == 500
    assert await cache.aget_many(f"n:{i}" for i in range(500)) == {
        f"n:{i}": 2 * i for i in range(500)
    }


async def test_concurrent_bulk_operations(amake: Callable[..., Any]) -> None:
    cache = amake()

    async def batch(b: int) -> dict[str, Any]:
        data = {f"b{b}:{i}": (b, i) for i in range(50)}
        assert await cache.aset_many(data, timeout=60) == []
        got = await cache.aget_many(data)
        assert await cache.adelete_many(list(data)[:10]) == 10
        return got

    results = await asyncio.gather(*(batch(b) for b in range(40)))
    for b, got in enumerate(results):
        assert got == {f"b{b}:{i}": (b, i) for i in range(50)}
    assert len(await cache.akeys("b*")) == 40 * 40


# Cancellation ---------------------------------------------------------------------------


async def _cancel_in_flight(server: ValkeyServer, awaitable: Any) -> None:
    """Start ``awaitable`` against a paused server, cancel it while its reply
    is pending, then let the server run again (it answers into the void)."""
    server.pause()
    try:
        task = asyncio.ensure_future(awaitable)
        await asyncio.sleep(0.1)  # the request is written; the reply never comes
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        server.resume()
    await asyncio.sleep(0.05)  # the server now sends the cancelled reply


@pytest.mark.parametrize("call", ["aget", "aget_many", "aset_many", "aincr", "akeys"])
async def test_cancelled_call_leaves_the_pool_usable(
    amake: Callable[..., Any], own_server: ValkeyServer, speedups: str, call: str
) -> None:
    # One connection only: a stale reply would be read by the next command.
    cache = amake(
        location=f"{own_server.url}/0",
        OPTIONS={"CONNECTION_POOL_KWARGS": {"max_connections": 1}},
    )
    await cache.aset("a", "value of a")
    await cache.aset("b", "value of b")
    await cache.aset("n", 1)
    pool = await pool_of(cache)
    calls = {
        "aget": lambda: cache.aget("a"),
        "aget_many": lambda: cache.aget_many(["a", "b"]),
        "aset_many": lambda: cache.aset_many({"x": 1, "y": 2}, timeout=60),
        "aincr": lambda: cache.aincr("n"),
        "akeys": lambda: cache.akeys("*"),
    }
    await _cancel_in_flight(own_server, calls[call]())
    # Every answer is the right one, not the cancelled call's late reply.
    assert await cache.aget("b") == "value of b"
    assert await cache.aget("missing") is None
    assert await cache.aget_many(["a", "b"]) == {"a": "value of a", "b": "value of b"}
    assert await cache.ahas_key("a") is True
    assert await pool_of(cache) is pool
    assert len(pool._in_use_connections) == 0


async def test_cancelled_connect_does_not_pool_a_half_set_up_connection(
    amake: Callable[..., Any], own_server: ValkeyServer
) -> None:
    # The kernel accepts the TCP connection, but the handshake (HELLO,
    # SELECT 3) gets no answer: the call is cancelled in the middle of it.
    cache = amake(
        location=f"{own_server.url}/3",
        OPTIONS={"CONNECTION_POOL_KWARGS": {"max_connections": 1}},
    )
    await _cancel_in_flight(own_server, cache.aset("first", 1))
    await cache.aset("second", 2)
    with own_server.client(db=3) as db3, own_server.client(db=0) as db0:
        assert db3.exists(":1:second") == 1
        assert db0.exists(":1:second") == 0
    assert await cache.aget("second") == 2


async def test_timeout_of_the_caller_leaves_the_pool_usable(
    amake: Callable[..., Any], own_server: ValkeyServer
) -> None:
    cache = amake(
        location=f"{own_server.url}/0",
        OPTIONS={"CONNECTION_POOL_KWARGS": {"max_connections": 2}},
    )
    for k in "abcd":
        await cache.aset(k, k.upper())
    own_server.pause()
    try:
        results = await asyncio.gather(
            *(asyncio.wait_for(cache.aget(k), 0.1) for k in "ab"), return_exceptions=True
        )
    finally:
        own_server.resume()
    assert all(isinstance(r, asyncio.TimeoutError) for r in results)
    await asyncio.sleep(0.05)
    assert await asyncio.gather(*(cache.aget(k) for k in "dc")) == ["D", "C"]
    assert [await cache.aget(k) for k in "ba"] == ["B", "A"]


# Sync and async on one alias ---------------------------------------------------------


async def test_sync_threads_and_async_coroutines_share_one_alias(
    make_cache: Callable[..., Any],
) -> None:
    cache = make_cache()  # ValkeyCache
    cache.set("counter", 0)
    errors: list[BaseException] = []

    def sync_worker(t: int) -> None:
        try:
            for i in range(50):
                cache.set(f"sync:{t}:{i}", i)
                assert cache.get(f"sync:{t}:{i}") == i
                cache.incr("counter")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    async def async_worker(t: int) -> None:
        for i in range(50):
            await cache.aset(f"async:{t}:{i}", i)
            assert await cache.aget(f"async:{t}:{i}") == i
            await cache.aincr("counter")

    threads = [threading.Thread(target=sync_worker, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    await asyncio.gather(*(async_worker(t) for t in range(4)))
    for thread in threads:
        await asyncio.to_thread(thread.join)
    assert errors == []
    assert cache.get("counter") == 400
    assert await cache.aget("counter") == 400
    assert cache.get_many([f"async:0:{i}" for i in range(50)]) == {
        f"async:0:{i}": i for i in range(50)
    }
    await cache.aclose()
