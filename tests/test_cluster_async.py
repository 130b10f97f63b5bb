"""AsyncClusterValkeyCache on a real six-node cluster.

Django's cache contract runs here through the ``a*`` coroutines (the
contract's classes from ``test_django_contract.py``, async view only: every
method of this backend is a coroutine); then what is particular to the
async cluster backend: concurrency over the nodes, one cluster client per
event loop, the cluster's own methods, errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
import valkey
from django.core.cache.backends.base import BaseCache
from valkey.asyncio.cluster import ValkeyCluster as AsyncValkeyCluster
from valkey.asyncio.lock import Lock as AsyncLock

from django_valkey.cluster_cache.async_cache import AsyncClusterValkeyCache
from django_valkey.cluster_cache.router import AsyncClusterRouter
from tests import test_django_contract as contract
from tests.cluster import (  # noqa: F401 - fixtures
    ASYNC_BACKEND,
    SYNC_BACKEND,
    ClusterTopology,
    cluster_fixture,
    make_cluster_cache_fixture,
)
from tests.servers import free_port

pytestmark = [
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.filterwarnings("error::django.core.cache.backends.base.CacheKeyWarning"),
]


@pytest.fixture
def make_cache(make_cluster_cache: Callable[..., Any]) -> Callable[..., Any]:
    def factory(backend: str = ASYNC_BACKEND, location: Any = None, **params: Any) -> Any:
        return make_cluster_cache(backend=backend, location=location, **params)

    return factory


@pytest.fixture
def cache(speedups: str, make_cache: Callable[..., Any]) -> Any:
    return make_cache()


@pytest.fixture
def raw(cluster: ClusterTopology) -> Iterator[Any]:
    with cluster.client() as client:
        yield client


@pytest.fixture
def api(cache: Any, make_cache: Callable[..., Any]) -> Iterator[contract.Api]:
    """The contract's view of a cache, through the ``a*`` coroutines only."""
    loop = asyncio.new_event_loop()
    view = contract.Api(cache, loop, make_cache)
    try:
        yield view
    finally:
        try:
            for made in view.wrapped:
                loop.run_until_complete(made.aclose())
            # Closes the loop's cluster clients, as asyncio.run() would.
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


# Django's contract, through the coroutines ----------------------------------------


class TestBasics(contract.TestBasics):
    # A cluster has one database: that promise does not apply (not collected).
    test_clear_leaves_other_databases_alone = None  # type: ignore[assignment]


class TestMany(contract.TestMany):
    pass


class TestIncrDecr(contract.TestIncrDecr):
    def test_incr_is_atomic(self, cache: Any) -> None:
        async def run() -> int:
            await cache.set("counter", 0)

            async def bump() -> None:
                for _ in range(50):
                    await cache.incr("counter")

            await asyncio.gather(*(bump() for _ in range(8)))
            return int(await cache.get("counter"))

        assert asyncio.run(run()) == 400


class TestValues(contract.TestValues):
    pass


class TestSerializationFailures(contract.TestSerializationFailures):
    pass


class TestTimeouts(contract.TestTimeouts):
    pass


class TestTouch(contract.TestTouch):
    pass


class TestGetOrSet(contract.TestGetOrSet):
    def test_returns_the_value_a_concurrent_writer_stored(self, api: Any) -> None:
        # The default callable is sync: the racing writer is a sync cache.
        writer = api._make(backend=SYNC_BACKEND)

        def produce() -> str:
            writer.set("raced", "winner")
            return "loser"

        assert api.get_or_set("raced", produce) == "winner"
        assert api.get("raced") == "winner"


class TestVersions(contract.TestVersions):
    pass


class TestKeys(contract.TestKeys):
    pass


class TestKeyValidation(contract.TestKeyValidation):
    pass


# The async cluster backend itself --------------------------------------------------


@pytest_asyncio.fixture
async def acache(make_cache: Callable[..., Any], speedups: str) -> Any:
    cache = make_cache()
    yield cache
    await cache.aclose()


def test_is_a_django_cache_with_aliased_coroutines() -> None:
    assert issubclass(AsyncClusterValkeyCache, BaseCache)
    assert AsyncClusterValkeyCache.is_async is True
    cache = AsyncClusterValkeyCache("valkey://127.0.0.1:7000", {})
    assert cache.aget == cache.get
    assert cache.amsetnx == cache.msetnx
    for name in ("get", "set", "get_many", "set_many", "delete_many", "incr", "clear", "keyslot"):
        assert asyncio.iscoroutinefunction(getattr(cache, name)), name


@pytest.mark.asyncio
async def test_bulk_commands_across_slots(acache: Any, cluster: ClusterTopology) -> None:
    data = {f"key:{i}": i for i in range(100)}
    assert await acache.set_many(data, timeout=60) == []
    cluster.reset_stats()
    assert await acache.get_many([*data, "missing"]) == data
    slots = {await acache.keyslot(key) for key in [*data, "missing"]}
    assert cluster.calls("mget") == len(slots)
    assert await acache.delete_many(list(data)[:10]) == 10
    assert sorted(await acache.keys("key:*")) == sorted(list(data)[10:])
    assert sorted([k async for k in acache.iter_keys("key:*", itersize=9)]) == sorted(
        list(data)[10:]
    )
    assert await acache.delete_pattern("key:1*") == 10
    assert await acache.clear() is True
    assert cluster.dbsize() == 0


@pytest.mark.asyncio
async def test_nodes_are_queried_concurrently(acache: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    data = {f"key:{i}": i for i in range(60)}
    await acache.set_many(data)
    in_flight = 0
    most = 0
    original = AsyncClusterRouter._node_pipeline

    async def watched(*args: Any) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await original(*args)
        finally:
            in_flight -= 1

    monkeypatch.setattr(AsyncClusterRouter, "_node_pipeline", staticmethod(watched))
    assert await acache.get_many(data) == data
    assert most == 3  # one pipeline per primary, all at once


@pytest.mark.asyncio
async def test_cluster_extras_and_sets(acache: Any) -> None:
    assert await acache.mset({"{m}a": 1, "{m}b": 2}, timeout=10) is True
    assert 0 < await acache.ttl("{m}a") <= 10
    assert await acache.msetnx({"{m}a": 5, "{m}c": 6}) is False
    assert await acache.mset_nonatomic({"p": 1, "q": 2}) == [True, True]
    assert await acache.mget_nonatomic(["p", "q", "r"]) == {"p": 1, "q": 2}
    with pytest.raises(ValueError, match="hash tags"):
        await acache.mset({"p": 1, "q": 2})
    await acache.sadd("{s}a", 1, 2)
    await acache.sadd("{s}b", 2, 3)
    assert await acache.sinter("{s}a", "{s}b") == {2}
    assert {m async for m in acache.sscan_iter("{s}a")} == {1, 2}
    key = next(k for k in (f"x{i}" for i in range(100)) if acache.make_key(k) != "")
    await acache.set(key, "v", timeout=100)
    assert await acache.incr_version(key) == 2
    assert await acache.get(key, version=2) == "v"
    lock = await acache.get_lock("lock", timeout=5)
    assert isinstance(lock, AsyncLock)
    async with lock:
        assert await acache.has_key("lock")
    assert await acache.readonly() is True
    assert await acache.readwrite() is True
    await acache.invalidate_key_from_cache("p")
    assert await acache.flushall() is True
    assert await acache.get("p") is None


@pytest.mark.asyncio
async def test_one_cluster_client_per_loop(make_cache: Callable[..., Any]) -> None:
    first, second = make_cache(KEY_PREFIX="a"), make_cache(KEY_PREFIX="b")
    await first.set("k", 1)
    await second.set("k", 2)
    shared = await first.client.get_client()
    assert isinstance(shared, AsyncValkeyCluster)
    assert shared is await second.client.get_client()

    def other_loop() -> Any:
        async def run() -> Any:
            assert await first.get("k") == 1
            return await first.client.get_client()

        return asyncio.run(run())

    elsewhere = await asyncio.to_thread(other_loop)
    assert elsewhere is not shared
    # asyncio.run() shut that loop down: its cluster client was closed with it.
    assert elsewhere._closed
    assert await first.get("k") == 1


@pytest.mark.asyncio
async def test_connection_options(make_cache: Callable[..., Any]) -> None:
    cache = make_cache(
        OPTIONS={
            "SOCKET_TIMEOUT": 1.5,
            "SOCKET_CONNECT_TIMEOUT": 0.5,
            "CONNECTION_POOL_KWARGS": {"max_connections": 17},
            "PARSER_CLASS": "valkey.connection._RESP2Parser",
        }
    )
    await cache.set_many({f"key:{i}": i for i in range(20)})
    cluster_client = await cache.client.get_client()
    for node in cluster_client.get_nodes():
        assert node.max_connections == 17
        assert node.connection_kwargs["socket_timeout"] == 1.5
        assert node.connection_kwargs["socket_connect_timeout"] == 0.5
        parser = node.connection_kwargs["parser_class"]
        assert parser.__name__ == "_AsyncRESP2Parser" or "MOVED" in parser.EXCEPTION_CLASSES
    with pytest.raises(Exception, match="does not accept"):
        await make_cache(OPTIONS={"CONNECTION_POOL_KWARGS": {"nonsense": 1}}).get("k")


@pytest.mark.asyncio
async def test_package_parser(make_cache: Callable[..., Any]) -> None:
    from django_valkey.parsers import AsyncClusterParser

    cache = make_cache(OPTIONS={"PARSER_CLASS": "django_valkey.parsers.Parser"})
    data = {f"key:{i}": [i] for i in range(30)}
    await cache.set_many(data)
    assert await cache.get_many(data) == data
    assert await cache.get("key:3") == [3]
    cluster_client = await cache.client.get_client()
    assert {node.connection_kwargs["parser_class"] for node in cluster_client.get_nodes()} == {
        AsyncClusterParser
    }


@pytest.mark.asyncio
async def test_unreachable_cluster(make_cache: Callable[..., Any]) -> None:
    location = f"valkey://127.0.0.1:{free_port()}"
    failing = make_cache(location=location)
    with pytest.raises(valkey.exceptions.ConnectionError):
        await failing.get("k")
    ignoring = make_cache(location=location, OPTIONS={"IGNORE_EXCEPTIONS": True})
    assert await ignoring.get("k", "default") == "default"
    assert await ignoring.get_many(["a"]) == {}
    assert await ignoring.mget_nonatomic(["a"]) == {}
    assert await ignoring.set("k", 1) is None
    assert [k async for k in ignoring.iter_keys("*")] == []


# The sync backend's native a* methods ---------------------------------------------


@pytest.mark.asyncio
async def test_sync_backend_async_methods_are_native(
    make_cache: Callable[..., Any], cluster: ClusterTopology
) -> None:
    cache = make_cache(backend=SYNC_BACKEND)
    for name in ("aget", "aset", "aget_many", "aset_many", "adelete_many", "aclear"):
        assert getattr(type(cache), name) is not getattr(BaseCache, name)
    data = {f"key:{i}": i for i in range(50)}
    assert await cache.aset_many(data, timeout=30) == []
    assert cache.get_many(data) == data
    assert await cache.aget_many(data) == data
    assert isinstance(await cache.async_client.get_client(), AsyncValkeyCluster)
    await cache.aclose()
