"""The asyncio backend:
``CACHES[...]["BACKEND"] = "django_valkey.async_cache.cache.AsyncValkeyCache"``."""

from __future__ import annotations

from valkey.asyncio.client import Valkey as AValkey

from django_valkey.async_cache.client.default import AsyncDefaultClient
from django_valkey.base import (
    AsyncBackendCommands,
    BaseValkeyCache,
    decorate_all_methods,
    omit_exception_async,
)

__all__ = ["AsyncValkeyCache", "DecoratedAsyncBackendCommands"]


@decorate_all_methods(omit_exception_async)
class DecoratedAsyncBackendCommands(AsyncBackendCommands):
    """``AsyncBackendCommands`` with the ``IGNORE_EXCEPTIONS`` policy applied."""


class AsyncValkeyCache(BaseValkeyCache[AsyncDefaultClient, AValkey], DecoratedAsyncBackendCommands):
    """A Django cache on Valkey for asyncio code, through valkey-py's asyncio client.

    As in django-valkey, every command is a coroutine under both names:
    ``await cache.get(...)`` and ``await cache.aget(...)`` are the same
    function; ``iter_keys``/``sscan_iter`` are async generators and
    ``get_lock`` returns a ``valkey.asyncio.lock.Lock``.  For code that must
    also run synchronously (middleware, templates), use
    ``django_valkey.cache.ValkeyCache``, which has native ``a*`` methods too.

    Connections belong to the event loop that opened them: each loop gets its
    own pools, closed when the loop shuts down (``asyncio.run``, ASGI
    servers, ``async_to_sync``).

    Closing: ``close()`` (also ``aclose``) keeps the name
    ``AsyncBackendCommands.close`` and is awaitable, as in django-valkey, but
    it is a plain method returning a :class:`~django_valkey.base_client.Closing`
    (a coroutine by protocol, so ``asyncio.run()`` and ``create_task()`` take
    it) rather than a coroutine function.  Django's own ``close_caches``
    receiver, which the package leaves connected, calls ``cache.close()``
    without awaiting it at the end of every request (under ASGI from a worker
    thread); here that starts the close (a no-op unless ``CLOSE_CONNECTION``)
    in the event loop owning the connections, and no coroutine is left
    un-awaited, so nothing warns under ASGI or WSGI.  ``await cache.close()``
    inside that loop waits until the connections are closed.
    """

    DEFAULT_CLIENT_CLASS = "django_valkey.async_cache.client.default.AsyncDefaultClient"
    is_async = True
