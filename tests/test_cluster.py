"""ClusterValkeyCache on a real six-node cluster: routing, sharing, options, errors.

Django's cache contract on the cluster backends is in ``test_cluster_contract.py``,
the async backend in ``test_cluster_async.py``, slot migrations and failovers
in ``test_cluster_failover.py``.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import valkey
from django.test import override_settings
from valkey.cluster import ValkeyCluster
from valkey.connection import BlockingConnectionPool, _RESP2Parser

from django_valkey.cluster_cache.cache import ClusterValkeyCache
from tests.cluster import (  # noqa: F401 - fixtures
    SYNC_BACKEND,
    ClusterTopology,
    cluster_fixture,
    make_cluster_cache_fixture,
)
from tests.servers import free_port, wait_replicated

pytestmark = [pytest.mark.server, pytest.mark.slow]


class RecordingParser(_RESP2Parser):
    """A user parser (PARSER_CLASS) that counts the replies it reads."""

    replies = 0

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        RecordingParser.replies += 1
        return super().read_response(*args, **kwargs)


@pytest.fixture
def cache(make_cluster_cache: Any, speedups: str) -> Any:
    return make_cluster_cache()


@pytest.fixture
def raw(cluster: ClusterTopology) -> Any:
    with cluster.client() as client:
        yield client


def slots_of(cache: Any, keys: list[str]) -> set[int]:
    return {cache.keyslot(key) for key in keys}


# Routing -------------------------------------------------------------------------


def test_get_many_sends_one_mget_per_slot(cache: Any, cluster: ClusterTopology) -> None:
    data = {f"key:{i}": i for i in range(100)}
    assert cache.set_many(data) == []
    cluster.reset_stats()
    assert cache.get_many([*data, "missing"]) == data
    assert cluster.calls("mget") == len(slots_of(cache, [*data, "missing"]))
    assert cluster.calls("get") == 0


def test_get_many_with_keys_sharing_slots(cache: Any) -> None:
    data: dict[str, Any] = {f"{{a}}k{i}": i for i in range(5)}
    data |= {f"{{b}}k{i}": -i for i in range(5)}
    data |= {f"free{i}": str(i) for i in range(5)}
    cache.set_many(data, timeout=60)
    keys = ["{b}k3", "free1", "{a}k0", "missing", "{a}k4", "{b}k0", "{a}k0"]
    assert cache.get_many(keys) == {k: data[k] for k in keys if k in data}


def test_set_many_with_timeout_sets_every_key_across_slots(cache: Any, raw: Any) -> None:
    data = {f"key:{i}": {"n": i} for i in range(60)}
    assert len(slots_of(cache, list(data))) > 1
    assert cache.set_many(data, timeout=100) == []
    for key in data:
        assert 0 < raw.pttl(cache.make_key(key)) <= 100_000
    assert cache.get_many(data) == data


def test_set_many_without_timeout_is_one_mset_per_slot(
    cache: Any, raw: Any, cluster: ClusterTopology
) -> None:
    data = {f"key:{i}": i for i in range(30)}
    cluster.reset_stats()
    assert cache.set_many(data, timeout=None) == []
    assert cluster.calls("mset") == len(slots_of(cache, list(data)))
    assert all(raw.pttl(cache.make_key(key)) == -1 for key in data)
    assert cache.set_many(data, timeout=0) == []
    assert cache.get_many(data) == {}


def test_delete_many_and_has_key_across_slots(cache: Any) -> None:
    cache.set_many({f"key:{i}": i for i in range(20)})
    assert cache.delete_many([f"key:{i}" for i in range(25)]) == 20
    assert cache.delete_many([]) is None
    assert not cache.has_key("key:1")
    cache.set("key:1", 1)
    assert "key:1" in cache


def test_keyspace_commands_cover_every_primary(cache: Any, cluster: ClusterTopology) -> None:
    names = [f"user:{i}" for i in range(60)]
    cache.set_many(dict.fromkeys(names, 1))
    cache.set("other", 1)
    assert all(node.client().dbsize() for node in cluster.primaries())
    found = cache.keys("user:*")
    assert isinstance(found, list)
    assert sorted(found) == sorted(names)
    assert sorted(cache.iter_keys("user:*", itersize=7)) == sorted(names)
    assert sorted(cache.keys()) == sorted([*names, "other"])
    assert cache.delete_pattern("user:1*") == 11
    assert len(cache.keys("user:*")) == 49
    assert cache.clear() is True
    assert cluster.dbsize() == 0


def test_single_key_commands(cache: Any) -> None:
    assert cache.add("k", 1, timeout=100) is True
    assert cache.add("k", 2) is False
    assert cache.incr("k", 5) == 6
    assert cache.decr("k") == 5
    assert 0 < cache.ttl("k") <= 100
    assert cache.persist("k") is True
    assert cache.ttl("k") is None
    assert cache.expire("k", 50) is True
    assert cache.touch("k", None) is True
    assert cache.get_or_set("g", lambda: "made") == "made"
    assert cache.get_or_set("g", "other") == "made"
    assert cache.delete("k") is True
    assert cache.delete("k") is False
    with cache.get_lock("lock", timeout=5):
        assert not cache.get_lock("lock", blocking=False).acquire()


def test_sets_with_hash_tags(cache: Any) -> None:
    cache.sadd("{u1}a", 1, 2, 3)
    cache.sadd("{u1}b", 2, 3, 4)
    assert cache.sinter("{u1}a", "{u1}b") == {2, 3}
    assert cache.sunion("{u1}a", "{u1}b") == {1, 2, 3, 4}
    assert cache.sdiff("{u1}a", "{u1}b") == {1}
    assert cache.sinterstore("{u1}c", "{u1}a", "{u1}b") == 2
    assert cache.smove("{u1}a", "{u1}c", 1) is True
    assert cache.smembers("{u1}c") == {1, 2, 3}
    assert set(cache.sscan_iter("{u1}c")) == {1, 2, 3}


def test_cross_slot_atomic_commands_are_refused(cache: Any) -> None:
    a, b = "set-a", "set-b"
    assert cache.keyslot(a) != cache.keyslot(b)
    cache.sadd(a, 1)
    cache.sadd(b, 2)
    for call in (
        lambda: cache.sinter(a, b),
        lambda: cache.smove(a, b, 1),
        lambda: cache.mset({a: 1, b: 2}),
        lambda: cache.msetnx({a: 1, b: 2}),
    ):
        with pytest.raises(ValueError, match="hash tags"):
            call()


def test_incr_version_moves_a_key_to_another_slot(cache: Any, raw: Any) -> None:
    key = next(k for k in (f"x{i}" for i in range(100)) if cache.keyslot(k) != cache.keyslot(k, 2))
    cache.set(key, "value", timeout=100)
    assert cache.incr_version(key) == 2
    assert cache.get(key, version=2) == "value"
    assert cache.get(key) is None
    assert 90 < cache.ttl(key, version=2) <= 100
    with pytest.raises(ValueError):
        cache.incr_version("missing")


def test_reference_extras(cache: Any) -> None:
    assert cache.mset({"{m}a": 1, "{m}b": "two"}) is True
    assert cache.get_many(["{m}a", "{m}b"]) == {"{m}a": 1, "{m}b": "two"}
    assert cache.mset({"{m}a": 3, "{m}c": 4}, timeout=10) is True
    assert 0 < cache.ttl("{m}c") <= 10
    assert cache.msetnx({"{m}c": 5, "{m}d": 6}) is False
    assert cache.msetnx({"{m}e": 5, "{m}d": 6}) is True
    assert cache.get("{m}d") == 6
    assert cache.mset({"p": 1, "q": 2}, atomic=False) == [True, True]
    assert cache.mset_nonatomic({"p": 3, "q": 4}) == [True, True]
    assert cache.mget_nonatomic(["p", "q", "r"]) == {"p": 3, "q": 4}
    assert cache.keyslot("p") == ValkeyCluster.keyslot(cache.client.get_client(), ":1:p")
    assert cache.keyslot("p", version=3) == cache.client.get_client().keyslot(":3:p")
    cache.invalidate_key_from_cache("p")
    cache.invalidate_key_from_cache()
    assert cache.readonly() is True
    assert cache.readwrite() is True
    assert cache.flushall() is True
    assert cache.get("p") is None


# One cluster client per settings, shared -----------------------------------------


def test_caches_with_the_same_settings_share_one_cluster_client(
    make_cluster_cache: Any, cluster: ClusterTopology
) -> None:
    first = make_cluster_cache(KEY_PREFIX="a")
    second = make_cluster_cache(KEY_PREFIX="b")
    other = make_cluster_cache(OPTIONS={"SOCKET_TIMEOUT": 2})
    assert isinstance(first.client.get_client(), ValkeyCluster)
    assert first.client.get_client() is second.client.get_client()
    assert first.client.get_client() is not other.client.get_client()


def test_every_location_is_a_startup_node(
    make_cluster_cache: Any, cluster: ClusterTopology
) -> None:
    dead = f"valkey://127.0.0.1:{free_port()}"
    cache = make_cluster_cache(location=[dead, *cluster.urls[:2]])
    cache.set("k", 1)
    assert cache.get("k") == 1
    assert cache.client.get_client_with_index() == (cache.client.get_client(), 0)


def test_threads_share_the_cluster_client(make_cluster_cache: Any) -> None:
    errors: list[BaseException] = []
    clients = set()

    def work(n: int) -> None:
        try:
            cache = make_cluster_cache()  # Django builds one backend per thread
            clients.add(id(cache.client.get_client()))
            data = {f"t{n}:{i}": i for i in range(30)}
            for _ in range(20):
                assert cache.set_many(data, timeout=60) == []
                assert cache.get_many(data) == data
                cache.incr("counter", ignore_key_check=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(clients) == 1
    assert make_cluster_cache().get("counter") == 160


# Options -------------------------------------------------------------------------


def node_pools(cache: Any) -> list[Any]:
    cache.set("touch-every-node", 1)
    cache.keys("*")
    return [
        node.valkey_connection.connection_pool
        for node in cache.client.get_client().get_nodes()
        if node.valkey_connection is not None
    ]


def test_connection_options_reach_every_node(make_cluster_cache: Any) -> None:
    cache = make_cluster_cache(
        OPTIONS={
            "SOCKET_TIMEOUT": 1.5,
            "SOCKET_CONNECT_TIMEOUT": 0.5,
            "CONNECTION_POOL_CLASS": "valkey.connection.BlockingConnectionPool",
            "CONNECTION_POOL_KWARGS": {"max_connections": 17},
            "BASE_CLIENT_KWARGS": {"cluster_error_retry_attempts": 1},
        }
    )
    pools = node_pools(cache)
    assert len(pools) == 6
    for pool in pools:
        assert isinstance(pool, BlockingConnectionPool)
        assert pool.max_connections == 17
        assert pool.connection_kwargs["socket_timeout"] == 1.5
        assert pool.connection_kwargs["socket_connect_timeout"] == 0.5
    assert cache.client.get_client().cluster_error_retry_attempts == 1


@pytest.fixture
def acl_user(cluster: ClusterTopology) -> Any:
    for node in cluster.running():
        node.client().acl_setuser(
            "cacheuser", enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+@all"]
        )
    yield "cacheuser"
    for node in cluster.running():
        node.client().acl_deluser("cacheuser")


def test_password_option(make_cluster_cache: Any, cluster: ClusterTopology, acl_user: str) -> None:
    location = f"valkey://{acl_user}@127.0.0.1:{cluster.running()[0].port}"
    cache = make_cluster_cache(location=location, OPTIONS={"PASSWORD": "s3cret"})
    cache.set("k", "v")
    assert cache.get("k") == "v"
    assert all(pool.connection_kwargs["password"] == "s3cret" for pool in node_pools(cache))
    wrong = make_cluster_cache(location=location, OPTIONS={"PASSWORD": "wrong"})
    with pytest.raises(valkey.exceptions.ConnectionError):
        wrong.get("k")


@pytest.mark.parametrize("option", ["PARSER_CLASS", "PARSER_CLS"])
def test_parser_option(make_cluster_cache: Any, option: str) -> None:
    cache = make_cluster_cache(OPTIONS={option: "tests.test_cluster.RecordingParser"})
    before = RecordingParser.replies
    cache.set("k", 1)
    assert cache.get("k") == 1
    assert RecordingParser.replies > before
    cache.set_many({f"key:{i}": i for i in range(20)})
    for pool in node_pools(cache):
        for conn in pool._available_connections:
            parser = conn._parser
            assert isinstance(parser, RecordingParser)
            # valkey-py's cluster errors (MOVED, ASK...) are still understood.
            assert "MOVED" in parser.EXCEPTION_CLASSES


def test_package_parser(make_cluster_cache: Any) -> None:
    from django_valkey.parsers import ClusterParser

    cache = make_cluster_cache(OPTIONS={"PARSER_CLASS": "django_valkey.parsers.Parser"})
    data = {f"key:{i}": [i] for i in range(30)}
    cache.set_many(data)
    assert cache.get_many(data) == data
    assert cache.get("key:3") == [3]
    parsers = {
        type(conn._parser) for pool in node_pools(cache) for conn in pool._available_connections
    }
    assert parsers == {ClusterParser}


def test_read_from_replicas(make_cluster_cache: Any, cluster: ClusterTopology) -> None:
    cache = make_cluster_cache(OPTIONS={"BASE_CLIENT_KWARGS": {"read_from_replicas": True}})
    data = {f"key:{i}": i for i in range(30)}
    cache.set_many(data)
    for node in cluster.primaries():
        wait_replicated(node)
    cluster.reset_stats()
    for _ in range(4):
        assert cache.get_many(data) == data
        assert cache.get("key:1") == 1
    replica_reads = sum(cluster.calls_on(node, "mget") for node in cluster.replicas())
    assert replica_reads > 0


def test_close_connection_option(make_cluster_cache: Any) -> None:
    cache = make_cluster_cache(OPTIONS={"CLOSE_CONNECTION": True})
    cache.set_many({f"key:{i}": i for i in range(20)})
    assert any(pool._available_connections for pool in node_pools(cache))
    cache.close()
    raw_cluster = cache.client._clients[0] or cache.client.get_client()
    for node in raw_cluster.get_nodes():
        if node.valkey_connection is not None:
            pool = node.valkey_connection.connection_pool
            assert all(conn._sock is None for conn in pool._available_connections)
    assert cache.get("key:3") == 3


# Errors --------------------------------------------------------------------------


def test_unreachable_cluster_raises_connection_error(make_cluster_cache: Any) -> None:
    cache = make_cluster_cache(location=f"valkey://127.0.0.1:{free_port()}")
    with pytest.raises(valkey.exceptions.ConnectionError):
        cache.get("k")
    with pytest.raises(valkey.exceptions.ConnectionError):
        cache.set("k", 1)


def test_ignore_exceptions(make_cluster_cache: Any) -> None:
    cache = make_cluster_cache(
        location=f"valkey://127.0.0.1:{free_port()}", OPTIONS={"IGNORE_EXCEPTIONS": True}
    )
    assert cache.get("k", "default") == "default"
    assert cache.set("k", 1) is None
    assert cache.get_many(["a", "b"]) == {}
    assert cache.mget_nonatomic(["a", "b"]) == {}
    assert cache.has_key("k") is False
    assert cache.set_many({"a": 1}) == ["a"]
    assert not cache.delete("k")
    assert cache.get_or_set("k", lambda: 5) == 5
    assert list(cache.iter_keys("*")) == []


def test_programming_errors_are_not_swallowed(make_cluster_cache: Any) -> None:
    cache = make_cluster_cache(OPTIONS={"IGNORE_EXCEPTIONS": True})
    with pytest.raises(ValueError, match="hash tags"):
        cache.sinter("set-a", "set-b")
    with pytest.raises(ValueError):
        cache.incr("missing")


# Django integration --------------------------------------------------------------


def test_usable_through_django_caches(cluster: ClusterTopology, speedups: str) -> None:
    from django.core.cache import caches

    import django_valkey

    cluster.flushall()
    settings_caches = {
        "default": {"BACKEND": SYNC_BACKEND, "LOCATION": cluster.url},
        "other": {"BACKEND": SYNC_BACKEND, "LOCATION": cluster.url, "KEY_PREFIX": "other"},
    }
    with override_settings(CACHES=settings_caches):
        assert isinstance(caches["default"], ClusterValkeyCache)
        caches["default"].set("key", "default")
        caches["other"].set("key", "other")
        assert caches["default"].get("key") == "default"
        assert caches["other"].get("key") == "other"
        assert isinstance(django_valkey.get_valkey_connection("default"), ValkeyCluster)
        default: Any = caches["default"]
        other: Any = caches["other"]
        assert default.client.get_client() is other.client.get_client()
