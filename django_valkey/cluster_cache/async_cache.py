"""The asyncio cluster backend:
``CACHES[...]["BACKEND"] = "django_valkey.cluster_cache.async_cache.AsyncClusterValkeyCache"``.

The API of ``django_valkey.async_cache.cache.AsyncValkeyCache`` (every method
a coroutine, under its name and its ``a*`` name) on a Valkey Cluster, with
the cluster backend's extra methods.  Commands split per hash slot are sent
to the nodes concurrently.  django-valkey 0.4.1 has no async cluster backend.
"""

from __future__ import annotations

from typing import Any

from valkey.asyncio.cluster import ValkeyCluster as AsyncValkeyCluster

from django_valkey.base import (
    AsyncBackendCommands,
    BaseValkeyCache,
    decorate_all_methods,
    omit_exception_async,
)
from django_valkey.cluster_cache.client import AsyncDefaultClusterClient

__all__ = ["AsyncClusterCommands", "AsyncClusterValkeyCache", "DecoratedAsyncClusterCommands"]


def _no_values(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[Any, Any]:
    return {}


class AsyncClusterCommands:
    """The cluster backend's extra methods, as coroutines."""

    client: Any

    async def msetnx(self, *args: Any, **kwargs: Any) -> Any:
        """Store every item if none of the keys exists (keys in one hash slot)."""
        return await self.client.msetnx(*args, **kwargs)

    @omit_exception_async(fallback=_no_values)
    async def mget_nonatomic(self, *args: Any, **kwargs: Any) -> Any:
        """``get_many``: ``MGET`` per hash slot, the nodes queried concurrently."""
        return await self.client.mget_nonatomic(*args, **kwargs)

    async def mset_nonatomic(self, *args: Any, **kwargs: Any) -> Any:
        """``MSET`` per hash slot (not atomic across slots)."""
        return await self.client.mset_nonatomic(*args, **kwargs)

    async def readonly(self, *args: Any, **kwargs: Any) -> Any:
        """``READONLY`` on the given nodes (``"replicas"``: read from replicas)."""
        return await self.client.readonly(*args, **kwargs)

    async def readwrite(self, *args: Any, **kwargs: Any) -> Any:
        """``READWRITE``: read from primaries again."""
        return await self.client.readwrite(*args, **kwargs)

    async def keyslot(self, *args: Any, **kwargs: Any) -> Any:
        """The hash slot of a cache key."""
        return await self.client.keyslot(*args, **kwargs)

    async def flushall(self, *args: Any, **kwargs: Any) -> Any:
        """``FLUSHALL`` on every primary."""
        return await self.client.flushall(*args, **kwargs)

    async def invalidate_key_from_cache(self, *args: Any, **kwargs: Any) -> Any:
        """Drop a key (every key without one) from valkey-py's client-side cache."""
        return await self.client.invalidate_key_from_cache(*args, **kwargs)

    # The same coroutines under their ``a*`` names, as every async command.
    amsetnx = msetnx
    amget_nonatomic = mget_nonatomic
    amset_nonatomic = mset_nonatomic
    areadonly = readonly
    areadwrite = readwrite
    akeyslot = keyslot
    aflushall = flushall
    ainvalidate_key_from_cache = invalidate_key_from_cache


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
