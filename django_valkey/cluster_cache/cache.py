"""The sync cluster backend:
``CACHES[...]["BACKEND"] = "django_valkey.cluster_cache.cache.ClusterValkeyCache"``.

``LOCATION`` names one or more cluster nodes (``valkey://host:port``); the
rest of the cluster is discovered.  Every cache method works across hash
slots (see ``router.py``), and ``IGNORE_EXCEPTIONS`` applies as on
``ValkeyCache``.
"""

from __future__ import annotations

from typing import Any

from valkey.cluster import ValkeyCluster

from django_valkey.base import (
    BackendCommands,
    BaseValkeyCache,
    decorate_all_methods,
    omit_exception,
)
from django_valkey.cluster_cache.client import AsyncDefaultClusterClient, DefaultClusterClient

__all__ = ["ClusterCommands", "ClusterValkeyCache", "DecoratedClusterCommands"]


def _no_values(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[Any, Any]:
    return {}


class ClusterCommands:
    """The cluster backend's extra methods (django-valkey's names), forwarded
    to the client."""

    client: Any

    def msetnx(self, *args: Any, **kwargs: Any) -> Any:
        """Store every item if none of the keys exists (keys in one hash slot)."""
        return self.client.msetnx(*args, **kwargs)

    @omit_exception(fallback=_no_values)
    def mget_nonatomic(self, *args: Any, **kwargs: Any) -> Any:
        """``get_many``: ``MGET`` per hash slot."""
        return self.client.mget_nonatomic(*args, **kwargs)

    def mset_nonatomic(self, *args: Any, **kwargs: Any) -> Any:
        """``MSET`` per hash slot (not atomic across slots)."""
        return self.client.mset_nonatomic(*args, **kwargs)

    def readonly(self, *args: Any, **kwargs: Any) -> Any:
        """``READONLY`` on the given nodes (``"replicas"``: read from replicas)."""
        return self.client.readonly(*args, **kwargs)

    def readwrite(self, *args: Any, **kwargs: Any) -> Any:
        """``READWRITE``: read from primaries again."""
        return self.client.readwrite(*args, **kwargs)

    def keyslot(self, *args: Any, **kwargs: Any) -> Any:
        """The hash slot of a cache key."""
        return self.client.keyslot(*args, **kwargs)

    def flushall(self, *args: Any, **kwargs: Any) -> Any:
        """``FLUSHALL`` on every primary."""
        return self.client.flushall(*args, **kwargs)

    def invalidate_key_from_cache(self, *args: Any, **kwargs: Any) -> Any:
        """Drop a key (every key without one) from valkey-py's client-side cache."""
        return self.client.invalidate_key_from_cache(*args, **kwargs)


@decorate_all_methods(omit_exception)
class DecoratedClusterCommands(ClusterCommands, BackendCommands):
    """The cluster backend's methods with the ``IGNORE_EXCEPTIONS`` policy applied."""


class ClusterValkeyCache(
    BaseValkeyCache[DefaultClusterClient, ValkeyCluster], DecoratedClusterCommands
):
    """A Django cache on a Valkey Cluster (or Redis OSS Cluster).

    Its ``a*`` methods are native coroutines, run by an asyncio twin of the
    client (``AsyncDefaultClusterClient``) with one cluster client per event loop.
    """

    DEFAULT_CLIENT_CLASS = "django_valkey.cluster_cache.client.DefaultClusterClient"

    @property
    def async_client(self) -> AsyncDefaultClusterClient:
        """The asyncio twin of :attr:`client`, created on first use."""
        twin = self._async_client
        if twin is None:
            twin = AsyncDefaultClusterClient.twin_of(self.client)
            near = getattr(self.client, "_near", None)
            if near is not None:  # OPTIONS["NEAR_CACHE"]: the a* methods use it too
                from django_valkey.near.client import wrap_async_client

                twin = wrap_async_client(twin, near)
            self._async_client = twin
        return twin
