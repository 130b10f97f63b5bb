"""The near cache on one server: hits, coherence with outside writers, races,
read-your-writes, faults, limits; sync, ``a*`` and ``AsyncValkeyCache``;
both speedups implementations."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_valkey import near as near_module
from tests.nearhelp import Barrier, cached, near_of, wait_for, wait_tracking
from tests.servers import ValkeyServer

NEAR = {"MAX_ENTRIES": 1000, "MAX_BYTES": 2**20, "MAX_VALUE_BYTES": 2**16, "HEARTBEAT": 0.5}


@pytest.fixture
def server(tmp_path: Any) -> Iterator[ValkeyServer]:
    """A server of this test's own (restarted, flushed and killed at will)."""
    srv = ValkeyServer(name="near", workdir=tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        near_module.shutdown_all()
        srv.stop()


@pytest.fixture
def raw(server: ValkeyServer) -> Iterator[Any]:
    """The outside writer: a plain valkey-py client."""
    client = server.client()
    try:
        yield client
    finally:
        client.close()


def make(make_cache: Any, server: ValkeyServer, backend: str | None = None, **near: Any) -> Any:
    params: dict[str, Any] = {"OPTIONS": {"NEAR_CACHE": {**NEAR, **near}}, "KEY_PREFIX": "nc"}
    if backend:
        return make_cache(backend, location=f"{server.url}/0", **params)
    return make_cache(location=f"{server.url}/0", **params)


@pytest.fixture
def ncache(speedups: str, make_cache: Any, server: ValkeyServer) -> Any:
    cache = make(make_cache, server)
    wait_tracking(cache)
    return cache


# Basics ----------------------------------------------------------------------


def test_hits_are_served_locally_and_are_fresh_objects(ncache: Any, server: ValkeyServer) -> None:
    ncache.set("menu", {"items": [1, 2]})
    made = ncache.make_key("menu")
    wait_for(lambda: ncache.get("menu") and cached(ncache, made), "the fill")
    first = ncache.get("menu")
    first["items"].append(3)  # callers mutate what they get
    assert ncache.get("menu") == {"items": [1, 2]}
    assert ncache.get("menu") is not ncache.get("menu")
    info = ncache.near_cache_info()
    assert info["hits"] >= 2 and info["entries"] >= 1 and info["tracking"] is True
    for key in ("entries", "bytes", "hits", "misses", "invalidations"):
        assert isinstance(info[key], int)
    # A hit reaches no server: with the server paused it still answers.
    server.pause()
    try:
        assert ncache.get("menu") == {"items": [1, 2]}
    finally:
        server.resume()


def test_outside_writes_reach_the_near_cache(ncache: Any, raw: Any) -> None:
    ncache.set("k", "v1")
    assert ncache.get("k") == "v1"
    made = ncache.make_key("k")
    # Our own SET's invalidation may still cancel the first fills: wait.
    wait_for(lambda: ncache.get("k") == "v1" and cached(ncache, made), "the fill")
    raw.set(made, ncache.client.encode("v2"))
    wait_for(lambda: ncache.get("k") == "v2", "the outside SET to be seen")
    raw.delete(made)
    wait_for(lambda: ncache.get("k") is None, "the outside DEL to be seen")
    raw.set(made, ncache.client.encode("lua0"))
    wait_for(lambda: ncache.get("k") == "lua0", "the SET")
    raw.eval("redis.call('SET', KEYS[1], ARGV[1])", 1, made, ncache.client.encode("lua"))
    wait_for(lambda: ncache.get("k") == "lua", "the Lua SET to be seen")
    assert ncache.near_cache_info()["invalidations"] >= 3


def test_misses_are_cached_and_invalidated(ncache: Any, raw: Any) -> None:
    assert ncache.get("absent", "dflt") == "dflt"
    assert not ncache.has_key("absent")
    made = ncache.make_key("absent")
    wait_for(lambda: not ncache.has_key("absent") and cached(ncache, made), "the fill")
    raw.set(made, ncache.client.encode(5))
    wait_for(lambda: ncache.get("absent") == 5, "the new key")
    assert ncache.has_key("absent")


def test_flush_by_anyone_empties_the_near_cache(ncache: Any, raw: Any) -> None:
    ncache.set_many({"a": 1, "b": 2})
    wait_for(
        lambda: (
            ncache.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
            and near_of(ncache).store.info()["entries"] >= 3
        ),
        "the fills",
    )
    raw.flushall()
    wait_for(lambda: ncache.get_many(["a", "b"]) == {}, "FLUSHALL to be seen")
    ncache.set("a", 1)
    made = ncache.make_key("a")
    wait_for(lambda: ncache.get("a") == 1 and cached(ncache, made), "the fill")
    raw.execute_command("SELECT", 3)
    raw.flushdb()  # another database: reported too (tracking ignores db numbers)
    wait_for(lambda: not cached(ncache, ncache.make_key("a")), "the other db's FLUSHDB")


def test_expiry_is_honoured_locally(ncache: Any, raw: Any) -> None:
    made = ncache.make_key("short")
    raw.set(made, ncache.client.encode("x"), px=300)
    assert ncache.get("short") == "x"
    # The server TTL read with the value caps the local copy's life.
    wait_for(lambda: ncache.get("short") is None, "the key to expire")
    assert raw.get(made) is None


def test_outside_expire_and_incr(ncache: Any, raw: Any) -> None:
    ncache.set("n", 1)
    assert ncache.get("n") == 1
    made = ncache.make_key("n")
    raw.incr(made)
    wait_for(lambda: ncache.get("n") == 2, "the outside INCR")
    raw.pexpire(made, 100)
    wait_for(lambda: ncache.get("n") is None, "the expiry")


def test_values_over_max_value_bytes_are_not_kept(
    speedups: str, make_cache: Any, server: ValkeyServer
) -> None:
    cache = make(make_cache, server, MAX_VALUE_BYTES=100)
    wait_tracking(cache)
    cache.set("big", "x" * 1000)
    cache.set("small", "x")
    assert cache.get("big") == "x" * 1000 and cache.get("small") == "x"
    assert not cached(cache, cache.make_key("big"))
    made = cache.make_key("small")
    wait_for(lambda: cache.get("small") == "x" and cached(cache, made), "the fill")


# Read your writes ----------------------------------------------------------------


def test_every_write_command_drops_the_local_copy(ncache: Any) -> None:
    def filled(key: str, value: Any) -> None:
        ncache.set(key, value)
        made = ncache.make_key(key)
        wait_for(lambda: ncache.get(key) == value and cached(ncache, made), "the fill")

    filled("a", 1)
    ncache.set("a", 2)
    assert ncache.get("a") == 2
    assert ncache.add("a", 3) is False and ncache.get("a") == 2
    ncache.delete("a")
    assert ncache.get("a") is None
    assert ncache.add("a", 3) is True and ncache.get("a") == 3
    assert ncache.incr("a") == 4 and ncache.get("a") == 4
    assert ncache.decr("a", 2) == 2 and ncache.get("a") == 2
    ncache.set_many({"a": 10, "b": 11})
    assert ncache.get_many(["a", "b"]) == {"a": 10, "b": 11}
    ncache.delete_many(k for k in ["a", "b"])
    assert ncache.get_many(["a", "b"]) == {}
    filled("t", "v")
    assert ncache.touch("t", 0) is True
    assert ncache.get("t") is None
    filled("e", "v")
    ncache.expire("e", 0)
    assert ncache.get("e") is None
    filled("e", "v")
    ncache.pexpire("e", 0)
    assert ncache.get("e") is None
    filled("v", "one")
    ncache.incr_version("v")
    assert ncache.get("v") is None and ncache.get("v", version=2) == "one"
    filled("p1", 1)
    assert ncache.delete_pattern("p*") == 1
    assert ncache.get("p1") is None
    filled("c", 1)
    ncache.clear()
    assert ncache.get("c") is None
    assert ncache.get_or_set("g", 5) == 5
    assert ncache.get("g") == 5
    ncache.mset({"m": 1})
    assert ncache.get("m") == 1
    ncache.sadd("s", 1)
    filled("x", 1)
    ncache.persist("x")
    assert ncache.get("x") == 1


def test_a_read_racing_a_local_write_is_not_kept(ncache: Any) -> None:
    # A read of the old value that completes after the write must not be kept.
    ncache.set("r", "old")
    near = near_of(ncache)
    made = ncache.make_key("r")
    store, marks, started = ncache.client._begin([made])
    replies = ncache.client._near_fetch([made], False)  # the old value, read "before" the write
    ncache.set("r", "new")  # drops the copy and the mark
    ncache.client._keep(store, [made], marks, replies, started)
    assert not cached(ncache, made)
    assert ncache.get("r") == "new"
    assert near.store.info()["pending"] == 0


def test_a_read_racing_an_outside_write_is_not_kept(ncache: Any, raw: Any) -> None:
    made = ncache.make_key("race")
    raw.set(made, ncache.client.encode("old"))
    barrier = Barrier(ncache, raw)
    barrier.arm()
    store, marks, started = ncache.client._begin([made])
    replies = ncache.client._near_fetch([made], False)
    raw.set(made, ncache.client.encode("new"))  # its invalidation cancels the mark
    barrier.cross()
    ncache.client._keep(store, [made], marks, replies, started)
    assert not cached(ncache, made)
    assert ncache.get("race") == "new"


def test_threads_racing_readers_and_a_writer(ncache: Any) -> None:
    ncache.set("hot", 0)
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                ncache.get("hot")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(1, 200):
            ncache.set("hot", i)
            assert ncache.get("hot") == i  # read your writes under contention
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors


# Faults ------------------------------------------------------------------------------


def test_killed_channel_empties_and_recovers(ncache: Any, raw: Any) -> None:
    near = near_of(ncache)
    ncache.set("k", "v1")
    assert ncache.get("k") == "v1"
    resets = near.store.info()["resets"]
    old_id = near.channels[0].client_id
    raw.client_kill_filter(_id=old_id)
    # The loss is noticed: the store is emptied (and serves nothing while down).
    wait_for(lambda: near.store.info()["resets"] > resets, "the loss to be noticed")
    made = ncache.make_key("k")
    raw.set(made, ncache.client.encode("v2"))  # possibly while no channel listens
    assert ncache.get("k") == "v2"
    wait_tracking(ncache)
    assert near.channels[0].client_id != old_id
    assert ncache.get("k") == "v2"
    # Invalidations flow again on the new channel.
    raw.set(made, ncache.client.encode("v3"))
    wait_for(lambda: ncache.get("k") == "v3", "invalidations after the reconnect")


def test_killed_by_type_pubsub(ncache: Any, raw: Any) -> None:
    ncache.set("k", "v1")
    assert ncache.get("k") == "v1"
    resets = near_of(ncache).store.info()["resets"]
    raw.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    wait_for(lambda: near_of(ncache).store.info()["resets"] > resets, "the loss")
    raw.set(ncache.make_key("k"), ncache.client.encode("v2"))
    assert ncache.get("k") == "v2"


def test_server_restarted_empty(ncache: Any, server: ValkeyServer) -> None:
    ncache.set("k", "v1")
    assert ncache.get("k") == "v1"
    near = near_of(ncache)
    server.restart()
    wait_for(lambda: not cached(ncache, ncache.make_key("k")), "the store to empty")
    assert ncache.get("k") is None  # never the value from before the restart
    wait_tracking(ncache)
    ncache.set("k", "v3")
    assert ncache.get("k") == "v3"
    assert near.store.active


def test_nothing_is_served_while_the_channel_is_down(ncache: Any, raw: Any) -> None:
    near = near_of(ncache)
    channel = near.channels[0]

    def refused() -> Any:
        raise ConnectionError("refused by the test")

    channel._connect = refused  # type: ignore[method-assign]  # reconnects fail from now on
    channel.stop()
    wait_for(lambda: not near.store.active, "the channel to be down")
    ncache.set("k", 1)
    assert ncache.get("k") == 1 and ncache.get("k") == 1
    assert near.store.info()["entries"] == 0
    raw.set(ncache.make_key("k"), ncache.client.encode(2))
    assert ncache.get("k") == 2 and ncache.get("k") == 2
    assert near.store.info()["entries"] == 0
    del channel._connect  # the real method again
    wait_tracking(ncache)  # reconnected
    assert ncache.get("k") == 2


def test_half_open_channel_is_detected(ncache: Any, server: ValkeyServer) -> None:
    near = near_of(ncache)
    ncache.set("k", 1)
    assert ncache.get("k") == 1
    resets = near.store.info()["resets"]
    server.pause()  # no reply to the heartbeat
    try:
        wait_for(lambda: near.store.info()["resets"] > resets, "the heartbeat to fail")
        assert not near.store.active
    finally:
        server.resume()
    wait_tracking(ncache)


# Async ----------------------------------------------------------------------------


def test_sync_backend_a_methods(ncache: Any, raw: Any) -> None:
    async def scenario() -> None:
        await ncache.aset("a", {"x": 1})
        end = time.monotonic() + 15
        while not (await ncache.aget("a") == {"x": 1} and cached(ncache, ncache.make_key("a"))):
            assert time.monotonic() < end, "the fill"
            await asyncio.sleep(0.002)
        got = await ncache.aget("a")
        got["x"] = 2
        assert await ncache.aget("a") == {"x": 1}
        assert await ncache.ahas_key("a")
        assert await ncache.aget_many(["a", "zz"]) == {"a": {"x": 1}}
        raw.set(ncache.make_key("a"), ncache.client.encode("out"))
        end = time.monotonic() + 15
        while await ncache.aget("a") != "out":
            assert time.monotonic() < end, "the outside write"
            await asyncio.sleep(0.002)
        await ncache.adelete("a")
        assert await ncache.aget("a") is None
        assert await ncache.aget_or_set("g", 3) == 3

    asyncio.run(scenario())
    assert ncache.near_cache_info()["hits"] >= 2


def test_async_backend(speedups: str, make_cache: Any, server: ValkeyServer, raw: Any) -> None:
    cache = make(make_cache, server, "django_valkey.async_cache.cache.AsyncValkeyCache")

    async def scenario() -> None:
        near = cache.client._near
        near.ensure()
        end = time.monotonic() + 15
        while not near.store.active:
            assert time.monotonic() < end, "tracking"
            await asyncio.sleep(0.002)
        await cache.set("a", [1])
        while not (await cache.get("a") == [1] and cached(cache, cache.make_key("a"))):
            assert time.monotonic() < end, "the fill"
            await asyncio.sleep(0.002)
        first = await cache.get("a")
        first.append(2)
        assert await cache.get("a") == [1]
        assert await cache.has_key("a")
        assert await cache.get_many(["a"]) == {"a": [1]}
        raw.set(cache.make_key("a"), cache.client.encode("out"))
        while await cache.get("a") != "out":
            assert time.monotonic() < end, "the outside write"
            await asyncio.sleep(0.002)
        await cache.incr_version("a")
        assert await cache.get("a", version=2) == "out"
        assert await cache.get("a") is None

    asyncio.run(scenario())
    info = cache.near_cache_info()
    assert info["hits"] >= 2 and info["tracking"]


# Configuration -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [[], {"MAX_ENTRIES": 0}, {"MAX_BYTES": "1"}, {"MAX_VALUE_BYTES": True}, {"SIZE": 1}],
)
def test_bad_options(make_cache: Any, server: ValkeyServer, value: Any) -> None:
    cache = make_cache(location=f"{server.url}/0", OPTIONS={"NEAR_CACHE": value})
    with pytest.raises(ImproperlyConfigured, match="NEAR_CACHE"):
        cache.get("k")


def test_without_near_cache_info_is_none(make_cache: Any, server: ValkeyServer) -> None:
    assert make_cache(location=f"{server.url}/0").near_cache_info() is None


def test_caches_of_one_process_share_the_near_cache(make_cache: Any, server: ValkeyServer) -> None:
    one, two = make(make_cache, server), make(make_cache, server)
    assert near_of(one) is near_of(two)
    wait_tracking(one)
    one.set("s", 1)
    assert two.get("s") == 1
    two.set("s", 2)
    assert one.get("s") == 2


def test_a_forked_child_serves_nothing_of_the_parent(ncache: Any, raw: Any) -> None:
    import multiprocessing

    made = ncache.make_key("f")
    ncache.set("f", "parent")
    wait_for(lambda: ncache.get("f") == "parent" and cached(ncache, made), "the fill")
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe()

    def child() -> None:
        near = near_of(ncache)
        report = [near.store.info()["entries"], near.store.active]
        raw.set(made, ncache.client.encode("outside"))  # no channel of the child's yet
        report.append(ncache.get("f"))
        child_end.send(report)

    proc = ctx.Process(target=child)
    proc.start()
    try:
        assert parent_end.poll(30), "the child did not report"
        entries, active, seen = parent_end.recv()
    finally:
        proc.join(10)
    assert (entries, active, seen) == (0, False, "outside")
    assert proc.exitcode == 0
    wait_for(lambda: ncache.get("f") == "outside", "the parent to see the write")
