"""The asyncio Sentinel client: writes to the primary, reads to replicas."""

from __future__ import annotations

from typing import Any

from django_valkey.async_cache.client.default import AsyncDefaultClient
from django_valkey.client.sentinel import primary_and_replica

__all__ = ["AsyncSentinelClient"]


class AsyncSentinelClient(AsyncDefaultClient):
    """LOCATION is the service URL; one URL becomes a primary and a replica pool."""

    CONNECTION_FACTORY_PATH = "django_valkey.async_cache.pool.AsyncSentinelConnectionFactory"

    def __init__(self, server: Any, params: dict[str, Any], backend: Any) -> None:
        if isinstance(server, str) and "," not in server:
            server = primary_and_replica(server)
        super().__init__(server, params, backend)

    async def connect(self, index: int = 0) -> Any:
        from valkey.asyncio.sentinel import SentinelConnectionPool

        raw = await super().connect(index)
        if not isinstance(raw.connection_pool, SentinelConnectionPool):
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                "AsyncSentinelClient needs an asyncio SentinelConnectionPool "
                "(check CONNECTION_FACTORY / CONNECTION_POOL_CLASS)."
            )
        return raw
