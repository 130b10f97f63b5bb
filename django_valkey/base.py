"""Backends: configuration (``BaseValkeyCache``) and the Django-facing methods.

``BaseValkeyCache`` is a Django ``BaseCache`` holding the cache's settings and
its client.  ``BackendCommands`` (sync) and ``AsyncBackendCommands`` (async)
are thin forwarders to the client, generated from the command table, plus
the few backend-level rules (``get``'s fallback, ``delete`` returning a bool).
The ``IGNORE_EXCEPTIONS`` policy lives in :func:`omit_exception` and
:func:`omit_exception_async`.  This layer never touches sockets.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, cast

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.exceptions import ImproperlyConfigured

from django_valkey import checks  # noqa: F401  (custom backends get the system checks too)
from django_valkey.base_client import ITERATORS, BaseClient, Closing, import_option
from django_valkey.exceptions import ConnectionInterrupted
from django_valkey.generated.async_backend import AsyncBackendAPI
from django_valkey.generated.backend import BackendAPI
from django_valkey.generated.backend_twins import BackendTwinAPI
from django_valkey.util import CacheKey

__all__ = [
    "ATTR_DOES_NOT_EXIST",
    "CONNECTION_INTERRUPTED",
    "DEFAULT_TIMEOUT",
    "AsyncBackendCommands",
    "BackendCommands",
    "BaseValkeyCache",
    "close_async_caches",
    "decorate_all_methods",
    "omit_exception",
    "omit_exception_async",
]

Client = TypeVar("Client")
Backend = TypeVar("Backend")

CONNECTION_INTERRUPTED = object()
ATTR_DOES_NOT_EXIST = object()

# What a method returns when IGNORE_EXCEPTIONS swallows a server error
# (Django's documented fallbacks); anything not listed returns None.
_FALLBACKS: dict[str, Callable[[tuple[Any, ...], dict[str, Any]], Any]] = {
    "_get": lambda args, kwargs: CONNECTION_INTERRUPTED,
    "get_many": lambda args, kwargs: {},
    "mget": lambda args, kwargs: {},
    "has_key": lambda args, kwargs: False,
    "set_many": lambda args, kwargs: list(args[0] if args else kwargs.get("data", ())),
    # The cluster backends' get_many per hash slot.
    "mget_nonatomic": lambda args, kwargs: {},
}


def _get_or_set_fallback(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    default = args[1] if len(args) > 1 else kwargs.get("default")
    return default() if callable(default) else default


_FALLBACKS["get_or_set"] = _get_or_set_fallback
# The sync backend's native coroutines ("aget_many", "_aget", ...) fall back
# like their sync twins.
_FALLBACKS.update({"a" + name: fallback for name, fallback in _FALLBACKS.items()})
_FALLBACKS["_aget"] = _FALLBACKS.pop("a_get")
_STREAMING = frozenset(ITERATORS) | {"a" + name for name in ITERATORS}
# Not wrapped: get/aget (their _get/_aget are), closing, and key building.
_UNDECORATED = frozenset({"get", "aget", "close", "aclose", "make_key", "make_pattern"})
# Set on the functions that already apply the policy, so that a subclass of a
# decorated class (or a method decorated by hand) is never wrapped twice.
_POLICY_MARK = "_applies_ignore_exceptions"


def _ignored(self: Any, exc: ConnectionInterrupted) -> None:
    """Swallow ``exc`` if the cache ignores server errors, else raise its cause."""
    if not self._ignore_exceptions:
        cause = exc.__cause__
        raise cause if cause is not None else exc
    if self._log_ignored_exceptions and self.logger is not None:
        self.logger.exception("Exception ignored", exc_info=exc.__cause__ or exc)


def omit_exception(
    method: Callable[..., Any] | None = None,
    return_value: Any = None,
    gen: bool = False,
    fallback: Callable[[tuple[Any, ...], dict[str, Any]], Any] | None = None,
) -> Any:
    """Apply ``IGNORE_EXCEPTIONS`` to a sync backend method.

    On a server error the method returns ``return_value`` (or what
    ``fallback(args, kwargs)`` builds) when the cache ignores exceptions,
    and re-raises the original valkey-py error otherwise.
    """
    if method is None:
        return functools.partial(
            omit_exception, return_value=return_value, gen=gen, fallback=fallback
        )
    if gen:

        @functools.wraps(method)
        def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                yield from method(self, *args, **kwargs)
            except ConnectionInterrupted as exc:
                _ignored(self, exc)

        setattr(stream, _POLICY_MARK, True)
        return stream

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except ConnectionInterrupted as exc:
            _ignored(self, exc)
            return fallback(args, kwargs) if fallback is not None else return_value

    setattr(call, _POLICY_MARK, True)
    return call


def omit_exception_async(
    method: Callable[..., Any] | None = None,
    return_value: Any = None,
    gen: bool = False,
    fallback: Callable[[tuple[Any, ...], dict[str, Any]], Any] | None = None,
) -> Any:
    """The async twin of :func:`omit_exception` (coroutines and async generators)."""
    if method is None:
        return functools.partial(
            omit_exception_async, return_value=return_value, gen=gen, fallback=fallback
        )
    if gen:

        @functools.wraps(method)
        async def stream(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                async for item in method(self, *args, **kwargs):
                    yield item
            except ConnectionInterrupted as exc:
                _ignored(self, exc)

        setattr(stream, _POLICY_MARK, True)
        return stream

    @functools.wraps(method)
    async def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(self, *args, **kwargs)
        except ConnectionInterrupted as exc:
            _ignored(self, exc)
            return fallback(args, kwargs) if fallback is not None else return_value

    setattr(call, _POLICY_MARK, True)
    return call


def decorate_all_methods(decorator: Callable[..., Any]) -> Callable[[type], type]:
    """Class decorator: wrap every public command of the class (inherited ones
    included) with ``decorator`` (:func:`omit_exception` or its async twin).

    Methods that already apply the policy are left as they are, so the
    decorator may be applied to a subclass of a decorated class.

    Coroutine and async generator functions get :func:`omit_exception_async`
    when ``decorator`` is :func:`omit_exception` (the sync backend's ``a*``
    methods).  Aliases stay aliases: ``aget`` and ``get`` of the async backend
    remain one function.  Django's own helpers (``validate_key``,
    ``get_backend_timeout``) touch no server and are left as they are.
    """

    def decorate(cls: type) -> type:
        wrapped: dict[Any, Any] = {}
        for name in dir(cls):
            if name.startswith("__") or name in _UNDECORATED:
                continue
            if name.startswith("_") and name not in _FALLBACKS:
                continue
            attr = getattr(cls, name)
            if not inspect.isfunction(attr) or attr is getattr(BaseCache, name, None):
                continue
            if getattr(attr, _POLICY_MARK, False):
                continue  # inherited from a decorated class, or decorated by hand
            if attr not in wrapped:
                native = inspect.iscoroutinefunction(attr) or inspect.isasyncgenfunction(attr)
                chosen = decorator
                if native and decorator is omit_exception:
                    chosen = omit_exception_async
                elif not native and decorator is omit_exception_async and name not in _STREAMING:
                    continue  # a plain helper of the async backend: stays sync
                wrapped[attr] = chosen(attr, gen=name in _STREAMING, fallback=_FALLBACKS.get(name))
            setattr(cls, name, wrapped[attr])
        return cls

    return decorate


class BaseValkeyCache(BaseCache, Generic[Client, Backend]):
    """Configuration and connection state of a Valkey cache.

    Not usable alone: combine it with :class:`BackendCommands` (sync) or
    :class:`AsyncBackendCommands` (async) and set ``DEFAULT_CLIENT_CLASS``.
    """

    DEFAULT_CLIENT_CLASS: str

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        # A settings error is raised on first use, not here: Django's own
        # system checks build every cache, and a traceback there would hide
        # the django_valkey.E0xx messages that explain the mistake.
        self._settings_error: ImproperlyConfigured | None = None
        try:
            options = self._checked_options(params)
        except ImproperlyConfigured as exc:
            self._settings_error = exc
            options = {}
            params = {k: v for k, v in params.items() if k not in ("OPTIONS", "TIMEOUT", "timeout")}
        super().__init__(params)
        self._server = server
        self._params = params
        self._options = options
        self._default_scan_itersize: int = getattr(settings, "DJANGO_VALKEY_SCAN_ITERSIZE", 10)
        self._client_cls: Any = None
        if self._settings_error is None:
            try:
                self._client_cls = self.get_client_class()
            except ImproperlyConfigured as exc:
                self._settings_error = exc
        self._client: Client | None = None
        # The sync backend's asyncio twin of ``_client`` (see BackendCommands).
        self._async_client: Any = None
        self._ignore_exceptions: bool = options.get(
            "IGNORE_EXCEPTIONS", getattr(settings, "DJANGO_VALKEY_IGNORE_EXCEPTIONS", False)
        )
        self._log_ignored_exceptions: bool = options.get(
            "LOG_IGNORE_EXCEPTIONS",
            getattr(settings, "DJANGO_VALKEY_LOG_IGNORED_EXCEPTIONS", False),
        )
        self.logger: logging.Logger | None = (
            logging.getLogger(getattr(settings, "DJANGO_VALKEY_LOGGER", __name__))
            if self._log_ignored_exceptions
            else None
        )
        # OPTIONS["NEAR_CACHE"]: checked now, so that a refused topology fails
        # at startup (see django_valkey.near).
        # A refusal is a settings error like the others: raised on first use.
        self._near_options: dict[str, Any] | None = None
        if options.get("NEAR_CACHE") is not None and self._settings_error is None:
            from django_valkey import near

            try:
                self._near_options = near.parse_options(options["NEAR_CACHE"])
                near.check_supported(
                    self._client_cls,
                    options.get("CONNECTION_FACTORY")
                    or getattr(settings, "DJANGO_VALKEY_CONNECTION_FACTORY", ""),
                )
            except ImproperlyConfigured as exc:
                self._settings_error = exc

    # Django lets code assign ``key_func``, ``key_prefix`` and ``version`` on a
    # live cache (its own tests do).  The clients' key makers snapshot them for
    # speed, so each assignment installs fresh key makers: the cost is paid on
    # assignment, never per key.
    @property
    def key_func(self) -> Callable[..., Any]:
        return self._key_func

    @key_func.setter
    def key_func(self, value: Callable[..., Any]) -> None:
        self._key_func = value
        self._refresh_key_makers()

    @property
    def key_prefix(self) -> str:
        return self._key_prefix

    @key_prefix.setter
    def key_prefix(self, value: str) -> None:
        self._key_prefix = value
        self._refresh_key_makers()

    @property
    def version(self) -> Any:
        return self._version

    @version.setter
    def version(self, value: Any) -> None:
        self._version = value
        self._refresh_key_makers()

    def _refresh_key_makers(self) -> None:
        # Before the clients exist (BaseCache.__init__) there is nothing to do:
        # they read the settled values when they are made.  (getattr, never
        # __dict__ or vars(): materializing an instance's dict makes every
        # later attribute read of that object slower.)
        for name in ("_client", "_async_client"):
            client = getattr(self, name, None)
            # Only clients holding a key maker of their own (a threaded async
            # twin forwards to the sync client).
            if isinstance(client, BaseClient):
                client._keys = client.make_key_maker()

    @staticmethod
    def _checked_options(params: dict[str, Any]) -> dict[str, Any]:
        """``OPTIONS``, after checking it and ``TIMEOUT`` (ImproperlyConfigured)."""
        options = params.get("OPTIONS") or {}
        if not isinstance(options, dict):
            raise ImproperlyConfigured(f"OPTIONS must be a dict, not {type(options).__name__}")
        timeout = params.get("timeout", params.get("TIMEOUT", 300))
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float, str))
        ):
            raise ImproperlyConfigured(f"TIMEOUT must be a number of seconds or None: {timeout!r}")
        if isinstance(timeout, str):
            try:
                int(timeout)
            except ValueError:
                raise ImproperlyConfigured(
                    f"TIMEOUT must be a number of seconds or None: {timeout!r}"
                ) from None
        return options

    def get_client_class(self) -> type:
        """``OPTIONS["CLIENT_CLASS"]``, else the backend's ``DEFAULT_CLIENT_CLASS``."""
        path = self._options.get("CLIENT_CLASS", self.DEFAULT_CLIENT_CLASS)
        return import_option(path, "OPTIONS['CLIENT_CLASS']")

    @property
    def client(self) -> Client:
        """The client, created on first use."""
        if self._client is None:
            if self._settings_error is not None:
                raise self._settings_error
            client = self._client_cls(self._server, self._params, self)
            if self._near_options is not None:
                from django_valkey.near import near_cache_for
                from django_valkey.near.client import wrap_async_client, wrap_client

                near = near_cache_for(client, self, self._near_options)
                is_async = getattr(self, "is_async", False)
                client = (wrap_async_client if is_async else wrap_client)(client, near)
            self._client = client
        return self._client

    def near_cache_info(self) -> dict[str, Any] | None:
        """The near cache's counters (``entries``, ``bytes``, ``hits``,
        ``misses``, ``invalidations``, ``tracking``...), None without one."""
        if self._near_options is None:
            return None
        return self.client._near.info()  # type: ignore[attr-defined]

    def make_key(self, key: Any, version: Any = None, prefix: Any = None) -> Any:
        """The server-side key (a ``CacheKey``), built without validation as
        in ``BaseCache``: the commands validate (``make_and_validate_key``)."""
        if isinstance(key, CacheKey):
            return key
        return CacheKey(
            self._key_func(
                key,
                self._key_prefix if prefix is None else prefix,
                self._version if version is None else version,
            )
        )

    def get_backend_timeout(self, timeout: Any = DEFAULT_TIMEOUT) -> float | None:
        """Seconds from now, never negative; None for no expiry (as Django's
        Redis backend: TTLs are relative, unlike memcached's timestamps)."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        return None if timeout is None else max(0, int(timeout))

    def make_and_validate_key(self, key: Any, version: Any = None) -> Any:
        """``make_key``, then Django's key warnings (``CacheKeyWarning``)."""
        key = self.make_key(key, version=version)
        self.validate_key(key)
        return key

    def make_pattern(self, pattern: str, version: Any = None, prefix: Any = None) -> Any:
        """A glob matching this cache's keys (prefix and version literal)."""
        return self.client.make_pattern(pattern, version=version, prefix=prefix)  # type: ignore[attr-defined]


#: Sync methods that tools patch on cache instances (the ``a*`` twin follows).
_INSTRUMENTED = frozenset(
    [
        "add",
        "get",
        "set",
        "get_or_set",
        "touch",
        "delete",
        "clear",
        "get_many",
        "set_many",
        "delete_many",
        "has_key",
        "incr",
        "decr",
        "incr_version",
        "decr_version",
    ]
)


def _through_sync(method: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    from asgiref.sync import sync_to_async

    async def twin(*args: Any, **kwargs: Any) -> Any:
        return await sync_to_async(method)(*args, **kwargs)

    return twin


class BackendCommands(BackendAPI, BackendTwinAPI):
    """The sync cache API, forwarding to ``self.client``, and its native
    coroutines ``aget``, ``aset``, ... (one alias serves sync and async code).

    The plain forwarders are generated (``BackendAPI``, ``BackendTwinAPI``:
    ``tools/generate_api.py``); the methods here have rules of their own.

    It subclasses Django's ``BaseCache`` (through them) so that, in a backend combining it
    with ``BaseValkeyCache``, these methods come before ``BaseCache``'s
    placeholders in the method resolution order (``BaseCache``'s ``a*``
    methods would run the sync ones in a thread).

    The ``a*`` methods run the same command definitions through the async
    driver, on :attr:`async_client`: an asyncio twin of ``client`` sharing its
    servers, settings, serializer, compressor and key maker, with pools of its
    own per event loop.
    """

    client: Any
    _client: Any
    _async_client: Any = None
    _default_scan_itersize: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every backend built on these commands applies IGNORE_EXCEPTIONS,
        # whether or not it goes through DecoratedBackendCommands (the seed
        # tells users to subclass BackendCommands directly).  Methods the
        # subclass defines or overrides get the policy too.
        super().__init_subclass__(**kwargs)
        decorate_all_methods(omit_exception)(cls)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in _INSTRUMENTED and callable(value):
            # A tool wrapped a sync method on this instance (django-debug-
            # toolbar's cache panel, Sentry's cache spans): route its ``a*``
            # twin through the wrapper, as Django's own ``a*`` methods would
            # be, so async calls are recorded too.  Only instrumented
            # instances pay the thread hop.
            object.__setattr__(self, "a" + name, _through_sync(value))

    @property
    def async_client(self) -> Any:
        """The asyncio twin of :attr:`client`, created on first use."""
        twin = self._async_client
        if twin is None:
            from django_valkey.async_cache.client.default import async_twin

            twin = async_twin(self.client)
            near = getattr(self.client, "_near", None)
            if near is not None and hasattr(twin, "_keys"):  # not a ThreadedTwin
                from django_valkey.near.client import wrap_async_client

                twin = wrap_async_client(twin, near)
            self._async_client = twin
        return twin

    def __contains__(self, key: Any) -> bool:
        return self.has_key(key)

    def get(self, key: Any, default: Any = None, version: Any = None, client: Any = None) -> Any:
        """The value at ``key`` or ``default``."""
        value = self._get(key, default, version, client)
        return default if value is CONNECTION_INTERRUPTED else value

    def _get(self, key: Any, default: Any = None, version: Any = None, client: Any = None) -> Any:
        return self.client.get(key, default, version, client=client)

    def delete(self, key: Any, version: Any = None, prefix: Any = None, client: Any = None) -> bool:
        """Remove ``key``; True if it existed."""
        return bool(self.client.delete(key, version, prefix, client=client))

    def delete_pattern(self, *args: Any, **kwargs: Any) -> int:
        """Delete the keys matching a glob; the number deleted."""
        kwargs.setdefault("itersize", self._default_scan_itersize)
        return self.client.delete_pattern(*args, **kwargs)

    def iter_keys(self, *args: Any, **kwargs: Any) -> Any:
        """Stream the keys matching a glob (``SCAN``)."""
        return self.client.iter_keys(*args, **kwargs)

    def sscan_iter(self, *args: Any, **kwargs: Any) -> Any:
        """Stream the members of a set matching a glob (``SSCAN``)."""
        return self.client.sscan_iter(*args, **kwargs)

    def close(self, **kwargs: Any) -> None:
        """Release connections (only with ``CLOSE_CONNECTION``).

        Called by Django at the end of every request, also under ASGI (from a
        worker thread): the async twin's connections are closed in their own
        event loop, scheduled from here.
        """
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
        twin = self._async_client
        if twin is not None:
            twin.schedule_close()

    # Native coroutines ---------------------------------------------------

    async def aget(
        self, key: Any, default: Any = None, version: Any = None, client: Any = None
    ) -> Any:
        """The value at ``key`` or ``default``."""
        value = await self._aget(key, default, version, client)
        return default if value is CONNECTION_INTERRUPTED else value

    async def _aget(
        self, key: Any, default: Any = None, version: Any = None, client: Any = None
    ) -> Any:
        twin = self._async_client or self.async_client
        return await twin.get(key, default, version, client=client)

    async def adelete(
        self, key: Any, version: Any = None, prefix: Any = None, client: Any = None
    ) -> bool:
        """Remove ``key``; True if it existed."""
        twin = self._async_client or self.async_client
        return bool(await twin.delete(key, version, prefix, client=client))

    async def adelete_pattern(self, *args: Any, **kwargs: Any) -> int:
        """Delete the keys matching a glob; the number deleted."""
        kwargs.setdefault("itersize", self._default_scan_itersize)
        twin = self._async_client or self.async_client
        return await twin.delete_pattern(*args, **kwargs)

    async def aiter_keys(self, *args: Any, **kwargs: Any) -> Any:
        """Stream the keys matching a glob (an async generator)."""
        twin = self._async_client or self.async_client
        async for key in twin.iter_keys(*args, **kwargs):
            yield key

    async def asscan_iter(self, *args: Any, **kwargs: Any) -> Any:
        """Stream the members of a set matching a glob (an async generator)."""
        twin = self._async_client or self.async_client
        async for member in twin.sscan_iter(*args, **kwargs):
            yield member

    async def aclose(self, **kwargs: Any) -> None:
        """Release connections, sync and async (only with ``CLOSE_CONNECTION``)."""
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
        twin = self._async_client
        if twin is not None:
            await twin.close()


class AsyncBackendCommands(AsyncBackendAPI):
    """The async cache API: the same methods as coroutines (``a<name>`` too).

    The plain forwarders are generated (``AsyncBackendAPI``:
    ``tools/generate_api.py``); the methods here have rules of their own.

    As in django-valkey, ``get``, ``set``, ... are coroutines and ``aget``,
    ``aset``, ... are the very same functions.

    ``close()`` is the exception: Django's own ``close_caches`` calls it,
    without awaiting, at the end of every request (under ASGI from a worker
    thread, under WSGI from the request's thread), and django-valkey's users
    ``await cache.close()``.  So it is a plain method returning a
    :class:`~django_valkey.base_client.Closing`: the close (a no-op unless
    ``CLOSE_CONNECTION``) is started at the call, in the event loop that owns
    the connections, and awaiting the result waits for it when called inside
    that loop.  No coroutine is ever left un-awaited, so nothing warns.
    """

    client: Any
    _client: Any
    _default_scan_itersize: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # IGNORE_EXCEPTIONS for every subclass (see BackendCommands).
        super().__init_subclass__(**kwargs)
        decorate_all_methods(omit_exception_async)(cls)

    def __contains__(self, key: Any) -> bool:
        # BaseCache's would call the has_key coroutine and always answer True.
        raise TypeError(
            f"'in' needs a sync has_key(): use 'await cache.ahas_key(key)' on {type(self).__name__}"
        )

    async def get(
        self, key: Any, default: Any = None, version: Any = None, client: Any = None
    ) -> Any:
        """The value at ``key`` or ``default``."""
        value = await self._get(key, default, version, client)
        return default if value is CONNECTION_INTERRUPTED else value

    async def _get(
        self, key: Any, default: Any = None, version: Any = None, client: Any = None
    ) -> Any:
        return await self.client.get(key, default, version, client=client)

    async def delete(  # type: ignore[override]
        self, key: Any, version: Any = None, prefix: Any = None, client: Any = None
    ) -> bool:
        """Remove ``key``; True if it existed."""
        return bool(await self.client.delete(key, version, prefix, client=client))

    async def delete_pattern(self, *args: Any, **kwargs: Any) -> int:
        """Delete the keys matching a glob; the number deleted."""
        kwargs.setdefault("itersize", self._default_scan_itersize)
        return await self.client.delete_pattern(*args, **kwargs)

    def iter_keys(self, *args: Any, **kwargs: Any) -> Any:
        """Stream the keys matching a glob (an async generator)."""
        return self.client.iter_keys(*args, **kwargs)

    def sscan_iter(self, *args: Any, **kwargs: Any) -> Any:
        """Stream the members of a set matching a glob (an async generator)."""
        return self.client.sscan_iter(*args, **kwargs)

    def close(self, **kwargs: Any) -> Awaitable[None]:  # type: ignore[override]
        """Release connections (only with ``CLOSE_CONNECTION``); awaitable.

        Safe to call without awaiting (Django's ``close_caches`` does): see
        the class docstring.
        """
        client = getattr(self, "_client", None)
        if client is None:
            return Closing()
        return client.schedule_close()

    # The same functions under Django's ``a*`` names.
    aget = get
    adelete = delete
    adelete_pattern = delete_pattern
    aiter_keys = iter_keys
    asscan_iter = sscan_iter
    aclose = close  # type: ignore[assignment]


async def close_async_caches(**kwargs: Any) -> None:
    """Close every initialised cache, awaiting what can be awaited.

    Not connected by the package: Django's own ``close_caches`` receiver stays
    in place and closes these caches correctly (see
    :class:`AsyncBackendCommands`).  Kept for code that connected it by hand.
    """
    from django.core.cache import caches

    for cache in caches.all(initialized_only=True):
        if getattr(cache, "is_async", False):
            await cast(Any, cache).close()
        elif isinstance(cache, BackendCommands):
            await cache.aclose()
        else:
            cache.close()
