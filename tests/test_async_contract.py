"""Django's cache contract, held by ``AsyncValkeyCache`` on a real server.

The contract tests of ``test_django_contract.py`` are reused as they are: each
class here subclasses its twin there, and the ``api`` fixture below shows an
``AsyncValkeyCache`` whose ``a*`` coroutines run to completion on a loop of
the test's own.  (``ValkeyCache``'s ``a*`` methods already run through the
same tests there, in their "async" mode.)  The few tests that call the cache
synchronously are replaced by async twins.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio
from django.core.cache import CacheKeyWarning

from tests import test_django_contract as contract
from tests.test_django_contract import Api

ASYNC_BACKEND = "django_valkey.async_cache.cache.AsyncValkeyCache"

pytestmark = [
    pytest.mark.server,
    pytest.mark.filterwarnings("error::django.core.cache.backends.base.CacheKeyWarning"),
]


@pytest.fixture
def acache_factory(speedups: str, make_cache: Callable[..., Any]) -> Callable[..., Any]:
    return functools.partial(make_cache, backend=ASYNC_BACKEND)


@pytest.fixture
def raw(valkey_server: Any) -> Iterator[Any]:
    """A plain client on db 0, to look at what the cache really stored."""
    with valkey_server.client() as conn:
        yield conn


@pytest.fixture
def api(acache_factory: Callable[..., Any]) -> Iterator[Api]:
    """An ``AsyncValkeyCache`` seen through its coroutines (one loop per test)."""
    loop = asyncio.new_event_loop()
    view = Api(acache_factory(), loop, acache_factory)
    try:
        yield view
    finally:
        try:
            for made in view.wrapped:
                loop.run_until_complete(made.aclose())
            # Lets the pools of this loop close inside it.
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


class TestBasics(contract.TestBasics):
    pass


class TestMany(contract.TestMany):
    pass


class TestIncrDecr(contract.TestIncrDecr):
    def test_incr_is_atomic(self, api: Api) -> None:  # type: ignore[override]
        cache = api.cache

        async def bump() -> None:
            for _ in range(50):
                await cache.incr("counter")

        async def run() -> Any:
            await cache.set("counter", 0)
            await asyncio.gather(*(bump() for _ in range(8)))
            return await cache.get("counter")

        assert api.loop is not None
        assert api.loop.run_until_complete(run()) == 400


class TestValues(contract.TestValues):
    pass


class TestSerializationFailures(contract.TestSerializationFailures):
    pass


class TestTimeouts(contract.TestTimeouts):
    def test_get_backend_timeout_is_relative_seconds(  # type: ignore[override]
        self, api: Api
    ) -> None:
        cache = api.cache
        assert cache.get_backend_timeout(10) == 10
        assert cache.get_backend_timeout(-5) == 0
        assert cache.get_backend_timeout(None) is None
        assert cache.get_backend_timeout() == 300


class TestTouch(contract.TestTouch):
    pass


class TestGetOrSet(contract.TestGetOrSet):
    def test_returns_the_value_a_concurrent_writer_stored(  # type: ignore[override]
        self, api: Api, raw: Any
    ) -> None:
        def produce() -> str:
            # Another process fills the key between our miss and our add.
            raw.set(api.make_key("raced"), api.cache.client.encode("winner"))
            return "loser"

        assert api.get_or_set("raced", produce) == "winner"
        assert api.get("raced") == "winner"


class TestVersions(contract.TestVersions):
    pass


class TestKeys(contract.TestKeys):
    pass


class TestKeyValidation(contract.TestKeyValidation):
    pass


# Async-only behaviour, inside a running event loop ----------------------------------


@pytest_asyncio.fixture
async def acache(acache_factory: Callable[..., Any]) -> Any:
    cache = acache_factory()
    yield cache
    await cache.aclose()


@pytest.mark.asyncio
class TestInsideAnEventLoop:
    async def test_round_trip(self, acache: Any) -> None:
        await acache.set("key", "value")
        assert await acache.get("key") == "value"
        assert await acache.aget_many(k for k in ["key", "missing"]) == {"key": "value"}

    async def test_concurrent_calls_share_the_cache(self, acache: Any) -> None:
        await asyncio.gather(*(acache.set(f"key{i}", i) for i in range(50)))
        values = await asyncio.gather(*(acache.get(f"key{i}") for i in range(50)))
        assert values == list(range(50))
        await asyncio.gather(*(acache.incr("key0") for _ in range(20)))
        assert await acache.get("key0") == 20

    async def test_sync_and_async_backends_see_the_same_data(
        self, acache: Any, make_cache: Callable[..., Any]
    ) -> None:
        sync = make_cache()
        sync.set("from-sync", [1, 2])
        await acache.set("from-async", {"a": -1})
        assert await acache.get("from-sync") == [1, 2]
        assert sync.get("from-async") == {"a": -1}

    async def test_timeouts_match_the_sync_api(self, acache: Any, raw: Any) -> None:
        # The reference truncated 0.5 s to 0 (deleting) and stored set_many()
        # without expiry; the sync semantics hold here.
        await acache.set("key", "value", 0.5)
        assert await acache.get("key") == "value"
        assert 0 < raw.pttl(acache.make_key("key")) <= 500
        await acache.set_many({"many": 1})
        assert 290_000 < raw.pttl(acache.make_key("many")) <= 300_000

    async def test_key_warnings(self, acache: Any) -> None:
        with pytest.warns(CacheKeyWarning):
            await acache.set("key with spaces", 1)
        with pytest.warns(CacheKeyWarning):
            assert await acache.get("key with spaces") == 1
