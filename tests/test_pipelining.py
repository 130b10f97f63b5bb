"""Automatic pipelining on the asyncio path (``django_valkey.mux``).

Concurrent commands of one loop share one connection per pool: every reply
must reach its own caller whatever happens around it (callers cancelled or
timed out at random points, the connection killed, the server killed or
frozen, a 100 MB value in the same stream as thousands of small ones), the
bound on commands in flight must hold, and commands that cannot share a
connection must not block the shared one.  Both async entry points are
tested: ``AsyncValkeyCache`` and ``ValkeyCache.a*``.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import valkey
from django.core.exceptions import ImproperlyConfigured

from django_valkey import mux as mux_module
from django_valkey.direct import execute_async
from django_valkey.exceptions import ConnectionInterrupted
from tests.asyncfixtures import BACKENDS
from tests.servers import ValkeyServer, wait_replicated

pytestmark = [
    # Pipelining lives on the direct path: nothing to test with it off.
    pytest.mark.fastpath,
    pytest.mark.server,
    pytest.mark.asyncio,
    pytest.mark.skipif(mux_module.DISABLED_BY_ENV, reason="DJANGO_VALKEY_NO_PIPELINING is set"),
]

ERRORS = (ConnectionInterrupted, valkey.exceptions.ConnectionError, valkey.exceptions.TimeoutError)


async def raw_of(cache: Any) -> Any:
    client = cache.client if getattr(cache, "is_async", False) else cache.async_client
    return await client.get_client(write=True)


async def mux_of(cache: Any) -> Any:
    return (await raw_of(cache)).connection_pool.__dict__.get("_dv_mux")


def named_cache(amake: Callable[..., Any], server: ValkeyServer, **options: Any) -> Any:
    """A cache whose connections carry a client name of their own."""
    name = f"pipelining-{uuid.uuid4().hex[:12]}"
    return name, amake(location=f"{server.url}/0?client_name={name}", OPTIONS=options)


def connections_named(server: ValkeyServer, name: str) -> int:
    """The server's clients with that name (the server's own count, not ours)."""
    with server.client() as admin:
        return sum(1 for client in admin.client_list() if client.get("name") == name)


async def until(predicate: Callable[[], bool], deadline: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not predicate():
        assert loop.time() < end, "state not reached before the deadline"
        await asyncio.sleep(0.005)


async def settle(mux: Any) -> None:
    """Wait until no command is in flight on ``mux``."""
    await until(lambda: mux.in_flight == 0 and all(not w.pending for w in mux.wires))


# Mixed load ----------------------------------------------------------------------------


async def test_ten_thousand_mixed_commands_every_result_checked(
    amake: Callable[..., Any], valkey_server: ValkeyServer, speedups: str
) -> None:
    name, cache = named_cache(amake, valkey_server)
    rng = random.Random(14)
    keys = 200
    for k in range(keys):
        await cache.aset(f"c:{k}", 0)

    async def one(i: int) -> tuple[str, int, Any]:
        kind = rng.choice("gsid")
        if kind == "s":
            return kind, i, await cache.aset(f"v:{i}", ("value", i))
        if kind == "i":
            return kind, i % keys, await cache.aincr(f"c:{i % keys}")
        if kind == "d":
            await cache.aset(f"d:{i}", i)
            return kind, i, (await cache.adelete(f"d:{i}"), await cache.aget(f"d:{i}"))
        await cache.aset(f"g:{i}", {"i": i, "pad": "x" * (i % 300)})
        return kind, i, await cache.aget(f"g:{i}")

    results = await asyncio.gather(*(one(i) for i in range(10_000)))
    increments = [0] * keys
    for kind, i, result in results:
        if kind == "s":
            assert result is True
        elif kind == "i":
            increments[i] += 1
            assert 1 <= result <= 10_000
        elif kind == "d":
            assert result == (True, None)
        else:
            assert result == {"i": i, "pad": "x" * (i % 300)}
    for k in range(keys):
        assert await cache.aget(f"c:{k}") == increments[k]
    # Every INCR's reply is distinct per counter: no reply went to another caller.
    for k in range(keys):
        seen = sorted(r for kind, i, r in results if kind == "i" and i == k)
        assert seen == list(range(1, increments[k] + 1))
    mux = await mux_of(cache)
    assert mux is not None and len(mux.wires) == 1
    assert connections_named(valkey_server, name) == 1  # 10,000 commands, one connection


async def test_cancellation_and_timeouts_at_random_points(
    amake: Callable[..., Any], speedups: str
) -> None:
    cache = amake()
    values = {f"k:{i}": f"v:{i}:" + "y" * (i % 2000) for i in range(300)}
    await cache.aset_many(values)
    rng = random.Random(7)
    wrong: list[tuple[str, Any]] = []
    done = 0

    async def reader(n: int) -> None:
        nonlocal done
        key = f"k:{n % 300}"
        timeout = rng.choice([None, 0, 0.00001, 0.0001, 0.001])
        try:
            got = await asyncio.wait_for(cache.aget(key), timeout)
        except asyncio.TimeoutError:
            return
        done += 1
        if got != values[key]:
            wrong.append((key, got))

    tasks = [asyncio.ensure_future(reader(n)) for n in range(3000)]
    for _ in range(300):  # cancel from outside, at random points
        await asyncio.sleep(0)
        rng.choice(tasks).cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert wrong == []
    assert done > 0
    mux = await mux_of(cache)
    await settle(mux)
    # The stream is still in step: every key answers with its own value.
    got = await asyncio.gather(*(cache.aget(key) for key in values))
    assert dict(zip(values, got, strict=True)) == values


async def test_a_server_error_reply_goes_to_its_caller_only(amake: Callable[..., Any]) -> None:
    cache = amake()
    raw = await raw_of(cache)
    await raw.rpush("list", b"a")

    async def wrong_type() -> Any:
        return await execute_async(raw, ("INCR", "list"))

    results = await asyncio.gather(
        *(wrong_type() if i % 3 == 0 else cache.aset(f"e:{i}", i) for i in range(300)),
        return_exceptions=True,
    )
    for i, result in enumerate(results):
        if i % 3 == 0:
            assert isinstance(result, valkey.exceptions.ResponseError)
        else:
            assert result is True
    assert await cache.aget_many([f"e:{i}" for i in range(1, 300, 3)]) == {
        f"e:{i}": i for i in range(1, 300, 3)
    }


# Connections lost ----------------------------------------------------------------------


async def test_connection_killed_with_callers_in_flight(
    amake: Callable[..., Any], valkey_server: ValkeyServer, speedups: str
) -> None:
    cache = amake()
    big = "z" * 200_000
    await cache.aset("big", big)
    tasks = [asyncio.ensure_future(cache.aget("big")) for _ in range(200)]
    mux = None
    while mux is None or not mux.wires or not mux.wires[0].pending:
        await asyncio.sleep(0)
        mux = await mux_of(cache)
    with valkey_server.client() as admin:
        admin.client_kill_filter(_type="normal", skipme=True)
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, ERRORS) for e in errors), errors
    assert all(r == big for r in results if not isinstance(r, BaseException))
    await settle(mux)
    # The next call reconnects.
    assert await cache.aget("big") == big


async def test_connection_lost_with_ignore_exceptions_gives_fallbacks(
    amake: Callable[..., Any], valkey_server: ValkeyServer
) -> None:
    cache = amake(OPTIONS={"IGNORE_EXCEPTIONS": True})
    await cache.aset("big", "q" * 200_000)
    tasks = [asyncio.ensure_future(cache.aget("big", "fallback")) for _ in range(100)]
    mux = None
    while mux is None or not mux.wires or not mux.wires[0].pending:
        await asyncio.sleep(0)
        mux = await mux_of(cache)
    with valkey_server.client() as admin:
        admin.client_kill_filter(_type="normal", skipme=True)
    results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert set(results) <= {"fallback", "q" * 200_000}
    assert await cache.aget("big") == "q" * 200_000


async def test_server_killed_with_callers_in_flight(
    amake: Callable[..., Any], own_server: ValkeyServer
) -> None:
    cache = _cache_on(amake, own_server, {"SOCKET_TIMEOUT": 5, "SOCKET_CONNECT_TIMEOUT": 1})
    await cache.aset("k", "v" * 100_000)
    tasks = [asyncio.ensure_future(cache.aget("k")) for _ in range(300)]
    await asyncio.sleep(0)
    own_server.kill()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    assert all(r == "v" * 100_000 or isinstance(r, ERRORS) for r in results), results
    assert any(isinstance(r, ERRORS) for r in results)
    with pytest.raises(ERRORS):
        await cache.aget("k")  # nobody listens: refused, no hang
    own_server.start()
    assert await cache.aset("k", 1) is True  # the next call reconnects
    assert await cache.aget("k") == 1


async def test_server_paused_with_callers_in_flight(
    amake: Callable[..., Any], own_server: ValkeyServer
) -> None:
    cache = _cache_on(amake, own_server, {"SOCKET_TIMEOUT": 0.5, "SOCKET_CONNECT_TIMEOUT": 0.5})
    await cache.aset("k", "v")
    mux = await mux_of(cache)
    own_server.pause()
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(cache.aget("k") for _ in range(200)), return_exceptions=True), 30
        )
    finally:
        own_server.resume()
    assert all(isinstance(r, ERRORS) for r in results), results
    await settle(mux)
    assert await cache.aget("k") == "v"
    assert await asyncio.gather(*(cache.aget("k") for _ in range(100))) == ["v"] * 100


def _cache_on(amake: Callable[..., Any], server: ValkeyServer, options: dict[str, Any]) -> Any:
    return amake(location=f"{server.url}/0", OPTIONS=options)


# Big values, backpressure, connection count ---------------------------------------------


async def test_a_100mb_value_beside_thousands_of_small_ones(
    amake: Callable[..., Any], speedups: str
) -> None:
    cache = amake()
    big = b"\x07" * (100 * 1024 * 1024)
    for i in range(2000):
        await cache.aset(f"s:{i}", i)

    async def small(i: int) -> None:
        assert await cache.aget(f"s:{i}") == i
        assert await cache.aset(f"t:{i}", i) is True

    async def big_round_trip() -> None:
        assert await cache.aset("big", big) is True
        got = await cache.aget("big")
        assert got == big

    await asyncio.gather(big_round_trip(), *(small(i) for i in range(2000)))
    assert await cache.aget_many([f"t:{i}" for i in range(0, 2000, 97)]) == {
        f"t:{i}": i for i in range(0, 2000, 97)
    }


async def test_backpressure_bounds_commands_in_flight(amake: Callable[..., Any]) -> None:
    cache = amake(OPTIONS={"PIPELINING_MAX_IN_FLIGHT": 8})
    await cache.aset("k", "v")
    mux = await mux_of(cache)
    assert mux.max_in_flight == 8
    peak = 0
    original = mux_module._Wire.submit

    def spy(self: Any, packed: list[bytes]) -> Any:
        nonlocal peak
        peak = max(peak, self.mux.in_flight + 1)
        return original(self, packed)

    mux_module._Wire.submit = spy  # type: ignore[method-assign]
    try:
        results = await asyncio.gather(*(cache.aget("k") for _ in range(1000)))
    finally:
        mux_module._Wire.submit = original  # type: ignore[method-assign]
    assert results == ["v"] * 1000
    assert 1 < peak <= 8
    assert not mux.slot_waiters or all(w.done() for w in mux.slot_waiters)


async def test_callers_cancelled_while_waiting_for_room(amake: Callable[..., Any]) -> None:
    cache = amake(OPTIONS={"PIPELINING_MAX_IN_FLIGHT": 2})
    await cache.aset("k", "v")
    tasks = [asyncio.ensure_future(cache.aget("k")) for _ in range(200)]
    await asyncio.sleep(0)
    for task in tasks[::2]:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(r == "v" or isinstance(r, asyncio.CancelledError) for r in results)
    assert results[1::2] == ["v"] * 100
    assert await cache.aget("k") == "v"


async def test_connections_per_server_option(
    amake: Callable[..., Any], valkey_server: ValkeyServer
) -> None:
    name, cache = named_cache(amake, valkey_server, PIPELINING_CONNECTIONS=3)
    await cache.aset("k", "v" * 10_000)
    mux = await mux_of(cache)
    for _ in range(5):
        assert await asyncio.gather(*(cache.aget("k") for _ in range(500))) == ["v" * 10_000] * 500
    assert 1 <= len(mux.wires) <= 3
    assert 1 <= connections_named(valkey_server, name) <= 3


# What does not share ------------------------------------------------------------------


async def test_blocking_commands_take_their_own_connection(amake: Callable[..., Any]) -> None:
    cache = amake()
    raw = await raw_of(cache)
    blocked = asyncio.ensure_future(execute_async(raw, ("BLPOP", "queue", "10")))
    await asyncio.sleep(0)
    # The shared connection keeps answering while BLPOP blocks its own.
    assert await asyncio.gather(*(cache.aset(f"b:{i}", i) for i in range(50))) == [True] * 50
    assert await cache.aget("b:7") == 7
    assert not blocked.done()
    await execute_async(raw, ("RPUSH", "queue", "item"))
    assert list(await asyncio.wait_for(blocked, 10)) == [b"queue", b"item"]


async def test_a_blocking_lock_does_not_hold_up_the_shared_connection(
    amake: Callable[..., Any],
) -> None:
    cache = amake()
    lock = await cache.aget_lock("L", timeout=5)
    assert await lock.acquire(blocking=False)
    other = await cache.aget_lock("L", timeout=5, blocking_timeout=0.3, sleep=0.01)
    waiting = asyncio.ensure_future(other.acquire())
    assert await asyncio.gather(*(cache.aset(f"l:{i}", i) for i in range(50))) == [True] * 50
    assert await waiting is False
    await lock.release()


async def test_pipelines_and_transactions_still_work(amake: Callable[..., Any]) -> None:
    cache = amake()
    data = {f"m:{i}": i for i in range(100)}
    results = await asyncio.gather(
        cache.aset_many(data), *(cache.aget(f"m:{i}") for i in range(100))
    )
    assert results[0] == []
    assert await cache.aget_many(list(data)) == data
    assert await cache.adelete_many(list(data)) == 100


# Options -------------------------------------------------------------------------------


async def test_pipelining_can_be_turned_off(amake: Callable[..., Any]) -> None:
    cache = amake(OPTIONS={"PIPELINING": False})
    await cache.aset("k", "v")
    assert await mux_of(cache) is None
    assert await asyncio.gather(*(cache.aget("k") for _ in range(50))) == ["v"] * 50


@pytest.mark.parametrize(
    "options",
    [
        {"PIPELINING": "yes"},
        {"PIPELINING_CONNECTIONS": 0},
        {"PIPELINING_CONNECTIONS": 1.5},
        {"PIPELINING_MAX_IN_FLIGHT": True},
    ],
)
async def test_bad_pipelining_options(amake: Callable[..., Any], options: dict[str, Any]) -> None:
    cache = amake(OPTIONS=options)
    with pytest.raises(ImproperlyConfigured):
        await cache.aget("k")


async def test_custom_pools_keep_pooled_connections(
    amake: Callable[..., Any],
) -> None:
    cache = amake(OPTIONS={"CONNECTION_POOL_CLASS": "valkey.asyncio.BlockingConnectionPool"})
    await cache.aset("k", "v")
    assert await mux_of(cache) is None
    assert await cache.aget("k") == "v"


async def test_a_demoted_primary_fails_the_shared_connection(
    amake: Callable[..., Any], own_server: ValkeyServer, tmp_path: Any
) -> None:
    # What a sentinel-managed pool sees after a failover it has not heard
    # of yet: its primary answers READONLY.  The shared connection is given
    # up (the next one asks the sentinels again), the caller gets a
    # connection error, and no later reply is taken for another's.
    cache = _cache_on(amake, own_server, {})
    await cache.aset("k", "v")
    raw = await raw_of(cache)
    raw.connection_pool.is_master = True  # as a SentinelConnectionPool for a primary
    mux = await mux_of(cache)
    other = ValkeyServer(workdir=tmp_path / "other").start()
    try:
        with own_server.client() as admin:
            admin.replicaof("127.0.0.1", other.port)
        results = await asyncio.gather(
            *(cache.aset(f"w:{i}", i) for i in range(20)), return_exceptions=True
        )
        assert results and all(isinstance(r, ERRORS) for r in results), results
        await settle(mux)
        with own_server.client() as admin:
            admin.replicaof("no", "one")
        assert await cache.aset("k", "again") is True
        assert await cache.aget("k") == "again"
    finally:
        other.stop()


@pytest.mark.slow
async def test_sentinel_failover_with_callers_in_flight(make_cache: Callable[..., Any]) -> None:
    from tests.sentinels import SERVICE, sentinel_topology, wait_until

    with sentinel_topology() as topology:
        cache = make_cache(
            BACKENDS["AsyncValkeyCache"],
            location=f"valkey://{SERVICE}/0",
            OPTIONS={
                "CLIENT_CLASS": "django_valkey.async_cache.client.AsyncSentinelClient",
                "SENTINELS": topology.sentinels,
                "SOCKET_TIMEOUT": 0.5,
                "SOCKET_CONNECT_TIMEOUT": 0.5,
            },
        )
        try:
            await cache.aset("before", 1)
            assert await mux_of(cache) is not None
            wait_replicated(topology.primary)
            old = topology.primary.port
            tasks = [asyncio.ensure_future(cache.aset(f"f:{i}", i)) for i in range(200)]
            await asyncio.sleep(0)
            topology.primary.kill()
            results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
            assert all(r is True or isinstance(r, ERRORS) for r in results), results
            sentinel = topology.sentinel.client()
            wait_until(
                lambda: int(sentinel.sentinel_master(SERVICE)["port"]) != old,
                timeout=20,
                what="sentinel to promote the replica",
            )
            loop = asyncio.get_running_loop()
            end = loop.time() + 20
            while True:
                try:
                    if await cache.aset("after", 2) and await cache.aget("after") == 2:
                        break
                except ERRORS:
                    pass
                assert loop.time() < end, "the cache never reached the new primary"
                await asyncio.sleep(0.05)
            assert await cache.aget("before") == 1
        finally:
            await cache.aclose()
