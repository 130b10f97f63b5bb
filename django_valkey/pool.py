"""Sync connection factories and the factory lookup."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from valkey import Valkey
from valkey.connection import ConnectionPool

from django_valkey.base_client import import_option
from django_valkey.base_pool import BaseConnectionFactory

__all__ = ["ConnectionFactory", "get_connection_factory"]


class ConnectionFactory(BaseConnectionFactory[Valkey, ConnectionPool]):
    """valkey-py ``Valkey`` clients on shared ``ConnectionPool``s."""

    path_pool_cls = "valkey.connection.ConnectionPool"
    path_base_cls = "valkey.client.Valkey"

    def connect(self, url: str) -> Valkey:
        """A raw client for ``url``."""
        return self.get_connection(self.make_connection_params(url))

    def get_connection(self, params: dict[str, Any]) -> Valkey:
        pool = self.get_or_create_connection_pool(params)
        return self.base_client_cls(connection_pool=pool, **self.base_client_cls_kwargs)

    def disconnect(self, connection: Any) -> None:
        """Close the pool's idle connections; connections that other threads
        are using are left to finish (the pool is shared)."""
        connection.connection_pool.disconnect(inuse_connections=False)

    def get_parser_cls(self) -> type:
        """``OPTIONS["PARSER_CLASS"]`` (or ``PARSER_CLS``), else valkey-py's default."""
        return self._parser_from_options("valkey.connection.DefaultParser")


def get_connection_factory(
    path: str | None = None, options: dict[str, Any] | None = None
) -> Any:
    """The factory for a cache: ``OPTIONS["CONNECTION_FACTORY"]``, else the
    ``DJANGO_VALKEY_CONNECTION_FACTORY`` setting, else ``path``."""
    options = options or {}
    chosen = (
        options.get("CONNECTION_FACTORY")
        or getattr(settings, "DJANGO_VALKEY_CONNECTION_FACTORY", None)
        or path
        or "django_valkey.pool.ConnectionFactory"
    )
    setting = (
        "OPTIONS['CONNECTION_FACTORY']"
        if options.get("CONNECTION_FACTORY")
        else "DJANGO_VALKEY_CONNECTION_FACTORY"
    )
    return import_option(chosen, setting)(options)
