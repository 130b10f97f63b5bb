"""The default asyncio client, its hash-command variant, and async twins of
sync clients (what gives the sync ``ValkeyCache`` its ``a*`` methods)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.utils.module_loading import import_string
from valkey.asyncio import Valkey as AValkey

from django_valkey.base_client import AsyncClientCommands, BaseClient, Closing
from django_valkey.commands.hash import AsyncHashCommands

__all__ = ["AsyncDefaultClient", "AsyncHashClient", "ThreadedTwin", "async_twin"]


class AsyncDefaultClient(BaseClient[AValkey], AsyncClientCommands[AValkey]):
    """LOCATION ``[primary, replica, ...]``, as ``DefaultClient``, on valkey-py's
    asyncio client."""

    CONNECTION_FACTORY_PATH = "django_valkey.async_cache.pool.AsyncConnectionFactory"


# AsyncHashCommands.hset takes other arguments than the legacy one (on purpose).
class AsyncHashClient(  # type: ignore[misc]
    BaseClient[AValkey], AsyncHashCommands, AsyncClientCommands[AValkey]
):
    """``AsyncDefaultClient`` with hash names and fields both made keys, and ``hget``."""

    CONNECTION_FACTORY_PATH = "django_valkey.async_cache.pool.AsyncConnectionFactory"


# Sync class -> its asyncio twin, by dotted path; the nearest entry in a
# class's MRO wins, None means "no asyncio twin" (a ThreadedTwin then).  A
# sync client whose commands differ from its base's must have its own entry
# (a herd client served by the plain twin would read its packed values back
# as tuples).
CLIENT_TWINS: dict[str, str | None] = {
    "django_valkey.client.default.DefaultClient": (
        "django_valkey.async_cache.client.default.AsyncDefaultClient"
    ),
    "django_valkey.client.default.HashClient": (
        "django_valkey.async_cache.client.default.AsyncHashClient"
    ),
    "django_valkey.client.herd.HerdClient": "django_valkey.async_cache.client.herd.AsyncHerdClient",
    "django_valkey.client.sentinel.SentinelClient": (
        "django_valkey.async_cache.client.sentinel.AsyncSentinelClient"
    ),
    "django_valkey.client.sharded.ShardClient": None,
    "django_valkey.cluster_cache.client.default.DefaultClusterClient": None,
}
FACTORY_TWINS: dict[str, str | None] = {
    "django_valkey.pool.ConnectionFactory": "django_valkey.async_cache.pool.AsyncConnectionFactory",
    "django_valkey.pool.SentinelConnectionFactory": (
        "django_valkey.async_cache.pool.AsyncSentinelConnectionFactory"
    ),
    "django_valkey.cluster_cache.pool.ClusterConnectionFactory": None,
}


def _twin_class(cls: type, table: dict[str, str | None]) -> Any:
    """The asyncio twin of ``cls`` from ``table`` (nearest in its MRO), or None."""
    for base in cls.__mro__:
        path = table.get(f"{base.__module__}.{base.__qualname__}", "")
        if path == "":
            continue
        if path is None:
            return None
        try:
            return import_string(path)
        except ImportError:
            return None
    return None


class ThreadedTwin:
    """Stands in for an asyncio twin where a sync client has none (shards,
    cluster, and clients whose async twin is not there): each command runs the
    sync one in a worker thread, as Django's ``BaseCache`` does.  It gives no
    raw asyncio client."""

    _plumbing = frozenset({"get_client", "get_client_with_index", "_get_client", "connect"})

    def __init__(self, client: Any) -> None:
        self._sync = client

    def __getattr__(self, name: str) -> Any:
        if name in self._plumbing:
            raise AttributeError(f"{type(self._sync).__name__} has no asyncio client")
        return sync_to_async(getattr(self._sync, name))

    async def iter_keys(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        keys = await sync_to_async(lambda: list(self._sync.iter_keys(*args, **kwargs)))()
        for key in keys:
            yield key

    async def sscan_iter(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        members = await sync_to_async(lambda: list(self._sync.sscan_iter(*args, **kwargs)))()
        for member in members:
            yield member

    async def close(self, **kwargs: Any) -> None:
        """Nothing of its own to close (the backend closes the sync client)."""

    def schedule_close(self) -> Any:
        return Closing()


def async_twin(client: Any) -> Any:
    """An asyncio client sharing ``client``'s servers, settings, codec and
    key maker, on the asyncio twin of its connection factory.

    The twin runs the very same command definitions through the async driver;
    only its raw clients (per event loop) and its factory are its own.  A
    client with no asyncio twin gets a :class:`ThreadedTwin`.
    """
    twin_cls = _twin_class(type(client), CLIENT_TWINS)
    factory_cls = _twin_class(type(client.connection_factory), FACTORY_TWINS)
    if twin_cls is None or factory_cls is None:
        return ThreadedTwin(client)
    twin = twin_cls.__new__(twin_cls)
    shared = {k: v for k, v in vars(client).items() if k not in ("_clients", "_bound")}
    twin.__dict__.update(shared)
    twin._bound = (None, [None] * len(client._server))
    twin.connection_factory = factory_cls(client._options)
    return twin
