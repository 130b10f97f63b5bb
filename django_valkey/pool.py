"""Sync connection factories and the factory lookup."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from valkey import Valkey
from valkey.connection import ConnectionPool

from django_valkey.base_client import import_option
from django_valkey.base_pool import BaseConnectionFactory, freeze
from django_valkey.util import redact_url

__all__ = ["ConnectionFactory", "SentinelConnectionFactory", "get_connection_factory"]


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
        # Positional: valkey-py's BlockingConnectionPool names the flag "_"
        # (and closes every connection whatever it is given).
        connection.connection_pool.disconnect(False)

    def get_parser_cls(self) -> type:
        """``OPTIONS["PARSER_CLASS"]`` (or ``PARSER_CLS``), else valkey-py's default."""
        return self._parser_from_options("valkey.connection.DefaultParser")


def get_connection_factory(path: str | None = None, options: dict[str, Any] | None = None) -> Any:
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


def sentinel_pool_kwargs(url: str, kwargs: dict[str, Any]) -> tuple[str, bool, dict[str, Any]]:
    """``(service name, is_master, pool kwargs)`` for a sentinel LOCATION URL.

    The host part names the service (``valkey://mymaster/0``); ``?is_master=0``
    asks for a replica pool.  Everything else in the URL (db, credentials,
    query options) is parsed as valkey-py parses any URL.
    """
    from urllib.parse import urlparse

    from valkey.connection import parse_url

    service_name = urlparse(url).hostname
    if not service_name:
        raise ImproperlyConfigured(
            f"LOCATION {redact_url(url)!r} must name the sentinel service as its host"
        )
    options = dict(kwargs)
    options.update(parse_url(url))
    for ignored in ("host", "port", "path"):
        options.pop(ignored, None)
    flag = str(options.pop("is_master", "1")).strip().lower()
    return service_name, flag not in ("0", "false", "no", "off"), options


class SentinelOptions:
    """What the sync and async sentinel factories share: reading ``SENTINELS``
    / ``SENTINEL_KWARGS``, keying pools by the sentinel configuration, and
    building a sentinel pool for a service URL."""

    make_connection_params: Any
    pool_cls: Any
    pool_cls_kwargs: dict[str, Any]

    def _setup_sentinels(self, options: dict[str, Any]) -> None:
        sentinels = options.get("SENTINELS")
        if not sentinels or not all(
            isinstance(s, (list, tuple)) and len(s) == 2 for s in sentinels
        ):
            raise ImproperlyConfigured("SENTINELS must be provided as a list of (host, port).")
        self._sentinels = [tuple(s) for s in sentinels]
        self._sentinel_kwargs = options.get("SENTINEL_KWARGS")
        # The data connections' settings (parser, timeouts, password) apply to
        # the sentinel connections too unless SENTINEL_KWARGS says otherwise.
        kwargs = self.make_connection_params(None)
        kwargs.pop("url")
        kwargs.update(self.pool_cls_kwargs)
        self._manager_kwargs = kwargs
        self._sentinel_key = freeze((self._sentinels, self._sentinel_kwargs, kwargs))

    def _new_manager(self, sentinel_cls: Any) -> Any:
        return sentinel_cls(
            self._sentinels, sentinel_kwargs=self._sentinel_kwargs, **self._manager_kwargs
        )

    def _pool_key(self, params: dict[str, Any]) -> Any:
        return (super()._pool_key(params), self._sentinel_key)  # type: ignore[misc]

    def _sentinel_pool(self, params: dict[str, Any], manager: Any) -> Any:
        kwargs = {k: v for k, v in params.items() if k != "url"}
        kwargs.update(self.pool_cls_kwargs)
        service_name, is_master, options = sentinel_pool_kwargs(params["url"], kwargs)
        return self.pool_cls(service_name, manager, is_master=is_master, **options)


class SentinelConnectionFactory(SentinelOptions, ConnectionFactory):
    """Clients on ``SentinelConnectionPool``s: ``OPTIONS["SENTINELS"]`` lists
    the sentinels as ``(host, port)``; writes reach the primary, reads a replica."""

    path_pool_cls = "valkey.sentinel.SentinelConnectionPool"
    # One Sentinel manager per configuration, shared like the pools (a backend
    # instance is made per thread and per request context).
    _sentinel_managers: ClassVar[dict[Any, Any]] = {}

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self._setup_sentinels(options)
        from valkey.sentinel import Sentinel

        with self._pools_lock:
            manager = self._sentinel_managers.get(self._sentinel_key)
            if manager is None:
                manager = self._new_manager(Sentinel)
                self._sentinel_managers[self._sentinel_key] = manager
        self._sentinel = manager

    def get_connection_pool(self, params: dict[str, Any]) -> Any:
        return self._sentinel_pool(params, self._sentinel)
