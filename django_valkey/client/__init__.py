"""Sync clients (``OPTIONS["CLIENT_CLASS"]``)."""

from django_valkey.client.default import DefaultClient, HashClient
from django_valkey.client.herd import HerdClient
from django_valkey.client.sentinel import SentinelClient
from django_valkey.client.sharded import ShardClient

__all__ = ["DefaultClient", "HerdClient", "SentinelClient", "ShardClient"]

# HashClient is importable from here as in django-valkey, but not in __all__.
_ = HashClient
