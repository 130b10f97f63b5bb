"""The herd client: thundering-herd protection (see ``operations/herd.py``)."""

from __future__ import annotations

from django_valkey.base_client import HerdCommonMethods, Marker, _is_expired, bind_commands
from django_valkey.client.default import DefaultClient
from django_valkey.driver import sync_command
from django_valkey.operations.herd import HERD_COMMANDS

__all__ = ["HerdClient", "Marker", "_is_expired"]


class HerdClient(HerdCommonMethods, DefaultClient):
    """``DefaultClient`` whose values carry a soft deadline (``CACHE_HERD_TIMEOUT``)."""


bind_commands(HerdClient, HERD_COMMANDS, sync_command)
