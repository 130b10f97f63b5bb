"""The near cache with replicas and shards, and the topologies it refuses."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_valkey import near as near_module
from tests.nearhelp import cached, near_of, wait_for, wait_tracking
from tests.sentinels import SERVICE, sentinel_topology, wait_until
from tests.servers import ValkeyServer, wait_replicated

pytestmark = pytest.mark.server

NEAR = {"MAX_ENTRIES": 100, "MAX_BYTES": 2**20, "MAX_VALUE_BYTES": 2**16, "HEARTBEAT": 0.5}


@pytest.fixture
def pair(tmp_path: Any) -> Any:
    primary = ValkeyServer(name="near-primary", workdir=tmp_path / "p").start()
    replica = ValkeyServer(
        name="near-replica",
        workdir=tmp_path / "r",
        args=("--replicaof", primary.host, str(primary.port)),
    ).start()
    wait_until(
        lambda: replica.client().info("replication")["master_link_status"] == "up",
        what="the replica to sync",
    )
    try:
        yield primary, replica
    finally:
        near_module.shutdown_all()
        replica.stop()
        primary.stop()


def test_primary_and_replica(speedups: str, make_cache: Any, pair: Any) -> None:
    primary, replica = pair
    cache = make_cache(
        location=[f"{primary.url}/0", f"{replica.url}/0"], OPTIONS={"NEAR_CACHE": NEAR}
    )
    wait_tracking(cache)
    near = near_of(cache)
    assert len(near.channels) == 2  # a write reaches a replica later: both report
    made = cache.make_key("k")
    outside = primary.client()
    outside.set(made, cache.client.encode("v1"))
    wait_for(lambda: cache.get("k") == "v1" and cached(cache, made), "the replica read")
    outside.set(made, cache.client.encode("v2"))
    # Converges once the replica has the write (its channel reports it).
    wait_for(lambda: cache.get("k") == "v2", "the write to reach the replica's readers")
    assert cache.get("k") == "v2"
    # A replica's channel lost: the whole store stops serving.
    resets = near.store.info()["resets"]
    replica.client().client_kill_filter(_id=near.channels[1].client_id)
    wait_for(lambda: near.store.info()["resets"] > resets, "the replica channel loss")
    wait_tracking(cache)
    outside.flushall()
    wait_for(lambda: cache.get("k") is None, "FLUSHALL through replication")


def test_shards(speedups: str, make_cache: Any, tmp_path: Any) -> None:
    servers = [
        ValkeyServer(name=f"near-shard{i}", workdir=tmp_path / str(i)).start() for i in range(2)
    ]
    try:
        cache = make_cache(
            location=[f"{s.url}/0" for s in servers],
            OPTIONS={"CLIENT_CLASS": "django_valkey.client.ShardClient", "NEAR_CACHE": NEAR},
        )
        wait_tracking(cache)
        keys = [f"key{i}" for i in range(10)]
        cache.set_many({k: k for k in keys})
        wait_for(
            lambda: (
                cache.get_many(keys) == {k: k for k in keys}
                and all(cached(cache, cache.make_key(k)) for k in keys)
            ),
            "the fills",
        )
        for k in keys:  # outside writes on whichever shard holds each key
            owner = next(s for s in servers if s.client().exists(cache.make_key(k)))
            owner.client().set(cache.make_key(k), cache.client.encode(k + "!"))
        wait_for(lambda: cache.get_many(keys) == {k: k + "!" for k in keys}, "every shard")
        assert cache.near_cache_info()["hits"] > 0
    finally:
        near_module.shutdown_all()
        for s in servers:
            s.stop()


@pytest.mark.parametrize(
    ("backend", "options", "reason"),
    [
        (
            "django_valkey.cache.ValkeyCache",
            {"CLIENT_CLASS": "django_valkey.client.HerdClient"},
            "herd clients",
        ),
        (
            "django_valkey.async_cache.cache.AsyncValkeyCache",
            {"CLIENT_CLASS": "django_valkey.async_cache.client.herd.AsyncHerdClient"},
            "herd clients",
        ),
    ],
)
def test_refused_topologies(make_cache: Any, backend: str, options: Any, reason: str) -> None:
    # Refused on first use (not when Django builds the cache for its checks).
    cache = make_cache(
        backend, location="valkey://127.0.0.1:1/0", OPTIONS={**options, "NEAR_CACHE": NEAR}
    )
    with pytest.raises(ImproperlyConfigured, match=reason):
        result = cache.get("k")
        if inspect.iscoroutine(result):  # AsyncValkeyCache
            asyncio.run(result)


@pytest.mark.slow
def test_sentinel_failover(make_cache: Any) -> None:
    with sentinel_topology() as topology:
        options = {
            "CLIENT_CLASS": "django_valkey.client.SentinelClient",
            "SENTINELS": topology.sentinels,
            "SOCKET_TIMEOUT": 0.5,
            "SOCKET_CONNECT_TIMEOUT": 0.5,
            "NEAR_CACHE": NEAR,
        }
        try:
            cache = make_cache(location=f"valkey://{SERVICE}/0", OPTIONS=options)
            wait_tracking(cache)
            near = near_of(cache)
            old = topology.primary.port
            assert near.channels[0].address == (topology.primary.host, old)
            made = cache.make_key("k")
            cache.set("k", "v1")
            wait_for(lambda: cache.get("k") == "v1" and cached(cache, made), "the fill")
            wait_replicated(topology.primary)
            resets = near.store.info()["resets"]
            topology.primary.kill()
            sentinel = topology.sentinel.client()
            wait_until(
                lambda: int(sentinel.sentinel_master(SERVICE)["port"]) != old,
                timeout=20,
                what="sentinel to promote the replica",
            )
            new_primary = topology.replica
            # The channel follows the primary; meanwhile the store was emptied.
            wait_for(
                lambda: (
                    near.store.active
                    and near.channels[0].address == (new_primary.host, new_primary.port)
                ),
                "the channel on the new primary",
                timeout=30,
            )
            assert near.store.info()["resets"] > resets
            outside = new_primary.client()
            outside.set(made, cache.client.encode("v2"))
            wait_for(lambda: cache.get("k") == "v2", "the write on the new primary")
            wait_for(lambda: cache.get("k") == "v2" and cached(cache, made), "the fill")
            outside.set(made, cache.client.encode("v3"))
            wait_for(lambda: cache.get("k") == "v3", "invalidations from the new primary")
        finally:
            near_module.shutdown_all()


@pytest.mark.slow
def test_async_sentinel(make_cache: Any) -> None:
    import asyncio

    with sentinel_topology() as topology:
        cache = make_cache(
            "django_valkey.async_cache.cache.AsyncValkeyCache",
            location=f"valkey://{SERVICE}/0",
            OPTIONS={
                "CLIENT_CLASS": "django_valkey.async_cache.client.AsyncSentinelClient",
                "SENTINELS": topology.sentinels,
                "NEAR_CACHE": NEAR,
            },
        )
        near = cache.client._near
        made = cache.make_key("a")
        outside = topology.primary.client()

        async def scenario() -> None:
            near.ensure()
            end = asyncio.get_running_loop().time() + 15
            while not near.store.active:
                assert asyncio.get_running_loop().time() < end, "tracking"
                await asyncio.sleep(0.002)
            await cache.set("a", 1)
            while not (await cache.get("a") == 1 and cached(cache, made)):
                assert asyncio.get_running_loop().time() < end, "the fill"
                await asyncio.sleep(0.002)
            outside.set(made, cache.client.encode(2))
            while await cache.get("a") != 2:
                assert asyncio.get_running_loop().time() < end, "the outside write"
                await asyncio.sleep(0.002)
            await cache.aclose()

        try:
            asyncio.run(scenario())
            assert cache.near_cache_info()["hits"] >= 1
        finally:
            near_module.shutdown_all()
