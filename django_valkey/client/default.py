"""The default sync client, and its variant with the current hash commands."""

from __future__ import annotations

from valkey import Valkey

from django_valkey.base_client import BaseClient, ClientCommands
from django_valkey.commands.hash import HashCommands

__all__ = ["DefaultClient", "HashClient"]


class DefaultClient(BaseClient[Valkey], ClientCommands[Valkey]):
    """LOCATION ``[primary, replica, ...]``: writes go to the primary, reads
    to a replica (or the primary when it is alone)."""

    CONNECTION_FACTORY_PATH = "django_valkey.pool.ConnectionFactory"


# HashCommands.hset takes other arguments than the legacy one (on purpose).
class HashClient(BaseClient[Valkey], HashCommands, ClientCommands[Valkey]):  # type: ignore[misc]
    """``DefaultClient`` with hash names and fields both made keys, and ``hget``."""

    CONNECTION_FACTORY_PATH = "django_valkey.pool.ConnectionFactory"
