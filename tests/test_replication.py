"""DefaultClient with a primary and a replica: real processes, sync and async."""

from __future__ import annotations

import pytest
import valkey.exceptions

from tests.sentinels import wait_until
from tests.servers import ValkeyServer, free_port, wait_replicated

pytestmark = pytest.mark.server

ASYNC_BACKEND = "django_valkey.async_cache.cache.AsyncValkeyCache"


@pytest.fixture(scope="module")
def pair():
    primary = ValkeyServer(name="primary").start()
    replica = ValkeyServer(
        name="replica", args=("--replicaof", primary.host, str(primary.port))
    ).start()
    wait_until(
        lambda: replica.client().info("replication")["master_link_status"] == "up",
        what="the replica to sync",
    )
    yield primary, replica
    replica.stop()
    primary.stop()


def calls(server, command):
    return server.client().info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)


def reset(*servers):
    for server in servers:
        server.client().config_resetstat()


def test_writes_to_primary_reads_from_replica(make_cache, pair, speedups):
    primary, replica = pair
    cache = make_cache(location=[f"{primary.url}/0", f"{replica.url}/0"])
    reset(primary, replica)
    cache.set("k", "v")
    cache.set_many({"a": 1, "b": 2})
    wait_replicated(primary)
    assert cache.get("k") == "v"
    assert cache.get_many(["a", "b"]) == {"a": 1, "b": 2}
    assert calls(primary, "set") == 3 and calls(primary, "get") == 0
    assert calls(replica, "get") == 1 and calls(replica, "mget") == 1
    assert cache.client.get_client(write=False).connection_pool.connection_kwargs["port"] == (
        replica.port
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", ["django_valkey.cache.ValkeyCache", ASYNC_BACKEND])
async def test_async_writes_to_primary_reads_from_replica(make_cache, pair, backend):
    primary, replica = pair
    cache = make_cache(backend, location=[f"{primary.url}/0", f"{replica.url}/0"])
    try:
        reset(primary, replica)
        await cache.aset("ak", "v")
        wait_replicated(primary)
        assert await cache.aget("ak") == "v"
        assert calls(primary, "set") == 1 and calls(replica, "get") == 1
    finally:
        await cache.aclose()


@pytest.fixture
def dead_primary_live_second(tmp_path):
    second = ValkeyServer(workdir=tmp_path).start()  # a writable "replica"
    yield f"valkey://127.0.0.1:{free_port()}/0", f"{second.url}/0", second
    second.stop()


OPTIONS = {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}


def test_replica_read_only_false_writes_elsewhere(make_cache, dead_primary_live_second):
    dead, live, second = dead_primary_live_second
    cache = make_cache(location=[dead, live], OPTIONS={**OPTIONS, "REPLICA_READ_ONLY": False})
    assert cache.set("k", "saved") is True
    assert second.client().exists(":1:k") == 1
    assert cache.get("k") == "saved"  # reads go to the replica index


def test_replica_read_only_default_raises(make_cache, dead_primary_live_second):
    dead, live, second = dead_primary_live_second
    cache = make_cache(location=[dead, live], OPTIONS=OPTIONS)
    with pytest.raises(valkey.exceptions.ConnectionError):
        cache.set("k", "lost")
    assert second.client().exists(":1:k") == 0


@pytest.mark.asyncio
async def test_async_replica_read_only_false(make_cache, dead_primary_live_second):
    dead, live, second = dead_primary_live_second
    cache = make_cache(
        ASYNC_BACKEND, location=[dead, live], OPTIONS={**OPTIONS, "REPLICA_READ_ONLY": False}
    )
    try:
        assert await cache.set("k", "saved") is True
        assert second.client().exists(":1:k") == 1
    finally:
        await cache.aclose()
