"""Sync clients (``OPTIONS["CLIENT_CLASS"]``)."""

from django_valkey.client.default import DefaultClient, HashClient

__all__ = ["DefaultClient"]

# HashClient is importable from here as in django-valkey, but not in __all__.
_ = HashClient
