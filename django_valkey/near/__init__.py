"""The near cache: an in-process tier kept coherent by the server.

``OPTIONS["NEAR_CACHE"] = {"MAX_ENTRIES": ..., "MAX_BYTES": ...,
"MAX_VALUE_BYTES": ...}`` turns it on.  Pieces:

* the store (``django_valkey._speedups.NearStore``, compiled with a pure
  twin): bounded LRU of raw values, in-flight marks;
* the channels (:mod:`django_valkey.near.channel`): one BCAST invalidation
  subscription per server, each in a daemon thread;
* :class:`NearCache`: one store plus its channels, shared by every backend
  instance of the process with the same servers and key prefix (Django makes
  a backend instance per thread and per async context);
* the client mixins (:mod:`django_valkey.near.client`): reads served from
  the store, writes that drop the local copy before and after they run.

The store serves only while every channel is subscribed; any loss empties it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import default_key_func
from django.core.exceptions import ImproperlyConfigured

from django_valkey import _speedups
from django_valkey.near.channel import Channel

__all__ = ["NearCache", "near_cache_for", "parse_options", "shutdown_all"]

DEFAULTS = {"MAX_ENTRIES": 10_000, "MAX_BYTES": 64 * 2**20, "MAX_VALUE_BYTES": 64 * 2**10}
_NUMBER_KEYS = frozenset(DEFAULTS) | {"HEARTBEAT"}

# (client class path fragment, why a near cache there cannot be kept coherent)
REFUSED = (
    (
        "Herd",
        "the herd clients store packed values with soft deadlines that must be re-read "
        "from the server; not supported with a near cache",
    ),
)


def parse_options(value: Any) -> dict[str, Any]:
    """``OPTIONS["NEAR_CACHE"]`` checked, with defaults filled in."""
    if not isinstance(value, dict):
        raise ImproperlyConfigured(
            f"OPTIONS['NEAR_CACHE'] must be a dict, not {type(value).__name__}"
        )
    unknown = sorted(set(value) - _NUMBER_KEYS)
    if unknown:
        raise ImproperlyConfigured(f"OPTIONS['NEAR_CACHE']: unknown keys {unknown}")
    options: dict[str, Any] = {**DEFAULTS, "HEARTBEAT": 1.0, **value}
    for name in _NUMBER_KEYS:
        number = options[name]
        integral = name != "HEARTBEAT"
        if (
            isinstance(number, bool)
            or not isinstance(number, int if integral else (int, float))
            or number <= 0
        ):
            kind = "a positive integer" if integral else "a positive number of seconds"
            raise ImproperlyConfigured(
                f"OPTIONS['NEAR_CACHE']['{name}'] must be {kind}, not {number!r}"
            )
    return options


def check_supported(client_cls: type, factory_path: Any) -> None:
    """Raise ``ImproperlyConfigured`` for the topologies the near cache refuses."""
    names = [f"{c.__module__}.{c.__qualname__}" for c in client_cls.__mro__]
    names.append(factory_path if isinstance(factory_path, str) else repr(factory_path))
    for fragment, reason in REFUSED:
        if any(fragment in name for name in names):
            raise ImproperlyConfigured(
                f"OPTIONS['NEAR_CACHE'] is not supported with {client_cls.__qualname__}: {reason}"
            )
    from django_valkey.base_client import AsyncClientCommands, ClientCommands

    if not issubclass(client_cls, (ClientCommands, AsyncClientCommands)):
        raise ImproperlyConfigured(
            f"OPTIONS['NEAR_CACHE'] is not supported with {client_cls.__qualname__}: "
            "only the default, hash and shard clients are"
        )


def tracking_prefix(backend: Any) -> str:
    """The BCAST prefix covering every key of this cache.

    With Django's key function every key starts with ``KEY_PREFIX:``; with a
    custom one nothing is known, so every key of the server is reported.
    """
    if backend.key_func is default_key_func:
        return f"{backend.key_prefix}:"
    return ""


class NearCache:
    """One store and one invalidation channel per server, shared process-wide."""

    def __init__(
        self,
        urls: list[str],
        kwargs: list[dict[str, Any]],
        prefix: str,
        options: dict[str, Any],
        locate: Callable[[], tuple[str, int]] | None = None,
    ) -> None:
        self.prefix = prefix
        self.options = options
        self.store: Any = self._new_store()
        self._lock = threading.Lock()
        #: Sentinel: misses are read from the primary, the one server whose
        #: channel follows failovers (replicas come and go behind the pool).
        self.fetch_from_primary = locate is not None
        if locate is not None:
            urls, kwargs = urls[:1], kwargs[:1]
        self.channels = [
            Channel(url, kw, prefix, self._on_state, self._on_keys, options["HEARTBEAT"], locate)
            for url, kw in zip(urls, kwargs)
        ]

    def _new_store(self) -> Any:
        o = self.options
        return _speedups.NearStore(o["MAX_ENTRIES"], o["MAX_BYTES"], o["MAX_VALUE_BYTES"])

    def ensure(self) -> None:
        """Start the channels that are not running (first use, after a fork)."""
        for channel in self.channels:
            channel.ensure_running()

    def _on_state(self, channel: Channel, up: bool) -> None:
        # Serve only while every server's changes reach us; each transition
        # starts from an empty store (nothing filled before it is trusted).
        with self._lock:
            self.store.set_active(all(c.up for c in self.channels))

    def _on_keys(self, keys: list[bytes] | None) -> None:
        if keys is None:
            self.store.clear()  # FLUSHDB/FLUSHALL (any database)
        else:
            self.store.invalidate_many(
                [k.decode("utf-8", "surrogateescape") if isinstance(k, bytes) else k for k in keys]
            )

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.store.info()
        info["tracking"] = info["active"]
        info["prefix"] = self.prefix
        info["channels"] = [
            {"url": c.url, "up": c.up, "client_id": c.client_id} for c in self.channels
        ]
        return info

    def stop(self) -> None:
        for channel in self.channels:
            channel.stop()
        self.store.set_active(False)

    def after_fork(self) -> None:
        # The child inherits the parent's entries but none of its threads:
        # nothing it has may be served until its own channels are up.
        for channel in self.channels:
            channel.forget_after_fork()
        self.store = self._new_store()
        self._lock = threading.Lock()


# CONNECTION_POOL_KWARGS meant for the pool, not for a connection.
_POOL_ONLY = frozenset({"max_connections", "timeout", "queue_class", "connection_class"})
_registry: dict[Any, NearCache] = {}
_registry_lock = threading.Lock()


def near_cache_for(client: Any, backend: Any, options: dict[str, Any]) -> NearCache:
    """The process's near cache for ``client``'s servers and ``backend``'s prefix."""
    urls = list(client._server)
    prefix = tracking_prefix(backend)
    key = (tuple(urls), prefix, tuple(sorted(options.items())))
    with _registry_lock:
        near = _registry.get(key)
        if near is None:
            factory = client.connection_factory
            kwargs = []
            for url in urls:
                params = factory.make_connection_params(url)
                params.pop("url", None)
                params.pop("parser_class", None)  # the async factory's is asyncio-only
                pool_kwargs = getattr(factory, "pool_cls_kwargs", {}) or {}
                params.update({k: v for k, v in pool_kwargs.items() if k not in _POOL_ONLY})
                params["socket_timeout"] = max(5.0, 2 * options["HEARTBEAT"])
                kwargs.append(params)
            locate = None
            if hasattr(factory, "_sentinels"):
                locate, kwargs = _sentinel_locator(factory, urls[0], kwargs[0])
            if "cluster_cache" in type(client).__module__:
                from django_valkey.near.cluster import ClusterNearCache

                near = ClusterNearCache(urls, kwargs, prefix, options)
            else:
                near = NearCache(urls, kwargs, prefix, options, locate)
            _registry[key] = near
    near.ensure()
    return near


def _sentinel_locator(
    factory: Any, url: str, kwargs: dict[str, Any]
) -> tuple[Callable[[], tuple[str, int]], list[dict[str, Any]]]:
    """Where the service's primary is now, asked of the sentinels (a sync
    manager of our own: the channel thread has no event loop), and the
    connection kwargs of the URL (db, credentials) without its host."""
    from valkey.sentinel import Sentinel

    from django_valkey.pool import sentinel_pool_kwargs

    service, _, options = sentinel_pool_kwargs(url, kwargs)
    options.pop("parser_class", None)
    options.pop("connection_class", None)
    manager_kwargs = dict(factory._manager_kwargs)
    for name in ("parser_class", "connection_class", "url"):
        manager_kwargs.pop(name, None)
    manager = Sentinel(
        factory._sentinels, sentinel_kwargs=factory._sentinel_kwargs, **manager_kwargs
    )

    def locate() -> tuple[str, int]:
        host, port = manager.discover_master(service)
        return str(host), int(port)

    return locate, [options]


def shutdown_all() -> None:
    """Stop every channel and forget every near cache (tests; interpreter exit)."""
    with _registry_lock:
        caches = list(_registry.values())
        _registry.clear()
    for near in caches:
        near.stop()


def _after_fork_in_child() -> None:
    for near in list(_registry.values()):
        near.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
