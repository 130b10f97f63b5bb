"""The asyncio backend (``AsyncValkeyCache``) and raw asyncio client access."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["get_valkey_connection"]


async def get_valkey_connection(alias: str = "default", write: bool = True) -> Any:
    """The raw valkey-py asyncio client of the cache ``alias`` (for commands
    the cache API does not offer), on the running event loop.

    ``AsyncValkeyCache`` gives its own client's; the sync ``ValkeyCache``
    gives the one behind its ``a*`` methods.  Backends without async support
    raise ``TypeError``.
    """
    from django.core.cache import caches

    cache = caches[alias]
    client = getattr(cache, "client", None)
    if client is None or not hasattr(client, "get_client"):
        raise NotImplementedError("This backend does not support this feature")
    get_client = client.get_client
    if not inspect.iscoroutinefunction(get_client):
        # ValkeyCache: the asyncio twin behind its a* methods, if it has one.
        get_client = getattr(getattr(cache, "async_client", None), "get_client", None)
        if get_client is None:
            raise TypeError(
                f"the cache {alias!r} is sync only: use django_valkey.get_valkey_connection"
            )
    return await get_client(write)
