"""The cluster backends while the cluster changes under them.

A cluster of this module's own (its nodes get killed): a hash slot holding
test keys migrates from one primary to another while the caches read and
write it (``ASK`` during the migration, ``MOVED`` after it), then a primary
is killed and its replica promoted, and the same cache objects recover.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils.module_loading import import_string

from tests.cluster import (
    ASYNC_BACKEND,
    SYNC_BACKEND,
    ClusterTopology,
    cluster_topology,
    forget_cluster_clients,
    wait_until,
)
from tests.servers import wait_replicated

pytestmark = [pytest.mark.server, pytest.mark.slow]

TAG = "{moving}"


@pytest.fixture(scope="module")
def topology() -> Iterator[ClusterTopology]:
    with cluster_topology(name="cluster-failover") as topology:
        try:
            yield topology
        finally:
            forget_cluster_clients()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def make(backend: str, topology: ClusterTopology, **options: Any) -> Any:
    return import_string(backend)(topology.urls, {"OPTIONS": options})


def test_slot_migration_with_ask_then_moved(
    topology: ClusterTopology, loop: asyncio.AbstractEventLoop
) -> None:
    cache = make(SYNC_BACKEND, topology)
    acache = make(ASYNC_BACKEND, topology)
    # The package's own parser must understand MOVED and ASK too.
    parsed = make(SYNC_BACKEND, topology, PARSER_CLASS="django_valkey.parsers.Parser")
    aparsed = make(ASYNC_BACKEND, topology, PARSER_CLASS="django_valkey.parsers.Parser")
    run = loop.run_until_complete
    moving = {f"{TAG}k{i}": i for i in range(10)}
    others = {f"other:{i}": -i for i in range(20)}
    assert cache.set_many(moving | others, timeout=300) == []
    assert run(acache.get_many(moving)) == moving
    assert parsed.get_many(moving) == moving
    assert run(aparsed.get_many(moving)) == moving

    made = [cache.make_key(key) for key in moving]
    slot = topology.slot(made[0])
    source = topology.owner(slot)
    target = next(node for node in topology.primaries() if node is not source)
    source_id, target_id = topology.node_id(source), topology.node_id(target)
    target.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    source.client().execute_command(
        "MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *made[:5]
    )
    assert source.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 5
    target.client().config_resetstat()

    # Half of the slot moved: the source answers ASK for those keys.
    assert cache.get(f"{TAG}k0") == 0
    assert cache.get(f"{TAG}k9") == 9
    assert parsed.get(f"{TAG}k2") == 2
    assert run(aparsed.get(f"{TAG}k3")) == 3
    assert run(acache.get(f"{TAG}k1")) == 1
    assert run(acache.get(f"{TAG}k8")) == 8
    assert cache.get_many([f"{TAG}k2", *others]) == {f"{TAG}k2": 2} | others
    assert run(acache.get_many([f"{TAG}k3", *others])) == {f"{TAG}k3": 3} | others
    assert cache.incr(f"{TAG}k4", 10) == 14
    assert cache.set(f"{TAG}new", "written during the migration") is True
    assert run(acache.set(f"{TAG}anew", "async during the migration")) is True
    assert cache.delete(f"{TAG}k0") is True
    assert cache.has_key(f"{TAG}k1")
    assert topology.calls_on(target, "asking") >= 10  # the caches followed the redirections

    # The rest of the slot moves, and the cluster is told.
    rest = source.client().execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
    if rest:
        source.client().execute_command(
            "MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *rest
        )
    for node in topology.primaries():
        node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
    wait_until(lambda: topology.owner(slot) is target, what="the slot to move")

    # The caches still route the slot to the source: MOVED, then the new owner.
    expected = moving | {f"{TAG}k0": None, f"{TAG}k4": 14}
    expected = {k: v for k, v in expected.items() if v is not None}
    assert cache.get(f"{TAG}k9") == 9
    assert parsed.get(f"{TAG}k8") == 8
    assert run(aparsed.get(f"{TAG}k7")) == 7
    assert cache.get_many(moving) == expected
    assert run(acache.get_many(moving)) == expected
    assert cache.get(f"{TAG}new") == "written during the migration"
    assert run(acache.get(f"{TAG}anew")) == "async during the migration"
    table = cache.client.get_client().nodes_manager.slots_cache
    assert table[slot][0].port == target.port
    target.client().config_resetstat()
    assert cache.get_many(moving) == expected
    assert topology.calls_on(target, "mget") == 1
    run(acache.aclose())
    run(aparsed.aclose())


def test_primary_killed_and_replica_promoted(
    topology: ClusterTopology, loop: asyncio.AbstractEventLoop
) -> None:
    cache = make(SYNC_BACKEND, topology)
    acache = make(ASYNC_BACKEND, topology)
    ignoring = make(SYNC_BACKEND, topology, IGNORE_EXCEPTIONS=True, SOCKET_TIMEOUT=0.5)
    run = loop.run_until_complete
    data = {f"key:{i}": i for i in range(50)}
    assert cache.set_many(data, timeout=None) == []
    for node in topology.primaries():
        wait_replicated(node)  # every write reached the replicas
    assert run(acache.get_many(data)) == data
    assert ignoring.get_many(data) == data

    key = "key:7"
    victim = topology.owner(cache.make_key(key))
    replica = topology.replica_of(victim)
    victim.kill()

    # Until the replica takes over, the key's slot is unreachable: an
    # IGNORE_EXCEPTIONS cache answers with the default instead of raising,
    # and set_many reports the keys it could not store.
    assert ignoring.get(key, "default") == "default"
    assert ignoring.get_many(data) == {}
    fresh = {f"new:{i}": i for i in range(30)}
    lost = {k for k in fresh if topology.owner(cache.make_key(k)) is victim}
    assert lost
    assert lost <= set(ignoring.set_many(fresh, timeout=60))

    wait_until(
        lambda: topology.role(replica) == "master", timeout=20, what="the replica's promotion"
    )
    topology.wait_healthy(timeout=20)

    # The same cache objects recover, without being rebuilt.
    def sync_works() -> bool:
        return bool(cache.get(key) == 7 and cache.set("after", 1))

    wait_until(sync_works, timeout=15, what="the sync cache to recover")
    assert cache.get_many(data) == data
    assert sorted(cache.keys("key:*")) == sorted(data)

    async def async_works() -> bool:
        return bool(await acache.get(key) == 7 and await acache.set("async-after", 1))

    wait_until(lambda: run(async_works()), timeout=15, what="the async cache to recover")
    assert run(acache.get_many(data)) == data
    assert sorted(run(acache.keys("key:*"))) == sorted(data)
    wait_until(lambda: ignoring.get(key) == 7, timeout=15, what="the ignoring cache to recover")
    run(acache.aclose())
