"""Asyncio clients (``OPTIONS["CLIENT_CLASS"]`` of ``AsyncValkeyCache``)."""

from django_valkey.async_cache.client.default import AsyncDefaultClient, AsyncHashClient
from django_valkey.async_cache.client.herd import AsyncHerdClient
from django_valkey.async_cache.client.sentinel import AsyncSentinelClient

__all__ = ["AsyncDefaultClient", "AsyncHerdClient", "AsyncSentinelClient"]

# AsyncHashClient is importable from here as in django-valkey, but not in __all__.
_ = AsyncHashClient
