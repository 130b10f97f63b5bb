"""The asyncio herd client: the herd definitions (``operations/herd.py``) on
the async driver."""

from __future__ import annotations

from django_valkey.async_cache.client.default import AsyncDefaultClient
from django_valkey.base_client import HerdCommonMethods, bind_commands
from django_valkey.driver import async_command
from django_valkey.operations.herd import HERD_COMMANDS

__all__ = ["AsyncHerdClient"]


class AsyncHerdClient(HerdCommonMethods, AsyncDefaultClient):
    """``AsyncDefaultClient`` with thundering-herd protection."""


bind_commands(AsyncHerdClient, HERD_COMMANDS, async_command)
