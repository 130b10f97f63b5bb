"""The sync cluster backend:
``CACHES[...]["BACKEND"] = "django_valkey.cluster_cache.cache.ClusterValkeyCache"``.

``LOCATION`` names one or more cluster nodes (``valkey://host:port``); the
rest of the cluster is discovered.  Every cache method works across hash
slots (see ``router.py``), and ``IGNORE_EXCEPTIONS`` applies as on
``ValkeyCache``.
"""

from __future__ import annotations

from valkey.cluster import ValkeyCluster

from django_valkey.base import (
    BackendCommands,
    BaseValkeyCache,
    decorate_all_methods,
    omit_exception,
)
from django_valkey.cluster_cache.client import AsyncDefaultClusterClient, DefaultClusterClient
from django_valkey.generated.cluster_backend import ClusterBackendAPI

__all__ = ["ClusterCommands", "ClusterValkeyCache", "DecoratedClusterCommands"]


class ClusterCommands(ClusterBackendAPI):
    """The cluster backend's extra methods (django-valkey's names), forwarded
    to the client (generated: ``tools/generate_api.py``)."""


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
