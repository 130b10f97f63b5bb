"""The near cache on a Valkey Cluster: a channel per node, a slot migration
(ASK, then MOVED) and a primary killed and replaced, never a stale value."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils.module_loading import import_string

from django_valkey import near as near_module
from tests.cluster import (
    SYNC_BACKEND,
    ClusterTopology,
    cluster_topology,
    forget_cluster_clients,
    wait_until,
)
from tests.nearhelp import cached, near_of, wait_for, wait_tracking
from tests.servers import wait_replicated

pytestmark = [pytest.mark.server, pytest.mark.slow]

NEAR = {"MAX_ENTRIES": 1000, "MAX_BYTES": 2**20, "MAX_VALUE_BYTES": 2**16, "HEARTBEAT": 0.5}
TAG = "{near}"


@pytest.fixture(scope="module")
def topology() -> Iterator[ClusterTopology]:
    with cluster_topology(name="cluster-near") as topology:
        try:
            yield topology
        finally:
            near_module.shutdown_all()
            forget_cluster_clients()


def make(topology: ClusterTopology) -> Any:
    return import_string(SYNC_BACKEND)(
        topology.urls, {"OPTIONS": {"NEAR_CACHE": NEAR}, "KEY_PREFIX": "ncl"}
    )


def encode(cache: Any, value: Any) -> bytes:
    return cache.client.encode(value)


def test_cluster_near_cache(topology: ClusterTopology) -> None:
    cache = make(topology)
    near = near_of(cache)
    near.ensure()
    # A channel on every node, replicas too (reads may be spread over them).
    wait_for(
        lambda: len(near.channels) == len(topology.running()) and near.store.active,
        "a channel on every node",
    )
    keys = [f"{TAG}k{i}" for i in range(6)]
    cache.set_many({k: k for k in keys})
    made = [cache.make_key(k) for k in keys]
    wait_for(
        lambda: (
            cache.get_many(keys) == {k: k for k in keys} and all(cached(cache, m) for m in made)
        ),
        "the fills",
    )
    assert cache.get(keys[0]) == keys[0]
    assert cache.near_cache_info()["hits"] > 0
    # The cluster client's own writes are read back at once.
    cache.mset_nonatomic({keys[2]: "nonatomic"})
    assert cache.get(keys[2]) == "nonatomic"
    wait_for(lambda: cache.get(keys[2]) == "nonatomic" and cached(cache, made[2]), "the fill")
    cache.set(keys[2], keys[2])
    assert cache.get(keys[2]) == keys[2]

    slot = topology.slot(made[0])
    source = topology.owner(slot)
    target = next(node for node in topology.primaries() if node is not source)

    # An outside write on the owner is seen.
    source.client().set(made[0], encode(cache, "outside"))
    wait_for(lambda: cache.get(keys[0]) == "outside", "the outside write")

    # Slot migration: half the keys move (the source reports their deletion).
    source_id, target_id = topology.node_id(source), topology.node_id(target)
    target.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    source.client().execute_command(
        "MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *made[:3]
    )
    # An outside write to a moved key, on its new node (ASKING).
    writer = target.client(single_connection_client=True)
    writer.execute_command("ASKING")
    writer.set(made[1], encode(cache, "moved-and-rewritten"))
    wait_for(lambda: cache.get(keys[1]) == "moved-and-rewritten", "the write on the target")
    assert cache.get(keys[4]) == keys[4]
    # The migration ends: the slot map changes, the near cache starts over.
    resets = near.store.info()["resets"]
    rest = source.client().execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100)
    if rest:
        source.client().execute_command(
            "MIGRATE", target.host, target.port, "", 0, 5000, "KEYS", *rest
        )
    for node in topology.primaries():
        node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
    wait_until(lambda: topology.owner(slot) is target, what="the slot to move")
    wait_for(lambda: near.store.info()["resets"] > resets, "the slot map change")
    wait_tracking(cache)
    target.client().set(made[4], encode(cache, "after the move"))
    wait_for(lambda: cache.get(keys[4]) == "after the move", "the write after the move")
    writer.close()

    # A primary killed, its replica promoted: the near cache starts over.
    victim = topology.owner(slot)
    replica = topology.replica_of(victim)
    wait_for(lambda: cache.get(keys[5]) == keys[5] and cached(cache, made[5]), "the fill")
    wait_replicated(victim)
    resets = near.store.info()["resets"]
    victim.kill()
    wait_for(lambda: near.store.info()["resets"] > resets, "the channel loss")
    wait_until(lambda: topology.role(replica) == "master", timeout=30, what="the promotion")
    topology.wait_healthy(timeout=30)
    replica.client().set(made[5], encode(cache, "on the new primary"))

    def fresh() -> bool:
        try:
            return bool(cache.get(keys[5]) == "on the new primary")
        except Exception:  # the cluster client may still be catching up
            return False

    wait_for(fresh, "the write on the promoted replica", timeout=30)

    # The sync backend's a* methods share the near cache.
    async def scenario() -> None:
        assert await cache.aget(keys[5]) == "on the new primary"
        await cache.aset(keys[5], "async")
        assert cache.get(keys[5]) == "async"

    asyncio.run(scenario())
