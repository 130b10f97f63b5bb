"""Client mixins answering reads from the near cache.

``wrap_client`` gives a client object a subclass of its own class with these
methods in front, so the near cache sits above the driver (retries, breaker,
pipelining and tracing all still apply to what reaches the server):

* ``get``, ``get_many``, ``has_key``, ``get_or_set``: a hit is decoded from
  the stored bytes (a fresh object every time); a miss marks the keys, reads
  ``GET``/``MGET`` with ``PTTL`` in one round trip and keeps the reply only
  if the marks survived (an invalidation in between cancels them).  The
  server TTL caps the local copy's life: Valkey reports an expiry only when
  the key is physically deleted.
* every write command drops the local copies of its keys before it is sent
  and again once it has returned (read your writes, and a read of the old
  value that raced the write cannot be kept); commands whose keys are not
  plain cache keys (``clear``, patterns, renames, set stores, hashes)
  empty the whole store.
* with ``client=`` (a caller's raw client or pipeline) reads bypass the near
  cache; writes still drop the local copies.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT

from django_valkey._speedups._nearcache_py import NOT_CACHED
from django_valkey.driver import Pipe, async_command, sync_command
from django_valkey.exceptions import CorruptValueError
from django_valkey.operations.core import _corrupt_as_miss

__all__ = ["wrap_async_client", "wrap_client"]

_monotonic = time.monotonic
_ABSENT = object()

#: Writes to one cache key (the first argument).
KEY_WRITES = (
    "set", "add", "delete", "incr", "decr", "touch", "expire", "pexpire", "expire_at",
    "pexpire_at", "persist", "sadd", "spop", "srem",
)  # fmt: skip
#: Writes to several cache keys (an iterable, or a mapping's keys).
MANY_WRITES = ("delete_many", "set_many", "mset")
#: Writes whose keys are not plain cache keys: the whole store is dropped.
ALL_WRITES = (
    "clear", "delete_pattern", "incr_version", "decr_version", "sdiffstore", "sinterstore",
    "smove", "sunionstore", "hset", "hdel",
    # the cluster client's own
    "msetnx", "mset_nonatomic", "flushall",
)  # fmt: skip


def _fetch(self: Any, made: list[str], primary: bool = False) -> Any:
    """One round trip: the values, then their remaining lives (ms).

    Pipelined ``GET``s rather than one ``MGET``: a shard pipeline must not
    split a multi-key command across servers."""
    commands: list[tuple[Any, ...]] = [("GET", m) for m in made]
    commands += [("PTTL", m) for m in made]
    return (yield Pipe(primary, commands))


def _split(made: list[str], replies: list[Any], started: float) -> list[tuple[Any, float, Any]]:
    """``(value read, local deadline, value to keep)`` per key: a key gone by
    the time of its PTTL (-2) is kept as absent, the latest state read."""
    count = len(made)
    out = []
    for value, pttl in zip(replies[:count], replies[count:]):
        # The server measured the TTL after `started`: expiring locally at
        # started + pttl is never later than the server does.
        deadline = started + pttl / 1000.0 if isinstance(pttl, int) and pttl > 0 else 0.0
        out.append((value, deadline, None if pttl == -2 else value))
    return out


def _param_index(definition: Callable[..., Any], name: str) -> int:
    params = list(inspect.signature(definition).parameters)[1:]  # without self
    return params.index(name) if name in params else -1


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if 0 <= index < len(args) else None


def _key_dropper(
    name: str, definition: Callable[..., Any]
) -> Callable[[Any, tuple[Any, ...], dict[str, Any]], None]:
    """What ``name`` drops, from its arguments (positions read from the
    client's own method: the cluster's ``mset`` orders them differently)."""
    if name in ALL_WRITES:

        def drop_all(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            self._near.store.clear()

        return drop_all
    version_at = _param_index(definition, "version")
    if name in MANY_WRITES:
        first = "keys" if name == "delete_many" else "data"

        def drop_many(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            keys = _arg(args, kwargs, 0, first)
            if keys is None or not hasattr(keys, "__iter__"):
                self._near.store.clear()
                return
            version = _arg(args, kwargs, version_at, "version")
            made = self._keys.make_many(list(keys), version)
            self._near.store.invalidate_many(made)

        return drop_many
    prefix_at = _param_index(definition, "prefix")

    def drop_one(self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        key = _arg(args, kwargs, 0, "key")
        version = _arg(args, kwargs, version_at, "version")
        prefix = _arg(args, kwargs, prefix_at, "prefix") if prefix_at >= 0 else None
        self._near.store.invalidate(self._keys.make_cache_key(key, version, prefix))

    return drop_one


def _sync_write(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    drop = _key_dropper(name, original)

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("client") and name in ("set_many", "delete_many"):
            # Generators are read once: the command and the dropper both need them.
            first = "data" if name == "set_many" else "keys"
            if args and not isinstance(args[0], dict):
                args = (list(args[0]), *args[1:])
            elif first in kwargs and not isinstance(kwargs[first], dict):
                kwargs[first] = list(kwargs[first])
        drop(self, args, kwargs)
        try:
            return original(self, *args, **kwargs)
        finally:
            drop(self, args, kwargs)

    write.__name__ = write.__qualname__ = name
    write.__doc__ = original.__doc__
    return write


def _async_write(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    drop = _key_dropper(name, original)

    async def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        if name in ("set_many", "delete_many"):
            first = "data" if name == "set_many" else "keys"
            if args and not isinstance(args[0], dict):
                args = (list(args[0]), *args[1:])
            elif first in kwargs and not isinstance(kwargs[first], dict):
                kwargs[first] = list(kwargs[first])
        drop(self, args, kwargs)
        try:
            return await original(self, *args, **kwargs)
        finally:
            drop(self, args, kwargs)

    write.__name__ = write.__qualname__ = name
    write.__doc__ = original.__doc__
    return write


class _NearShared:
    """What the sync and async mixins share: hits, marks and fills."""

    _near: Any
    _keys: Any
    _codec: Any

    def _decode(self, value: bytes, made: str, default: Any) -> Any:
        try:
            return self._codec.decode(value, made)
        except CorruptValueError as exc:
            return _corrupt_as_miss(self, exc, default)

    def _begin(self, made: list[str]) -> tuple[Any, list[int], float]:
        near = self._near
        near.ensure()
        store = near.store
        prefix = near.prefix
        marks = [store.begin(m) if m.startswith(prefix) else 0 for m in made]
        return store, marks, _monotonic()

    def _keep(
        self, store: Any, made: list[str], marks: list[int], replies: Any, started: float
    ) -> list[Any]:
        values = []
        for m, mark, (value, deadline, kept) in zip(made, marks, _split(made, replies, started)):
            if mark:
                store.fill(m, mark, kept, deadline)
            values.append(value)
        return values

    def _lookup_many(self, keys: list[Any], made: list[str]) -> tuple[dict[Any, Any], list[int]]:
        store = self._near.store
        now = _monotonic()
        found: dict[Any, Any] = {}
        missing: list[int] = []
        for i, m in enumerate(made):
            value = store.lookup(m, now)
            if value is NOT_CACHED:
                missing.append(i)
            elif value is not None:
                decoded = self._decode(value, m, _ABSENT)
                if decoded is not _ABSENT:
                    found[keys[i]] = decoded
        return found, missing

    def _decode_into(
        self,
        found: dict[Any, Any],
        keys: list[Any],
        made: list[str],
        missing: list[int],
        values: list[Any],
    ) -> None:
        for i, value in zip(missing, values):
            if value is not None:
                decoded = self._decode(value, made[i], _ABSENT)
                if decoded is not _ABSENT:
                    found[keys[i]] = decoded

    def near_cache_info(self) -> dict[str, Any]:
        return self._near.info()


class NearClientCommands(_NearShared):
    """Sync reads through the near cache (mixed in front of a sync client)."""

    _near_fetch = sync_command(_fetch)

    def _read_through(self, made: Any) -> Any:
        """A miss: read the key (and its TTL) from the server, keep it
        unless an invalidation came meanwhile; the raw value or None."""
        store, marks, started = self._begin([made])
        replies = self._near_fetch([made], self._near.fetch_from_primary)
        return self._keep(store, [made], marks, replies, started)[0]

    def get(self, key: Any, default: Any = None, version: Any = None, client: Any = None) -> Any:
        if client is not None:
            return super().get(key, default, version, client=client)  # type: ignore[misc]
        made = self._keys.make(key, version)
        value = self._near.store.lookup(made, _monotonic())
        if value is NOT_CACHED:
            value = self._read_through(made)
        if value is None:
            return default
        return self._decode(value, made, default)

    def has_key(self, key: Any, version: Any = None, client: Any = None) -> bool:
        if client is not None:
            return super().has_key(key, version, client=client)  # type: ignore[misc]
        made = self._keys.make(key, version)
        value = self._near.store.lookup(made, _monotonic())
        if value is NOT_CACHED:
            value = self._read_through(made)
        return value is not None

    def get_many(self, keys: Any, version: Any = None, client: Any = None) -> dict[Any, Any]:
        if client is not None:
            return super().get_many(keys, version, client=client)  # type: ignore[misc]
        keys = list(keys)
        if not keys:
            return {}
        made = self._keys.make_many(keys, version)
        found, missing = self._lookup_many(keys, made)
        if missing:
            wanted = [made[i] for i in missing]
            store, marks, started = self._begin(wanted)
            values = self._keep(
                store,
                wanted,
                marks,
                self._near_fetch(wanted, self._near.fetch_from_primary),
                started,
            )
            self._decode_into(found, keys, made, missing, values)
        return found

    def get_or_set(
        self,
        key: Any,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: Any = None,
        client: Any = None,
    ) -> Any:
        if client is None:
            value = self.get(key, _ABSENT, version)
            if value is not _ABSENT:
                return value
        made = self._keys.make(key, version)
        self._near.store.invalidate(made)
        try:
            return super().get_or_set(key, default, timeout, version, client=client)  # type: ignore[misc]
        finally:
            self._near.store.invalidate(made)


class AsyncNearClientCommands(_NearShared):
    """The asyncio twin of :class:`NearClientCommands`."""

    _near_fetch = async_command(_fetch)

    async def _aread_through(self, made: Any) -> Any:
        """The asyncio twin of the sync client's ``_read_through``."""
        store, marks, started = self._begin([made])
        replies = await self._near_fetch([made], self._near.fetch_from_primary)
        return self._keep(store, [made], marks, replies, started)[0]

    async def get(
        self, key: Any, default: Any = None, version: Any = None, client: Any = None
    ) -> Any:
        if client is not None:
            return await super().get(key, default, version, client=client)  # type: ignore[misc]
        made = self._keys.make(key, version)
        value = self._near.store.lookup(made, _monotonic())
        if value is NOT_CACHED:
            value = await self._aread_through(made)
        if value is None:
            return default
        return self._decode(value, made, default)

    async def has_key(self, key: Any, version: Any = None, client: Any = None) -> bool:
        if client is not None:
            return await super().has_key(key, version, client=client)  # type: ignore[misc]
        made = self._keys.make(key, version)
        value = self._near.store.lookup(made, _monotonic())
        if value is NOT_CACHED:
            value = await self._aread_through(made)
        return value is not None

    async def get_many(self, keys: Any, version: Any = None, client: Any = None) -> dict[Any, Any]:
        if client is not None:
            return await super().get_many(keys, version, client=client)  # type: ignore[misc]
        keys = list(keys)
        if not keys:
            return {}
        made = self._keys.make_many(keys, version)
        found, missing = self._lookup_many(keys, made)
        if missing:
            wanted = [made[i] for i in missing]
            store, marks, started = self._begin(wanted)
            replies = await self._near_fetch(wanted, self._near.fetch_from_primary)
            values = self._keep(store, wanted, marks, replies, started)
            self._decode_into(found, keys, made, missing, values)
        return found

    async def get_or_set(
        self,
        key: Any,
        default: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: Any = None,
        client: Any = None,
    ) -> Any:
        if client is None:
            value = await self.get(key, _ABSENT, version)
            if value is not _ABSENT:
                return value
        made = self._keys.make(key, version)
        self._near.store.invalidate(made)
        try:
            return await super().get_or_set(key, default, timeout, version, client=client)  # type: ignore[misc]
        finally:
            self._near.store.invalidate(made)


def _with_writes(mixin: type, base: type, make: Callable[[str, Callable[..., Any]], Any]) -> type:
    namespace: dict[str, Any] = {}
    for name in (*KEY_WRITES, *MANY_WRITES, *ALL_WRITES):
        original = getattr(base, name, None)
        if original is not None:
            namespace[name] = make(name, original)
    return type(f"Near{base.__name__}", (mixin, base), namespace)


_classes: dict[type, type] = {}


def _near_class(cls: type, mixin: type, make: Callable[[str, Callable[..., Any]], Any]) -> type:
    near_cls = _classes.get(cls)
    if near_cls is None:
        near_cls = _classes[cls] = _with_writes(mixin, cls, make)
    return near_cls


def _rebuilt(client: Any, near_cls: type, near: Any) -> Any:
    # A new object of the near class with the client's state (the client's
    # class may not allow __class__ assignment).
    wrapped: Any = object.__new__(near_cls)
    wrapped.__dict__.update(vars(client))
    wrapped._near = near
    return wrapped


def wrap_client(client: Any, near: Any) -> Any:
    """The sync ``client`` with the near cache in front."""
    return _rebuilt(client, _near_class(type(client), NearClientCommands, _sync_write), near)


def wrap_async_client(client: Any, near: Any) -> Any:
    """The asyncio ``client`` with the near cache in front."""
    near_cls = _near_class(type(client), AsyncNearClientCommands, _async_write)
    return _rebuilt(client, near_cls, near)
