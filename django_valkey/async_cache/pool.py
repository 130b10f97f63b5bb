"""Asyncio connection factory: valkey-py asyncio clients on per-event-loop pools.

An asyncio connection belongs to the event loop that opened it: its streams
are registered with that loop's selector and its futures are bound to it.  So
the pools of this factory are kept per running event loop (and per process),
never shared by two loops:

* the pools of a loop are disconnected, inside that loop, when the loop shuts
  down through ``asyncio.run``/``asyncio.Runner`` (or ``async_to_sync``, which
  uses them): an async generator parked on the loop is finalized by
  ``loop.shutdown_asyncgens()`` and closes them;
* the pools of a loop closed without that step (``loop.close()`` alone) are
  released the next time another loop asks for a pool or a cache is closed:
  their sockets are shut down and nothing keeps them (or the loop) alive;
* a forked child forgets every pool of its parent and never touches the
  parent's sockets (they stay referenced, unused, until the child exits).

The sync factory (``django_valkey.pool``) is unchanged: a sync and an async
cache on one URL never share a pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import AsyncGenerator, Hashable
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from valkey.asyncio.client import Valkey as AValkey
from valkey.asyncio.connection import ConnectionPool

from django_valkey.base_client import import_option
from django_valkey.base_pool import BaseConnectionFactory
from django_valkey.mux import (
    DEFAULT_CONNECTIONS,
    DEFAULT_MAX_IN_FLIGHT,
    DISABLED_BY_ENV,
    Multiplexer,
)
from django_valkey.pool import SentinelOptions

__all__ = [
    "AsyncConnectionFactory",
    "AsyncSentinelConnectionFactory",
    "asyncio_class",
    "loop_resources",
    "pipelining_options",
    "release_closed_loops",
]


class _LoopPools:
    """The pools opened in one event loop, and the hook closing them with it."""

    __slots__ = ("abandoned", "closer", "pools", "starting")

    def __init__(self) -> None:
        self.pools: dict[Hashable, Any] = {}
        self.abandoned = False
        self.closer: AsyncGenerator[None, None] | None = None
        self.starting: asyncio.Future[Any] | None = None

    async def disconnect(self) -> None:
        # Pools, and anything else kept per loop with an ``aclose()`` (the
        # cluster factory keeps its cluster clients here).
        pools = list(self.pools.values())
        self.pools.clear()
        await asyncio.gather(*(pool.aclose() for pool in pools), return_exceptions=True)


# Every loop's pools, in this process.  Only the thread running a loop touches
# its entry's pools; the lock guards adding and dropping entries.
_loops: dict[asyncio.AbstractEventLoop, _LoopPools] = {}
_loops_lock = threading.Lock()
# After a fork: the parent's pools, kept referenced so that no finalizer in the
# child closes sockets (or edits an epoll set) that the parent still uses.
_inherited: list[Any] = []


async def _close_with_loop(
    loop: asyncio.AbstractEventLoop, entry: _LoopPools
) -> AsyncGenerator[None, None]:
    """Parked on ``loop`` until ``shutdown_asyncgens()`` closes it: then the
    loop's pools are disconnected while the loop can still run the I/O."""
    try:
        yield
    finally:
        # An abandoned entry was already dropped by whoever abandoned it (with
        # the lock held): nothing to do, and nothing may be awaited.
        if not entry.abandoned:
            with _loops_lock:
                if _loops.get(loop) is entry:
                    del _loops[loop]
            await entry.disconnect()


def _loop_entry(loop: asyncio.AbstractEventLoop) -> _LoopPools:
    """The pools of ``loop``, created (and hooked to the loop's end) on first use."""
    entry = _loops.get(loop)
    if entry is not None:
        return entry
    with _loops_lock:
        entry = _loops.get(loop)
        if entry is not None:
            return entry
        _forget_closed_loops()
        entry = _loops[loop] = _LoopPools()
    closer = _close_with_loop(loop, entry)
    entry.closer = closer
    # Started as a task so the loop's first-iteration hook registers it for
    # shutdown_asyncgens(); it runs to its ``yield`` at the next loop turn.
    entry.starting = asyncio.ensure_future(closer.asend(None))
    return entry


def _forget_closed_loops() -> None:
    """Drop the entries of loops that were closed without shutting their async
    generators down (the loop cannot run a disconnect any more).  Their
    sockets are shut down so the server frees them at once; the file
    descriptors go with the garbage."""
    for loop in [loop for loop in _loops if loop.is_closed()]:
        entry = _loops.pop(loop)
        entry.abandoned = True
        for pool in entry.pools.values():
            _shut_down_sockets(pool)
        entry.pools.clear()
        closer = entry.closer
        if closer is not None:
            # Finish the parked generator here: it sees ``abandoned`` and
            # returns without awaiting, so nothing is left for a dead loop.
            with contextlib.suppress(StopIteration, RuntimeError):
                closer.aclose().send(None)


def _shut_down_sockets(pool: Any) -> None:
    if isinstance(pool, Multiplexer):
        pool.shut_down()
        return
    if not hasattr(pool, "_available_connections"):
        return  # not a connection pool (a cluster client): left to the garbage
    connections = [*pool._available_connections, *pool._in_use_connections]
    for connection in connections:
        writer = connection._writer
        sock = writer.get_extra_info("socket") if writer is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        connection._reader = connection._writer = None


def loop_resources() -> dict[Hashable, Any]:
    """The running loop's registry of per-loop objects (pools, cluster
    clients), each closed with ``aclose()`` when the loop shuts down."""
    return _loop_entry(asyncio.get_running_loop()).pools


def release_closed_loops() -> None:
    """Free the pools of event loops closed without ``shutdown_asyncgens()``
    (``loop.close()`` alone); called when a cache is closed."""
    with _loops_lock:
        _forget_closed_loops()


def _after_fork_in_child() -> None:
    global _loops_lock
    _loops_lock = threading.Lock()
    if _loops:
        _inherited.append(dict(_loops))
        for entry in _loops.values():
            entry.abandoned = True
        _loops.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _positive_int(options: dict[str, Any], name: str, default: int) -> int:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ImproperlyConfigured(f"OPTIONS['{name}'] must be a positive int, not {value!r}")
    return value


def pipelining_options(options: dict[str, Any]) -> tuple[int, int] | None:
    """``(connections per server and loop, commands in flight)`` for
    automatic pipelining, or None when it is off (``OPTIONS["PIPELINING"]
    = False``, or ``DJANGO_VALKEY_NO_PIPELINING=1`` in the environment)."""
    enabled = options.get("PIPELINING", True)
    if not isinstance(enabled, bool):
        raise ImproperlyConfigured(f"OPTIONS['PIPELINING'] must be True or False, not {enabled!r}")
    connections = _positive_int(options, "PIPELINING_CONNECTIONS", DEFAULT_CONNECTIONS)
    in_flight = _positive_int(options, "PIPELINING_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT)
    if not enabled or DISABLED_BY_ENV:
        return None
    return connections, in_flight


def _shareable(pool: Any) -> bool:
    """Whether commands on ``pool`` may share connections: valkey-py's plain
    or sentinel pool, with no retries and no client-side caching (those need
    valkey-py's per-command connection handling)."""
    from valkey.asyncio.sentinel import SentinelConnectionPool

    if type(pool) not in (ConnectionPool, SentinelConnectionPool):
        return False
    probe = pool.make_connection()  # configuration only: it is never connected
    return not probe.retry_on_error and probe.client_cache is None


def _asyncio_twins() -> dict[type, type]:
    """valkey-py's sync pool, client and parser classes -> their asyncio twins."""
    import valkey
    import valkey.asyncio
    import valkey.asyncio.sentinel
    import valkey.sentinel
    from valkey import _parsers

    return {
        valkey.ConnectionPool: valkey.asyncio.ConnectionPool,
        valkey.BlockingConnectionPool: valkey.asyncio.BlockingConnectionPool,
        valkey.sentinel.SentinelConnectionPool: valkey.asyncio.sentinel.SentinelConnectionPool,
        valkey.Valkey: valkey.asyncio.Valkey,
        _parsers._RESP2Parser: _parsers._AsyncRESP2Parser,
        _parsers._RESP3Parser: _parsers._AsyncRESP3Parser,
        _parsers._LibvalkeyParser: _parsers._AsyncLibvalkeyParser,
    }


def asyncio_class(cls: Any, setting: str) -> Any:
    """``cls`` if it works with asyncio, else its asyncio twin.

    Lets a sync ``ValkeyCache``'s OPTIONS (e.g. ``CONNECTION_POOL_CLASS =
    "valkey.BlockingConnectionPool"``) serve its async methods as well.  The
    twin is valkey-py's for valkey-py's classes, or the one a class names in
    its ``async_twin`` attribute (a class or a dotted path).  A sync parser
    without a twin is replaced by valkey-py's asyncio default (the choice of
    parser changes speed, not results); a sync pool or client class without
    one is an error.
    """
    import valkey
    from valkey._parsers.base import AsyncBaseParser, BaseParser

    if not isinstance(cls, type) or issubclass(cls, (ConnectionPool, AValkey, AsyncBaseParser)):
        return cls
    if not issubclass(cls, (valkey.ConnectionPool, valkey.Valkey, BaseParser)):
        return cls  # not valkey-py's: trust it
    twin = vars(cls).get("async_twin") or _asyncio_twins().get(cls)
    if twin is not None:
        return import_option(twin, setting)
    if issubclass(cls, BaseParser):
        return import_option("valkey.asyncio.connection.DefaultParser", setting)
    raise ImproperlyConfigured(
        f"{setting}: {cls.__module__}.{cls.__qualname__} is a sync class with no "
        "asyncio twin (give it an ``async_twin`` attribute); the async methods need one"
    )


class AsyncConnectionFactory(BaseConnectionFactory[AValkey, ConnectionPool]):
    """valkey-py asyncio ``Valkey`` clients on pools kept per event loop.

    Sync valkey-py classes given in OPTIONS (pool, client, parser) are
    replaced by their asyncio twins, so one CACHES entry serves both worlds.
    """

    path_pool_cls = "valkey.asyncio.connection.ConnectionPool"
    path_base_cls = "valkey.asyncio.client.Valkey"

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.pool_cls = asyncio_class(self.pool_cls, "OPTIONS['CONNECTION_POOL_CLASS']")
        self.base_client_cls = asyncio_class(self.base_client_cls, "OPTIONS['BASE_CLIENT_CLASS']")
        self.pipelining = pipelining_options(options)

    def get_or_create_connection_pool(self, params: dict[str, Any]) -> ConnectionPool:
        """The running loop's pool for these parameters (kept per loop by
        ``BaseConnectionFactory``), with its multiplexer for automatic
        pipelining attached when the pool is first made."""
        pool = super().get_or_create_connection_pool(params)
        if not hasattr(pool, "_dv_mux"):
            mux = None
            # Only valkey-py's plain and sentinel pools: custom pools keep
            # their own connection handling.
            if self.pipelining is not None and _shareable(pool):
                mux = Multiplexer(pool, *self.pipelining)
                # Closed with the loop, like the pool.
                loop_resources()[("pipelining", self._pool_key(params))] = mux
            pool._dv_mux = mux  # type: ignore[attr-defined]
        return pool

    async def connect(self, url: str) -> AValkey:
        """A raw asyncio client for ``url`` on the running loop's pool."""
        return await self.get_connection(self.make_connection_params(url))

    async def get_connection(self, params: dict[str, Any]) -> AValkey:
        pool = self.get_or_create_connection_pool(params)
        return await self.base_client_cls(connection_pool=pool, **self.base_client_cls_kwargs)

    async def disconnect(self, connection: Any) -> None:
        """Close the pool's idle connections; connections that other tasks
        are using are left to finish (the pool is shared by the loop)."""
        pool = connection.connection_pool
        mux = getattr(pool, "_dv_mux", None)
        if mux is not None:
            mux.close_idle()
        await pool.disconnect(inuse_connections=False)

    def get_parser_cls(self) -> type:
        """``OPTIONS["PARSER_CLS"]`` (or ``PARSER_CLASS``), else valkey-py's
        asyncio default parser."""
        # PARSER_CLS (the async spelling) first; a sync valkey-py parser, e.g.
        # a ValkeyCache's PARSER_CLASS, is replaced by its asyncio twin.
        for option in ("PARSER_CLS", "PARSER_CLASS"):
            if self.options.get(option):
                setting = f"OPTIONS['{option}']"
                return asyncio_class(import_option(self.options[option], setting), setting)
        return import_option("valkey.asyncio.connection.DefaultParser", "PARSER_CLS")


class AsyncSentinelConnectionFactory(SentinelOptions, AsyncConnectionFactory):
    """asyncio clients on ``SentinelConnectionPool``s (see the sync twin,
    ``django_valkey.pool.SentinelConnectionFactory``).  Sentinel managers hold
    asyncio connections: one per (event loop, configuration)."""

    path_pool_cls = "valkey.asyncio.sentinel.SentinelConnectionPool"
    _managers: ClassVar[dict[Any, Any]] = {}

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self._setup_sentinels(options)

    def _manager(self) -> Any:
        from valkey.asyncio.sentinel import Sentinel

        key = (asyncio.get_running_loop(), self._sentinel_key)
        manager = self._managers.get(key)
        if manager is None:
            for old in [old for old in self._managers if old[0].is_closed()]:
                del self._managers[old]
            manager = self._managers[key] = self._new_manager(Sentinel)
        return manager

    def get_connection_pool(self, params: dict[str, Any]) -> Any:
        return self._sentinel_pool(params, self._manager())
