"""SentinelClient against a real primary, replica and sentinel."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.sentinels import SERVICE, sentinel_topology, wait_until
from tests.servers import wait_replicated

pytestmark = [pytest.mark.server, pytest.mark.slow]


def sentinel_cache(make_cache, topology, **options):
    return make_cache(
        location=f"valkey://{SERVICE}/0",
        OPTIONS={
            "CLIENT_CLASS": "django_valkey.client.SentinelClient",
            "SENTINELS": topology.sentinels,
            "SOCKET_TIMEOUT": 0.5,
            "SOCKET_CONNECT_TIMEOUT": 0.5,
            **options,
        },
    )


@pytest.fixture(scope="module")
def topology():
    with sentinel_topology() as topology:
        yield topology


def calls(server, command):
    stats = server.client().info("commandstats")
    return stats.get(f"cmdstat_{command}", {}).get("calls", 0)


def test_writes_to_primary_reads_from_replica(make_cache, topology, speedups):
    cache = sentinel_cache(make_cache, topology)
    topology.primary.client().config_resetstat()
    topology.replica.client().config_resetstat()
    assert cache.set("k", {"v": 1}) is True
    wait_replicated(topology.primary)
    for _ in range(5):
        assert cache.get("k") == {"v": 1}
    assert calls(topology.primary, "set") == 1
    assert calls(topology.replica, "get") == 5
    assert calls(topology.primary, "get") == 0


def test_explicit_primary_and_replica_urls(make_cache, topology):
    cache = make_cache(
        location=[f"valkey://{SERVICE}/0?is_master=1", f"valkey://{SERVICE}/0?is_master=0"],
        OPTIONS={
            "CLIENT_CLASS": "django_valkey.client.SentinelClient",
            "SENTINELS": topology.sentinels,
        },
    )
    cache.set("x", 1)
    wait_replicated(topology.primary)
    assert cache.get("x") == 1
    assert cache.client.get_client(write=True).connection_pool.is_master is True
    assert cache.client.get_client(write=False).connection_pool.is_master is False


def test_missing_sentinels_is_a_clear_error(make_cache):
    cache = make_cache(
        location=f"valkey://{SERVICE}/0",
        OPTIONS={"CLIENT_CLASS": "django_valkey.client.SentinelClient"},
    )
    with pytest.raises(ImproperlyConfigured, match="SENTINELS"):
        cache.get("k")


def test_options_are_not_mutated(make_cache, topology):
    options = {
        "CLIENT_CLASS": "django_valkey.client.SentinelClient",
        "SENTINELS": topology.sentinels,
    }
    snapshot = dict(options)
    make_cache(location=f"valkey://{SERVICE}/0", OPTIONS=options).set("k", 1)
    assert options == snapshot


def test_failover_is_survived(make_cache, speedups):
    with sentinel_topology() as topology:
        cache = sentinel_cache(make_cache, topology)
        cache.set("before", 1)
        wait_replicated(topology.primary)
        old_primary = topology.primary.port
        topology.primary.kill()
        sentinel = topology.sentinel.client()
        wait_until(
            lambda: int(sentinel.sentinel_master(SERVICE)["port"]) != old_primary,
            timeout=20,
            what="sentinel to promote the replica",
        )

        # Same cache object, no restart: it works again once the promotion is known.
        def works():
            cache.set("after", 2)
            return cache.get("after") == 2

        wait_until(works, timeout=10, what="the cache to work on the new primary")
        assert cache.get("before") == 1
        assert topology.replica.client().info("replication")["role"] == "master"


ASYNC_SENTINEL = {
    "CLIENT_CLASS": "django_valkey.async_cache.client.AsyncSentinelClient",
}


@pytest.mark.asyncio
async def test_async_writes_to_primary_reads_from_replica(make_cache, topology, speedups):
    cache = make_cache(
        "django_valkey.async_cache.cache.AsyncValkeyCache",
        location=f"valkey://{SERVICE}/0",
        OPTIONS={**ASYNC_SENTINEL, "SENTINELS": topology.sentinels},
    )
    try:
        topology.primary.client().config_resetstat()
        topology.replica.client().config_resetstat()
        assert await cache.set("ak", "v") is True
        wait_replicated(topology.primary)
        for _ in range(3):
            assert await cache.get("ak") == "v"
        assert calls(topology.primary, "set") == 1
        assert calls(topology.replica, "get") == 3
    finally:
        await cache.aclose()


@pytest.mark.asyncio
async def test_sync_backend_async_methods_use_sentinel(make_cache, topology):
    cache = sentinel_cache(make_cache, topology)
    try:
        topology.replica.client().config_resetstat()
        await cache.aset("sk", 1)
        wait_replicated(topology.primary)
        assert await cache.aget("sk") == 1
        assert calls(topology.replica, "get") == 1
    finally:
        await cache.aclose()


@pytest.mark.asyncio
async def test_async_failover_is_survived(make_cache):
    import asyncio

    with sentinel_topology() as topology:
        cache = make_cache(
            "django_valkey.async_cache.cache.AsyncValkeyCache",
            location=f"valkey://{SERVICE}/0",
            OPTIONS={
                **ASYNC_SENTINEL,
                "SENTINELS": topology.sentinels,
                "SOCKET_TIMEOUT": 0.5,
                "SOCKET_CONNECT_TIMEOUT": 0.5,
            },
        )
        try:
            await cache.set("before", 1)
            wait_replicated(topology.primary)
            old = topology.primary.port
            topology.primary.kill()
            sentinel = topology.sentinel.client()
            wait_until(
                lambda: int(sentinel.sentinel_master(SERVICE)["port"]) != old,
                timeout=20,
                what="sentinel to promote the replica",
            )
            for _ in range(200):
                try:
                    await cache.set("after", 2)
                    if await cache.get("after") == 2:
                        break
                except Exception:
                    pass
                await asyncio.sleep(0.05)
            assert await cache.get("after") == 2
            assert await cache.get("before") == 1
        finally:
            await cache.aclose()
