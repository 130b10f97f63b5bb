"""ShardClient: placement as the reference, one round trip per shard."""

from __future__ import annotations

import pytest

from django_valkey.hash_ring import HashRing

pytestmark = pytest.mark.server

SHARD = {"CLIENT_CLASS": "django_valkey.client.ShardClient"}


@pytest.fixture
def nodes(valkey_server):
    return [f"{valkey_server.url}?db={db}" for db in (1, 2, 3)]


@pytest.fixture
def shard(make_cache, nodes, speedups):
    return make_cache(location=nodes, OPTIONS=SHARD)


def where(valkey_server, made_key):
    return [db for db in (1, 2, 3) if valkey_server.client(db=db).exists(made_key)]


def test_keys_land_on_the_reference_node(shard, nodes, valkey_server):
    ring = HashRing(nodes)
    for i in range(30):
        shard.set(f"k{i}", i)
    for i in range(30):
        expected_db = int(ring(f":1:k{i}").rsplit("=", 1)[1])
        assert where(valkey_server, f":1:k{i}") == [expected_db]
        assert shard.get(f"k{i}") == i
    # Spread over every node.
    assert all(valkey_server.client(db=db).dbsize() > 0 for db in (1, 2, 3))


def test_bulk_operations_one_command_per_shard(shard, valkey_server):
    admin = valkey_server.client()
    data = {f"k{i}": f"v{i}" for i in range(60)}
    assert shard.set_many(data, timeout=60) == []
    admin.config_resetstat()
    assert shard.get_many([*data, "missing"]) == data
    stats = admin.info("commandstats")
    assert stats["cmdstat_mget"]["calls"] == 3
    assert "cmdstat_get" not in stats
    assert shard.delete_many(list(data)) == 60
    assert sum(valkey_server.client(db=db).dbsize() for db in (1, 2, 3)) == 0


def test_hash_tags_keep_keys_together(shard, valkey_server):
    for i in range(10):
        shard.sadd(f"{{user1}}:set{i}", i)
    dbs = {db for i in range(10) for db in where(valkey_server, f":1:{{user1}}:set{i}")}
    assert len(dbs) == 1
    assert shard.sunion(*[f"{{user1}}:set{i}" for i in range(10)]) == set(range(10))


def test_cross_shard_multi_key_set_command_is_refused(shard, nodes):
    ring = HashRing(nodes)
    a, b = next((f"a{i}", f"b{i}") for i in range(100) if ring(f":1:a{i}") != ring(f":1:b{i}"))
    shard.sadd(a, 1)
    shard.sadd(b, 2)
    with pytest.raises(ValueError, match="hash tags"):
        shard.sinter(a, b)


def test_keyspace_over_every_node(shard):
    for i in range(40):
        shard.set(f"user:{i}", i)
    assert sorted(shard.keys("user:*")) == sorted(f"user:{i}" for i in range(40))
    assert sorted(shard.iter_keys("user:*", itersize=5)) == sorted(f"user:{i}" for i in range(40))
    assert shard.delete_pattern("user:1*") == 11
    assert len(shard.keys("*")) == 29
    assert shard.clear() is True
    assert shard.keys("*") == []


def test_incr_version_moves_across_shards(shard, nodes):
    ring = HashRing(nodes)
    key = next(f"x{i}" for i in range(100) if ring(f":1:x{i}") != ring(f":2:x{i}"))
    shard.set(key, "value", timeout=100)
    assert shard.incr_version(key) == 2
    assert shard.get(key, version=2) == "value"
    assert shard.get(key) is None
    assert 98 <= shard.ttl(key, version=2) <= 100
    shard.set("same", 1)
    shard.incr("same")
    assert shard.get("same") == 2


def test_raw_access_by_key(shard, valkey_server, django_caches):
    raw = shard.client.get_client(key=shard.make_key("k"))
    raw.set("direct", 1)
    assert raw.connection_pool.connection_kwargs["db"] in (1, 2, 3)
    assert set(shard.client.connect()) == set(shard.client._server)
