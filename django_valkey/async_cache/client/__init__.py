"""Asyncio clients (``OPTIONS["CLIENT_CLASS"]`` of ``AsyncValkeyCache``)."""

from django_valkey.async_cache.client.default import AsyncDefaultClient, AsyncHashClient

__all__ = ["AsyncDefaultClient"]

# AsyncHashClient is importable from here as in django-valkey, but not in __all__.
_ = AsyncHashClient
