"""The asyncio cluster backend:
``CACHES[...]["BACKEND"] = "django_valkey.cluster_cache.async_cache.AsyncClusterValkeyCache"``.

The API of ``django_valkey.async_cache.cache.AsyncValkeyCache`` (every method
a coroutine, under its name and its ``a*`` name) on a Valkey Cluster, with
the cluster backend's extra methods.  Commands split per hash slot are sent
to the nodes concurrently.  django-valkey 0.4.1 has no async cluster backend.
"""

from __future__ import annotations

from valkey.asyncio.cluster import ValkeyCluster as AsyncValkeyCluster

from django_valkey.base import (
    AsyncBackendCommands,
    BaseValkeyCache,
    decorate_all_methods,
    omit_exception_async,
)
from django_valkey.cluster_cache.client import AsyncDefaultClusterClient
from django_valkey.generated.cluster_backend import AsyncClusterBackendAPI

__all__ = ["AsyncClusterCommands", "AsyncClusterValkeyCache", "DecoratedAsyncClusterCommands"]


class AsyncClusterCommands(AsyncClusterBackendAPI):
    """The cluster backend's extra methods, as coroutines (also under their
    ``a*`` names; generated: ``tools/generate_api.py``)."""


@decorate_all_methods(omit_exception_async)
class DecoratedAsyncClusterCommands(AsyncClusterCommands, AsyncBackendCommands):
    """The async cluster backend's methods with the ``IGNORE_EXCEPTIONS`` policy applied."""


class AsyncClusterValkeyCache(
    BaseValkeyCache[AsyncDefaultClusterClient, AsyncValkeyCluster], DecoratedAsyncClusterCommands
):
    """A Django cache on a Valkey Cluster for asyncio code.

    As with ``AsyncValkeyCache``, ``await cache.get(...)`` and ``await
    cache.aget(...)`` are the same coroutine function, ``iter_keys`` is an
    async generator and ``get_lock`` gives a ``valkey.asyncio.lock.Lock``.
    Each event loop has its own cluster client, closed when the loop shuts
    down.
    """

    DEFAULT_CLIENT_CLASS = "django_valkey.cluster_cache.client.AsyncDefaultClusterClient"
    is_async = True
