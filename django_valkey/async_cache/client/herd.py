"""The asyncio herd client: the herd definitions (``operations/herd.py``) on
the async driver."""

from __future__ import annotations

from django_valkey.async_cache.client.default import AsyncDefaultClient
from django_valkey.base_client import HerdCommonMethods
from django_valkey.generated.herd_client import AsyncHerdAPI

__all__ = ["AsyncHerdClient"]


class AsyncHerdClient(HerdCommonMethods, AsyncHerdAPI, AsyncDefaultClient):
    """``AsyncDefaultClient`` with thundering-herd protection."""
