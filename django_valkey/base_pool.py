"""Connection factories: from a LOCATION URL and OPTIONS to a pooled client.

Pools live for the whole process and are shared by every cache instance
(Django makes one per thread), keyed by everything that changes a connection:
the factory class, the pool and client classes, the URL and every connection
parameter.  Two caches that differ in any option never share a pool; a sync
and an async factory never do either.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Hashable
from typing import Any, ClassVar, Generic, TypeVar

from django.core.exceptions import ImproperlyConfigured

from django_valkey import __version__
from django_valkey.base_client import import_option

LIB_NAME = "django-valkey"

Base = TypeVar("Base")
Pool = TypeVar("Pool")


def freeze(value: Any) -> Hashable:
    """A hashable stand-in for ``value`` (dicts, lists and sets included), for pool keys."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(repr(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("unhashable", type(value).__qualname__, id(value))
    return value


# One provider per (class, kwargs) for the process: the provider is part of
# the pool key, so a new instance per backend would mean a new pool each time.
_providers: dict[Hashable, Any] = {}
_providers_lock = threading.Lock()


def credential_provider(options: dict[str, Any]) -> Any:
    """The shared instance ``OPTIONS["CREDENTIAL_PROVIDER"]`` names (None: unset).

    valkey-py asks it for ``(username, password)`` on every new connection,
    so a provider that returns rotated credentials is all rotation needs.
    """
    path = options.get("CREDENTIAL_PROVIDER")
    if not path:
        return None
    kwargs = options.get("CREDENTIAL_PROVIDER_KWARGS") or {}
    if not isinstance(kwargs, dict):
        raise ImproperlyConfigured(
            f"OPTIONS['CREDENTIAL_PROVIDER_KWARGS'] must be a dict, not {type(kwargs).__name__}"
        )
    cls = import_option(path, "OPTIONS['CREDENTIAL_PROVIDER']")
    if not callable(getattr(cls, "get_credentials", None)):
        raise ImproperlyConfigured(
            f"OPTIONS['CREDENTIAL_PROVIDER']: {path!r} has no get_credentials() "
            "(expected a valkey.credentials.CredentialProvider)"
        )
    key = (cls, freeze(kwargs))
    with _providers_lock:
        provider = _providers.get(key)
        if provider is None:
            provider = _providers[key] = cls(**kwargs)
    return provider


class BaseConnectionFactory(Generic[Base, Pool]):
    """Creates raw valkey-py clients on shared pools.

    Subclasses set ``path_pool_cls`` and ``path_base_cls`` and implement
    ``connect``, ``disconnect``, ``get_connection`` (sync or async) and
    ``get_parser_cls`` (sync; returns a class).
    """

    path_pool_cls: str
    path_base_cls: str

    # Process-wide: Django builds a new client per thread and per request.
    _pools: ClassVar[dict[Hashable, Any]] = {}
    _pools_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.pool_cls = import_option(
            options.get("CONNECTION_POOL_CLASS", self.path_pool_cls),
            "OPTIONS['CONNECTION_POOL_CLASS']",
        )
        self.pool_cls_kwargs: dict[str, Any] = dict(options.get("CONNECTION_POOL_KWARGS") or {})
        self.base_client_cls = import_option(
            options.get("BASE_CLIENT_CLASS", self.path_base_cls), "OPTIONS['BASE_CLIENT_CLASS']"
        )
        self.base_client_cls_kwargs: dict[str, Any] = dict(options.get("BASE_CLIENT_KWARGS") or {})

    def make_connection_params(self, url: str | None) -> dict[str, Any]:
        """The keyword arguments of ``pool_cls.from_url`` for ``url``."""
        params: dict[str, Any] = {"url": url, "parser_class": self.get_parser_cls()}
        for option, kwarg in (
            ("SOCKET_TIMEOUT", "socket_timeout"),
            ("SOCKET_CONNECT_TIMEOUT", "socket_connect_timeout"),
        ):
            value = self.options.get(option)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ImproperlyConfigured(
                    f"OPTIONS['{option}'] must be a number of seconds (int or float), not {value!r}"
                )
            params[kwarg] = value
        password = self.options.get("PASSWORD")
        if password:
            params["password"] = password
        provider = credential_provider(self.options)
        if provider is not None:
            params["credential_provider"] = provider
        # CLIENT SETINFO on connect: CLIENT LIST and server dashboards show
        # who holds the connection (CONNECTION_POOL_KWARGS may override).
        params["lib_name"] = LIB_NAME
        params["lib_version"] = __version__
        return params

    def get_connection_pool(self, params: dict[str, Any]) -> Pool:
        """A new pool; the URL's own query arguments win over the kwargs."""
        kwargs = dict(params)
        kwargs.update(self.pool_cls_kwargs)
        return self.pool_cls.from_url(**kwargs)

    def _pool_key(self, params: dict[str, Any]) -> Hashable:
        return (
            type(self),
            self.pool_cls,
            self.base_client_cls,
            freeze(params),
            freeze(self.pool_cls_kwargs),
        )

    def _pools_per_event_loop(self) -> bool:
        """Whether this factory makes asyncio connections: an async
        ``connect``/``get_connection`` or an asyncio pool class."""
        cached = self.__dict__.get("_per_loop")
        if cached is None:
            from valkey.asyncio.connection import ConnectionPool as AsyncPool

            cls = type(self)
            cached = (
                inspect.iscoroutinefunction(cls.connect)
                or inspect.iscoroutinefunction(cls.get_connection)
                or (isinstance(self.pool_cls, type) and issubclass(self.pool_cls, AsyncPool))
            )
            self._per_loop = cached
        return cached

    def get_or_create_connection_pool(self, params: dict[str, Any]) -> Pool:
        """The shared pool for these parameters, created on first use.

        An asyncio pool belongs to the event loop it was made in (its
        connections' futures do), so for an asyncio factory, whatever the
        subclass, pools are kept per running loop and closed with it: a
        second ``asyncio.run`` gets fresh pools.  Must then be called inside
        a running loop.
        """
        if self._pools_per_event_loop():
            from django_valkey.async_cache.pool import loop_resources

            pools = loop_resources()
            key = self._pool_key(params)
            pool = pools.get(key)
            if pool is None:
                pool = pools[key] = self.get_connection_pool(params)
            return pool
        key = self._pool_key(params)
        pool = self._pools.get(key)
        if pool is None:
            with self._pools_lock:
                pool = self._pools.get(key)
                if pool is None:
                    pool = self._pools[key] = self.get_connection_pool(params)
        return pool

    def connect(self, url: str) -> Any:
        raise NotImplementedError

    def disconnect(self, connection: Any) -> Any:
        raise NotImplementedError

    def get_connection(self, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def get_parser_cls(self) -> type:
        raise NotImplementedError

    def _parser_from_options(self, default: str) -> type:
        # PARSER_CLASS (the sync spelling) and PARSER_CLS (async, cluster) are
        # both accepted by every factory.
        for option in ("PARSER_CLASS", "PARSER_CLS"):
            if self.options.get(option):
                return import_option(self.options[option], f"OPTIONS['{option}']")
        return import_option(default, "PARSER_CLASS")
