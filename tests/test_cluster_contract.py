"""Django's cache contract, held by ``ClusterValkeyCache`` on a real cluster.

The contract is written once, in ``test_django_contract.py``; its test
classes run here again with the fixtures pointed at the shared six-node
cluster: ``cache``/``make_cache`` build cluster backends, ``raw`` is
valkey-py's own cluster client.  Every test runs through the sync methods
and the native ``a*`` coroutines (the ``api`` fixture), under both speedups
implementations.  A cluster has a single database, so the one test about
other databases is replaced by its cluster equivalent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.test import override_settings

from tests import test_django_contract as contract
from tests.cluster import (  # noqa: F401 - fixtures
    SYNC_BACKEND,
    ClusterTopology,
    cluster_fixture,
    make_cluster_cache_fixture,
)

# The contract's own fixtures, used here with the cluster's cache and raw client.
api = contract.api
acache = contract.acache

pytestmark = [
    pytest.mark.server,
    pytest.mark.slow,
    pytest.mark.filterwarnings("error::django.core.cache.backends.base.CacheKeyWarning"),
]


@pytest.fixture
def make_cache(make_cluster_cache: Callable[..., Any]) -> Callable[..., Any]:
    """The contract's ``make_cache``, building cluster backends."""

    def factory(backend: str = SYNC_BACKEND, location: Any = None, **params: Any) -> Any:
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
def django_caches(cluster: ClusterTopology) -> Iterator[Any]:
    """``settings.CACHES`` on the cluster: "default" and "other" (another prefix)."""
    cluster.flushall()
    settings_caches = {
        "default": {"BACKEND": SYNC_BACKEND, "LOCATION": cluster.url},
        "other": {"BACKEND": SYNC_BACKEND, "LOCATION": cluster.url, "KEY_PREFIX": "other"},
    }
    with override_settings(CACHES=settings_caches):
        yield caches


class TestBasics(contract.TestBasics):
    # A cluster has one database: that promise does not apply (not collected).
    test_clear_leaves_other_databases_alone = None  # type: ignore[assignment]

    def test_clear_empties_every_primary(self, api: Any, cluster: ClusterTopology) -> None:
        api.set_many({f"key{i}": i for i in range(40)})
        assert all(node.client().dbsize() for node in cluster.primaries())
        assert api.clear() is True
        assert cluster.dbsize() == 0


class TestMany(contract.TestMany):
    pass


class TestIncrDecr(contract.TestIncrDecr):
    pass


class TestValues(contract.TestValues):
    pass


class TestSerializationFailures(contract.TestSerializationFailures):
    pass


class TestTimeouts(contract.TestTimeouts):
    pass


class TestTouch(contract.TestTouch):
    pass


class TestGetOrSet(contract.TestGetOrSet):
    pass


class TestVersions(contract.TestVersions):
    pass


class TestKeys(contract.TestKeys):
    pass


class TestKeyValidation(contract.TestKeyValidation):
    pass


class TestBackendClass(contract.TestBackendClass):
    def test_usable_through_django_caches(self, speedups: str, django_caches: Any) -> None:
        from django.core.cache import cache as default_cache

        from django_valkey.cluster_cache.cache import ClusterValkeyCache

        assert isinstance(caches["default"], ClusterValkeyCache)
        caches["default"].set("key", "default")
        caches["other"].set("key", "other")
        assert default_cache.get("key") == "default"
        assert caches["other"].get("key") == "other"


class TestInsideAnEventLoop(contract.TestInsideAnEventLoop):
    pass
