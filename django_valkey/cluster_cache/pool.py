"""Connection factories for Valkey Cluster: one shared cluster client per settings.

A ``ValkeyCluster`` discovers the topology when it is built (``CLUSTER
SLOTS``) and keeps a connection pool per node, so it is built once per
process and shared by every cache instance (Django makes one per thread)
whose settings are the same: it is keyed by the factory class, the client
class, every LOCATION URL and every connection option.  valkey-py's sync
cluster client is thread-safe; an asyncio cluster client belongs to the
event loop it runs in, so the async factory keeps one per loop.

The OPTIONS a plain cache honours apply here too: ``SOCKET_TIMEOUT``,
``SOCKET_CONNECT_TIMEOUT``, ``PASSWORD`` (a password in the URL wins),
``CONNECTION_POOL_KWARGS``, ``CONNECTION_POOL_CLASS`` (sync), ``BASE_CLIENT_KWARGS``
and the parser (``PARSER_CLASS`` or ``PARSER_CLS``).  valkey-py gives every
cluster connection its ``ClusterParser`` (a parser that knows ``MOVED``,
``ASK``...); a user parser is given the same error classes in a subclass,
and installed on each connection once it is set up.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any, ClassVar
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured
from valkey.cluster import ClusterParser as SyncClusterParser
from valkey.cluster import ValkeyCluster
from valkey.connection import ConnectionPool
from valkey.connection import DefaultParser as SyncDefaultParser

from django_valkey.async_cache.pool import loop_resources
from django_valkey.base_pool import BaseConnectionFactory, freeze
from django_valkey.util import redact_url

__all__ = ["AsyncClusterConnectionFactory", "ClusterConnectionFactory", "cluster_parser"]

_CLUSTER_ERRORS = SyncClusterParser.EXCEPTION_CLASSES


def _package_parsers() -> dict[type, type]:
    """This package's parsers -> their cluster and asyncio counterparts."""
    try:
        from django_valkey import parsers
    except ImportError:  # pragma: no cover - a build without the module
        return {}
    return {
        parsers.Parser: parsers.ClusterParser,
        parsers.AsyncParser: parsers.AsyncClusterParser,
    }


def _package_async_parsers() -> dict[type, type]:
    try:
        from django_valkey import parsers
    except ImportError:  # pragma: no cover
        return {}
    return {
        parsers.Parser: parsers.AsyncParser,
        parsers.ClusterParser: parsers.AsyncClusterParser,
    }


@functools.cache
def cluster_parser(parser_cls: type) -> type:
    """``parser_cls`` able to raise ``MovedError``, ``AskError``... as
    valkey-py's cluster client needs: this package's ``ClusterParser`` for its
    ``Parser``, else a subclass, unless the class already can."""
    known = _package_parsers().get(parser_cls)
    if known is not None:
        return known
    errors = getattr(parser_cls, "EXCEPTION_CLASSES", None)
    if errors is None or all(code in errors for code in _CLUSTER_ERRORS):
        return parser_cls
    return type(
        f"Cluster{parser_cls.__name__}",
        (parser_cls,),
        {"EXCEPTION_CLASSES": {**errors, **_CLUSTER_ERRORS}, "__module__": __name__},
    )


def _urls(url: str | Sequence[str]) -> list[str]:
    return [url] if isinstance(url, str) else list(url)


def _host_port(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    if not parsed.hostname:
        raise ImproperlyConfigured(
            f"LOCATION {redact_url(url)!r} must name a cluster node (host:port)"
        )
    return parsed.hostname, parsed.port or 6379


class _SharedClusters:
    """Process-wide sync cluster clients, created once per key."""

    clusters: ClassVar[dict[Hashable, Any]] = {}
    lock: ClassVar[threading.Lock] = threading.Lock()
    creating: ClassVar[dict[Hashable, threading.Lock]] = {}


class ClusterConnectionFactory(BaseConnectionFactory[ValkeyCluster, ConnectionPool]):
    """Shared ``valkey.cluster.ValkeyCluster`` clients.

    ``connect(url)`` takes one LOCATION URL or the whole LOCATION list: the
    first URL configures the connections, every URL is a startup node.
    """

    path_pool_cls = "valkey.connection.ConnectionPool"
    path_base_cls = "valkey.cluster.ValkeyCluster"

    def connect(self, url: str | Sequence[str]) -> ValkeyCluster:
        """The shared cluster client for ``url`` (created on first use)."""
        urls = _urls(url)
        params = self.make_connection_params(urls[0])
        if len(urls) > 1:
            params["startup_nodes"] = tuple(urls[1:])
        return self.get_connection(params)

    def get_connection(self, params: dict[str, Any]) -> ValkeyCluster:
        key = self._pool_key(params)
        cluster = _SharedClusters.clusters.get(key)
        if cluster is not None:
            return cluster
        with _SharedClusters.lock:
            creating = _SharedClusters.creating.setdefault(key, threading.Lock())
        # Discovery does network I/O: hold only this key's lock meanwhile.
        with creating:
            cluster = _SharedClusters.clusters.get(key)
            if cluster is None:
                cluster = _SharedClusters.clusters[key] = self.create_cluster(params)
        return cluster

    def _pool_key(self, params: dict[str, Any]) -> Hashable:
        return (super()._pool_key(params), freeze(self.base_client_cls_kwargs))

    def create_cluster(self, params: dict[str, Any]) -> ValkeyCluster:
        """A new cluster client (topology discovery included)."""
        from valkey.cluster import ClusterNode

        kwargs = dict(params)
        url = kwargs.pop("url")
        parser = kwargs.pop("parser_class")
        startup = [ClusterNode(*_host_port(u)) for u in kwargs.pop("startup_nodes", ())]
        kwargs.update(self.pool_cls_kwargs)
        if "CONNECTION_POOL_CLASS" in self.options:
            kwargs["connection_pool_class"] = self.pool_cls
        kwargs.update(self.base_client_cls_kwargs)
        if parser not in (SyncDefaultParser, SyncClusterParser):
            kwargs["valkey_connect_func"] = _installing_parser(
                cluster_parser(parser), kwargs.get("valkey_connect_func")
            )
        return self.base_client_cls(url=url, startup_nodes=startup or None, **kwargs)

    @classmethod
    def forget_all(cls) -> None:
        """Close and forget every shared cluster client of the process (tests
        that stop a cluster use this; so may code that knows a whole cluster
        was replaced)."""
        with _SharedClusters.lock:
            clusters = list(_SharedClusters.clusters.values())
            _SharedClusters.clusters.clear()
            _SharedClusters.creating.clear()
        for cluster in clusters:
            with contextlib.suppress(Exception):
                cluster.close()

    def disconnect(self, connection: Any) -> None:
        """Close the idle connections of every node; connections other threads
        are using are left to finish (the client is shared)."""
        for node in connection.get_nodes():
            raw = node.valkey_connection
            if raw is not None:
                raw.connection_pool.disconnect(inuse_connections=False)

    def get_parser_cls(self) -> type:
        """``OPTIONS["PARSER_CLS"]`` (or ``PARSER_CLASS``), else valkey-py's default."""
        return self._parser_from_options("valkey.connection.DefaultParser")


def _installing_parser(
    parser_cls: type, then: Callable[[Any], Any] | None
) -> Callable[[Any], None]:
    """A ``valkey_connect_func`` giving each new connection ``parser_cls``.

    valkey-py sets its own ClusterParser before the handshake; once the
    handshake is done (nothing left to read) the parser is replaced.
    """

    def on_connect(connection: Any) -> None:
        connection.set_parser(parser_cls)
        connection._parser.on_connect(connection)
        if then is not None:
            then(connection)

    return on_connect


def _forget_after_fork() -> None:
    # A child never uses its parent's sockets (the per-loop clients are
    # forgotten by django_valkey.async_cache.pool's own fork hook).
    with contextlib.suppress(Exception):
        _SharedClusters.lock = threading.Lock()
        _SharedClusters.creating.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def _asyncio_parser(parser: type) -> type:
    """An asyncio parser for ``parser`` (valkey-py's sync parsers have twins)."""
    from valkey._parsers import (
        _AsyncLibvalkeyParser,
        _AsyncRESP2Parser,
        _AsyncRESP3Parser,
        _LibvalkeyParser,
        _RESP2Parser,
        _RESP3Parser,
    )
    from valkey._parsers.base import AsyncBaseParser, BaseParser

    if not isinstance(parser, type) or issubclass(parser, AsyncBaseParser):
        return parser
    if not issubclass(parser, BaseParser):
        return parser  # not valkey-py's: trust it
    twins = {
        _RESP2Parser: _AsyncRESP2Parser,
        _RESP3Parser: _AsyncRESP3Parser,
        _LibvalkeyParser: _AsyncLibvalkeyParser,
        SyncClusterParser: _AsyncLibvalkeyParser
        if SyncDefaultParser is _LibvalkeyParser
        else _AsyncRESP2Parser,
    }
    twin = twins.get(parser) or _package_async_parsers().get(parser)
    if twin is None:
        raise ImproperlyConfigured(
            f"OPTIONS['PARSER_CLASS']: {parser.__module__}.{parser.__qualname__} is a sync "
            "parser with no asyncio twin; the async cluster client needs an asyncio one"
        )
    return twin


class AsyncClusterConnectionFactory(BaseConnectionFactory[Any, Any]):
    """Shared ``valkey.asyncio.cluster.ValkeyCluster`` clients, one per event loop.

    ``cluster_for()`` returns the running loop's client without I/O;
    ``connect()`` also initialises it (topology discovery).  A loop's clients
    are closed when the loop shuts down.  Sync valkey-py classes in OPTIONS
    (the sync cluster client, sync parsers) are replaced by their asyncio
    twins, so one CACHES entry serves the sync backend's ``a*`` methods too;
    ``CONNECTION_POOL_CLASS`` has no asyncio meaning (valkey-py's asyncio
    cluster nodes keep their own connections) and is ignored.
    """

    path_pool_cls = "valkey.asyncio.connection.ConnectionPool"
    path_base_cls = "valkey.asyncio.cluster.ValkeyCluster"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        if isinstance(self.base_client_cls, type) and issubclass(
            self.base_client_cls, ValkeyCluster
        ):
            if self.base_client_cls is not ValkeyCluster:
                raise ImproperlyConfigured(
                    "OPTIONS['BASE_CLIENT_CLASS']: the async cluster client needs a "
                    "valkey.asyncio.cluster.ValkeyCluster, not a sync one"
                )
            from valkey.asyncio.cluster import ValkeyCluster as AsyncValkeyCluster

            self.base_client_cls = AsyncValkeyCluster

    async def connect(self, url: str | Sequence[str]) -> Any:
        """The running loop's shared cluster client for ``url``, initialised."""
        return await self.cluster_for(url).initialize()

    def cluster_for(self, url: str | Sequence[str]) -> Any:
        """The running loop's shared cluster client for ``url``, maybe not
        initialised (no I/O)."""
        urls = _urls(url)
        params = self.make_connection_params(urls[0])
        if len(urls) > 1:
            params["startup_nodes"] = tuple(urls[1:])
        return self.get_connection(params)

    def get_connection(self, params: dict[str, Any]) -> Any:
        clusters = loop_resources()
        key = (
            type(self),
            self.base_client_cls,
            freeze(params),
            freeze(self.pool_cls_kwargs),
            freeze(self.base_client_cls_kwargs),
        )
        cluster = clusters.get(key)
        if cluster is None:
            cluster = clusters[key] = self.create_cluster(params)
        return cluster

    def create_cluster(self, params: dict[str, Any]) -> Any:
        """A new asyncio cluster client (not initialised: no I/O yet)."""
        from valkey.asyncio.cluster import ClusterNode
        from valkey.asyncio.connection import SSLConnection
        from valkey.connection import parse_url

        kwargs = dict(params)
        url = kwargs.pop("url")
        parser = kwargs.pop("parser_class")
        startup = [ClusterNode(*_host_port(u)) for u in kwargs.pop("startup_nodes", ())]
        kwargs.update(self.pool_cls_kwargs)
        kwargs.update(self.base_client_cls_kwargs)
        # The URL's own options win, as in valkey-py's from_url.
        kwargs.update(parse_url(url))
        if kwargs.pop("connection_class", None) is SSLConnection:
            kwargs["ssl"] = True
        self._check_kwargs(kwargs)
        cluster = self.base_client_cls(startup_nodes=startup or None, **kwargs)
        self._use_parser(cluster, parser)
        return cluster

    def _check_kwargs(self, kwargs: dict[str, Any]) -> None:
        accepted = inspect.signature(self.base_client_cls).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
            return
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise ImproperlyConfigured(
                f"{self.base_client_cls.__qualname__} does not accept "
                f"{', '.join(unknown)} (from the LOCATION URL, CONNECTION_POOL_KWARGS "
                "or BASE_CLIENT_KWARGS)"
            )

    @staticmethod
    def _use_parser(cluster: Any, parser: type) -> None:
        from valkey.asyncio.cluster import ClusterParser as AsyncClusterParser
        from valkey.asyncio.connection import DefaultParser as AsyncDefaultParser

        if parser in (AsyncDefaultParser, AsyncClusterParser):
            return
        # valkey-py's asyncio cluster client takes no parser argument: its
        # connections are made from these keyword arguments.
        chosen = cluster_parser(parser)
        cluster.connection_kwargs["parser_class"] = chosen
        for node in cluster.nodes_manager.startup_nodes.values():
            node.connection_kwargs["parser_class"] = chosen

    async def disconnect(self, connection: Any) -> None:
        """Close every node's connections (they reconnect on next use)."""
        for node in connection.get_nodes():
            await node.disconnect()

    def get_parser_cls(self) -> type:
        """``OPTIONS["PARSER_CLS"]`` (or ``PARSER_CLASS``), else valkey-py's asyncio
        default; a sync valkey-py parser is replaced by its asyncio twin."""
        parser = self._parser_from_options("valkey.asyncio.connection.DefaultParser")
        return _asyncio_parser(parser)
