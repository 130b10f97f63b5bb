"""Clients: server choice, codec and keys (``BaseClient``), and the commands.

``BaseClient`` holds what a client needs whatever its world: servers, the
serializer/compressor pair (as one codec), the key maker and the connection
factory.  ``ClientCommands`` and ``AsyncClientCommands`` are the same command
definitions (``django_valkey.operations``) bound to the sync or the async
driver, plus the connection plumbing of each world.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import os
import random
import socket
import time
import weakref
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import ResponseError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from django_valkey import _speedups
from django_valkey.breaker import CircuitBreaker, breaker_from_options
from django_valkey.generated.async_client import AsyncClientAPI
from django_valkey.generated.client import ClientAPI
from django_valkey.guard import guard_from_options
from django_valkey.operations import core, expiry, hashes, keyspace, sets
from django_valkey.util import CacheKey, glob_escape, make_pattern, redact_url, special_re

if TYPE_CHECKING:
    from django_valkey.base_pool import BaseConnectionFactory

__all__ = [
    "DEFAULT_TIMEOUT",
    "AsyncClientCommands",
    "BaseClient",
    "ClientCommands",
    "Closing",
    "HerdCommonMethods",
    "Marker",
    "glob_escape",
    "special_re",
]

Backend = TypeVar("Backend")

_main_exceptions = (ValkeyTimeoutError, ResponseError, ValkeyConnectionError, socket.timeout)

DEFAULT_SERIALIZER = "django_valkey.serializers.pickle.PickleSerializer"
DEFAULT_COMPRESSOR = "django_valkey.compressors.identity.IdentityCompressor"
URL_SCHEMES = ("valkey://", "valkeys://", "redis://", "rediss://", "unix:")


def import_option(path: Any, setting: str) -> Any:
    """Resolve a dotted path (or pass a class through), naming the setting on error."""
    if not isinstance(path, str):
        return path
    try:
        return import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{setting}: cannot import {path!r} ({exc})") from exc


def parse_location(server: Any) -> list[str]:
    """LOCATION as a list of URLs: a comma-separated string or any iterable."""
    if isinstance(server, str):
        urls = [part.strip() for part in server.split(",")]
    elif isinstance(server, Iterable):
        urls = [str(part).strip() for part in server]
    else:
        raise ImproperlyConfigured(
            f"LOCATION must be a URL string or a list of URLs, not {type(server).__name__}"
        )
    urls = [url for url in urls if url]
    if not urls:
        raise ImproperlyConfigured("Missing connections string: LOCATION is empty")
    for url in urls:
        if not url.lower().startswith(URL_SCHEMES):
            raise ImproperlyConfigured(
                f"LOCATION {redact_url(url)!r} must start with one of: " + ", ".join(URL_SCHEMES)
            )
    return urls


class BaseClient(Generic[Backend]):
    """Connection logic and helpers shared by sync and async clients.

    Not usable alone: combine it with :class:`ClientCommands` (sync) or
    :class:`AsyncClientCommands` (async) and set ``CONNECTION_FACTORY_PATH``.
    """

    CONNECTION_FACTORY_PATH: str

    def __init__(self, server: str | Iterable[str], params: dict[str, Any], backend: Any) -> None:
        from django_valkey.pool import get_connection_factory

        self._backend = backend
        self._server = parse_location(server)
        self._params = params
        self._options: dict[str, Any] = params.get("OPTIONS") or {}
        self.reverse_key: Callable[[str], str] = import_option(
            params.get("REVERSE_KEY_FUNCTION") or "django_valkey.util.default_reverse_key",
            "REVERSE_KEY_FUNCTION",
        )
        self._clients: list[Any] = [None] * len(self._server)
        self._replica_read_only = self._options.get("REPLICA_READ_ONLY", True)
        # OPTIONS["CIRCUIT_BREAKER"]: one process-wide breaker for this
        # LOCATION list (None: off, the drivers then skip it).
        self._breaker: CircuitBreaker | None = breaker_from_options(
            self._options.get("CIRCUIT_BREAKER"), self._server
        )
        # RETRY / STATISTICS / OPENTELEMETRY: what the drivers call around
        # each request (None when nothing is configured: the hot path).
        # The alias is found from the LOCATION as configured (the Sentinel
        # client, for one, rewrites it before it gets here).
        location = getattr(backend, "_server", server)
        self._guard: Any = guard_from_options(self._options, self._breaker, location, params)

        serializer_cls = import_option(
            self._options.get("SERIALIZER", DEFAULT_SERIALIZER), "OPTIONS['SERIALIZER']"
        )
        compressor_cls = import_option(
            self._options.get("COMPRESSOR", DEFAULT_COMPRESSOR), "OPTIONS['COMPRESSOR']"
        )
        self._serializer = serializer_cls(options=self._options)
        self._compressor = compressor_cls(options=self._options)
        self._codec = _speedups.Codec(self._serializer, self._compressor)

        self._keys = self.make_key_maker()

        self._connection_factory = getattr(
            settings, "DJANGO_VALKEY_CONNECTION_FACTORY", self.CONNECTION_FACTORY_PATH
        )
        self.connection_factory: BaseConnectionFactory = get_connection_factory(
            options=self._options, path=self._connection_factory
        )

    def make_key_maker(self) -> Any:
        """A key maker for the backend's current ``key_func``, ``key_prefix``
        and ``version`` (the backend installs a new one when they change)."""
        backend = self._backend
        # Django's key validation, at C speed unless the backend overrides it.
        validate = getattr(backend, "validate_key", None)
        validate_all = getattr(type(backend), "validate_key", None) not in (
            None,
            BaseCache.validate_key,
        )
        return _speedups.KeyMaker(
            backend.key_func, backend.key_prefix, backend.version, validate, validate_all
        )

    def _has_compression_enabled(self) -> bool:
        from django_valkey.compressors.identity import IdentityCompressor

        return type(self._compressor) is not IdentityCompressor

    def get_next_client_index(self, write: bool = True, tried: list[int] | None = None) -> int:
        """0 (the primary) for writes; a random replica for reads.

        ``tried`` lists indexes that already failed: an untried one is chosen
        when there is one.
        """
        count = len(self._server)
        if tried:
            untried = [i for i in range(count) if i not in tried]
            if untried:
                return random.choice(untried)
        if write or count == 1:
            return 0
        return random.randint(1, count - 1)

    def encode(self, value: Any) -> bytes:
        """The bytes stored for ``value``."""
        return self._codec.encode(value)

    def decode(self, value: bytes) -> Any:
        """The value stored as ``value``."""
        return self._codec.decode(value)

    def _decode_iterable_result(self, result: Any, convert_to_set: bool = True) -> Any:
        if result is None:
            return None
        if isinstance(result, (list, set, tuple)):
            decoded = [self._codec.decode(item) for item in result]
            return set(decoded) if convert_to_set else decoded
        return self._codec.decode(result)

    def make_key(self, key: Any, version: Any = None, prefix: Any = None) -> CacheKey:
        """The server-side key for ``key`` (a :class:`CacheKey`)."""
        return self._keys.make_cache_key(key, version, prefix)

    def make_pattern(self, pattern: str, version: Any = None, prefix: Any = None) -> CacheKey:
        """A glob for SCAN/KEYS: the prefix and version match literally."""
        return make_pattern(
            pattern,
            key_func=self._backend.key_func,
            version=self._backend.version if version is None else version,
            prefix=self._backend.key_prefix if prefix is None else prefix,
        )

    def _close_connection_enabled(self) -> bool:
        if "CLOSE_CONNECTION" in self._options:
            return bool(self._options["CLOSE_CONNECTION"])
        return bool(getattr(settings, "DJANGO_VALKEY_CLOSE_CONNECTION", False))


#: Each command's definition, by method name (bound to a driver below).
COMMANDS: dict[str, Callable[..., Any]] = {
    name: getattr(module, name)
    for module, names in (
        (
            core,
            "get set add delete get_many set_many delete_many has_key incr decr touch clear "
            "get_or_set incr_version decr_version mget mset",
        ),
        (expiry, "ttl pttl persist expire pexpire expire_at pexpire_at"),
        (keyspace, "keys delete_pattern get_lock"),
        (
            sets,
            "sadd scard sdiff sdiffstore sinter sinterstore smismember sismember smembers "
            "smove spop srandmember srem sscan sunion sunionstore",
        ),
    )
    for name in names.split()
}
#: The deprecated hash flavour of DefaultClient (raw hash names).
LEGACY_HASH_COMMANDS = {
    name: getattr(hashes, "legacy_" + name) for name in ("hset", "hdel", "hlen", "hkeys", "hexists")
}
#: The current hash flavour of HashClient.
HASH_COMMANDS = {
    name: getattr(hashes, name) for name in ("hset", "hget", "hdel", "hlen", "hkeys", "hexists")
}
ITERATORS: dict[str, Callable[..., Any]] = {
    "iter_keys": keyspace.iter_keys,
    "sscan_iter": sets.sscan_iter,
}


class ClientCommands(ClientAPI, Generic[Backend]):
    """Every cache command, run on valkey-py's sync client.

    The commands themselves are defined once in ``django_valkey.operations``;
    their typed methods (``ClientAPI``) are generated by
    ``tools/generate_api.py``.  This class adds the connection plumbing of
    the sync world.
    """

    _server: list[str]
    _clients: list[Any]
    connection_factory: Any

    def _get_client(
        self, write: bool = True, tried: list[int] | None = None, client: Any = None, **kwargs: Any
    ) -> Any:
        if client is not None:
            return client
        clients = self._clients
        if len(clients) == 1 and not tried:
            # One server: the hot path skips index selection.
            return clients[0] if clients[0] is not None else self.get_client(write, tried)
        return self.get_client(write, tried, **kwargs)

    def get_client(self, write: bool = True, tried: list[int] | None = None, **kwargs: Any) -> Any:
        """The raw valkey-py client for a write (primary) or a read (a replica)."""
        index = self.get_next_client_index(write=write, tried=tried)  # type: ignore[attr-defined]
        if self._clients[index] is None:
            self._clients[index] = self.connect(index)
        return self._clients[index]

    def get_client_with_index(
        self, write: bool = True, tried: list[int] | None = None
    ) -> tuple[Any, int]:
        """``(raw client, server index)``."""
        index = self.get_next_client_index(write=write, tried=tried)  # type: ignore[attr-defined]
        if self._clients[index] is None:
            self._clients[index] = self.connect(index)
        return self._clients[index], index

    def connect(self, index: int = 0) -> Any:
        """A new raw client for server ``index`` (pooled by the factory)."""
        return self.connection_factory.connect(self._server[index])

    def disconnect(self, index: int = 0, client: Any = None) -> None:
        """Close the idle connections of server ``index``'s pool."""
        if client is None:
            client = self._clients[index]
        if client is not None:
            self.connection_factory.disconnect(client)

    def close(self, **kwargs: Any) -> None:
        """Called by Django at the end of each request: disconnects only with
        ``CLOSE_CONNECTION`` (pools are shared by the process otherwise)."""
        if self._close_connection_enabled():  # type: ignore[attr-defined]
            self._close()

    def _close(self) -> None:
        for index, client in enumerate(self._clients):
            if client is not None:
                self.disconnect(index, client)
            self._clients[index] = None


class Closing(collections.abc.Coroutine[Any, Any, None]):
    """What an async backend's ``close()`` returns: the close already started.

    Awaiting it waits for the close (when one runs in the caller's loop).
    It is a coroutine by protocol, so ``asyncio.run()``, ``create_task()`` and
    ``run_coroutine_threadsafe()`` take it, but not a native one: nothing
    warns when nobody awaits it (Django's ``close_caches`` does not).
    """

    __slots__ = ("_awaitable", "_steps")

    def __init__(self, awaitable: Awaitable[Any] | None = None) -> None:
        self._awaitable = awaitable
        self._steps: Generator[Any, Any, None] | None = None

    def __await__(self) -> Generator[Any, Any, None]:
        if self._awaitable is not None:
            yield from self._awaitable.__await__()

    def _running(self) -> Generator[Any, Any, None]:
        if self._steps is None:
            self._steps = self.__await__()
        return self._steps

    def send(self, value: Any) -> Any:
        return self._running().send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        if val is None and tb is None:
            return self._running().throw(typ)
        return self._running().throw(typ, val, tb)

    def close(self) -> None:
        if self._steps is not None:
            self._steps.close()


# Async clients bound to an event loop, so that a forked child can unbind them.
_bound_async_clients: weakref.WeakSet[Any] = weakref.WeakSet()


def _forget_loops_after_fork() -> None:
    # The child must never use the parent's sockets, even on an inherited loop.
    for client in list(_bound_async_clients):
        client._bound = (None, [None] * len(client._server))


os.register_at_fork(after_in_child=_forget_loops_after_fork)


def _retrieve(task: asyncio.Task[Any]) -> None:
    # A close nobody awaits must not log "exception was never retrieved".
    if not task.cancelled():
        task.exception()


class AsyncClientCommands(AsyncClientAPI, Generic[Backend]):
    """Every cache command, as coroutines on valkey-py's asyncio client.

    The same definitions as :class:`ClientCommands`, run by the async driver
    (typed methods generated in ``AsyncClientAPI``); ``a<name>`` aliases
    resolve to ``<name>``.

    Raw clients belong to the event loop they were made in (their pools do):
    ``_clients`` is the list for the loop this client is bound to, and a call
    from another loop binds it to that loop with fresh raw clients.
    """

    _server: list[str]
    connection_factory: Any
    # (event loop, raw clients per server index), replaced as one value so
    # that a reader never pairs one loop with another loop's clients.
    _bound: tuple[asyncio.AbstractEventLoop | None, list[Any]]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("a") and name != "a" and hasattr(type(self), name[1:]):
            return getattr(self, name[1:])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def _clients(self) -> list[Any]:
        return self._bound[1]

    @_clients.setter
    def _clients(self, clients: list[Any]) -> None:
        bound = self.__dict__.get("_bound")
        self._bound = (bound[0] if bound is not None else None, clients)

    def _loop_clients(self) -> list[Any]:
        """The raw clients of the running loop (bound to it on first use)."""
        loop = asyncio.get_running_loop()
        bound_loop, clients = self._bound
        if bound_loop is loop:
            return clients
        if bound_loop is not None:
            # Raw clients of another loop: unusable here.
            clients = [None] * len(self._server)
        self._bound = (loop, clients)
        _bound_async_clients.add(self)
        return clients

    async def _get_client(
        self, write: bool = True, tried: list[int] | None = None, client: Any = None, **kwargs: Any
    ) -> Any:
        if client is not None:
            return client
        bound_loop, clients = self._bound
        if len(clients) == 1 and not tried and bound_loop is asyncio.get_running_loop():
            # One server, already connected in this loop: the hot path.
            raw = clients[0]
            if raw is not None:
                return raw
        return await self.get_client(write, tried)

    async def get_client(
        self, write: bool = True, tried: list[int] | None = None, **kwargs: Any
    ) -> Any:
        """The raw asyncio client for a write (primary) or a read (a replica)."""
        client, _ = await self.get_client_with_index(write, tried)
        return client

    async def get_client_with_index(
        self, write: bool = True, tried: list[int] | None = None
    ) -> tuple[Any, int]:
        """``(raw client, server index)``."""
        clients = self._loop_clients()
        index = self.get_next_client_index(write=write, tried=tried)
        if clients[index] is None:
            clients[index] = await self.connect(index)
        return clients[index], index

    async def connect(self, index: int = 0) -> Any:
        """A new raw asyncio client for server ``index`` (on the running loop's pool)."""
        return await self.connection_factory.connect(self._server[index])

    async def disconnect(self, index: int = 0, client: Any = None) -> None:
        """Close the idle connections of server ``index``'s pool."""
        if client is None:
            client = self._clients[index]
        if client is not None:
            await self.connection_factory.disconnect(client)

    async def close(self, **kwargs: Any) -> None:
        """Disconnect only with ``CLOSE_CONNECTION`` (see the sync twin)."""
        if self._close_connection_enabled():
            await self._close()

    async def _close(self) -> None:
        bound_loop, clients = self._bound
        self._bound = (bound_loop, [None] * len(self._server))
        if bound_loop is not asyncio.get_running_loop():
            return  # another loop's pools: they close with their loop
        for index, client in enumerate(clients):
            if client is not None:
                await self.disconnect(index, client)

    def schedule_close(self) -> Closing:
        """``close()`` callable from sync code (Django's ``close_caches``).

        Only with ``CLOSE_CONNECTION``.  In the thread running the bound loop
        the close runs as a task, which the returned :class:`Closing` awaits;
        from another thread it is handed to the bound loop (the returned one
        is already complete).  The raw clients of a closed loop are dropped
        and its sockets released whatever the settings.
        """
        bound_loop, _ = self._bound
        if bound_loop is not None and bound_loop.is_closed():
            # Connections of a dead loop are useless whatever the settings.
            from django_valkey.async_cache.pool import release_closed_loops

            self._bound = (None, [None] * len(self._server))
            release_closed_loops()
            return Closing()
        if bound_loop is None or not self._close_connection_enabled():
            return Closing()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is bound_loop:
            task = bound_loop.create_task(self._close())
            task.add_done_callback(_retrieve)
            return Closing(task)
        # The coroutine is made inside the loop: if the loop never runs
        # again, nothing is left un-awaited.
        with contextlib.suppress(RuntimeError):  # closed meanwhile
            bound_loop.call_soon_threadsafe(self._start_close)
        return Closing()

    def _start_close(self) -> None:
        asyncio.get_running_loop().create_task(self._close()).add_done_callback(_retrieve)


class Marker:
    """Marks a herd-packed value ``(Marker(), value, deadline)``; its import
    path is part of the stored layout (pickles reference it)."""


def _is_expired(x: float, herd_timeout: int) -> bool:
    """Whether a herd value ``x`` seconds past its soft deadline counts as
    expired: always past the grace period, with rising probability before."""
    if x >= herd_timeout:
        return True
    return x + random.randint(1, herd_timeout) >= herd_timeout


class HerdCommonMethods:
    """Packing shared by the herd clients (thundering-herd protection)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._herd_timeout: int = getattr(settings, "CACHE_HERD_TIMEOUT", 60)
        super().__init__(*args, **kwargs)

    def _pack(self, value: Any, timeout: float) -> tuple[Marker, Any, int]:
        return (Marker(), value, int(time.time()) + int(timeout))

    def _unpack(self, value: Any) -> tuple[Any, bool]:
        try:
            marker, unpacked, herd_timeout = value
        except (ValueError, TypeError):
            return value, False
        if not isinstance(marker, Marker):
            return value, False
        now = int(time.time())
        if herd_timeout < now:
            return unpacked, _is_expired(now - herd_timeout, self._herd_timeout)
        return unpacked, False
