"""Django's cache API: get/set/add/delete, bulk operations, counters, versions."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from valkey.exceptions import NoScriptError, ResponseError

from django_valkey.driver import Cmd, CmdWith, Operation, Pipe
from django_valkey.exceptions import CorruptValueError
from django_valkey.operations.timeouts import to_milliseconds
from django_valkey.util import CacheKey

# INCRBY only when the key exists, atomically: Django's incr must raise for a
# missing key, and must keep the key's TTL (INCRBY does).
INCR_SCRIPT = (
    "if redis.call('exists', KEYS[1]) == 1 then "
    "return redis.call('incrby', KEYS[1], ARGV[1]) end return false"
)
INCR_SHA = hashlib.sha1(INCR_SCRIPT.encode()).hexdigest()

logger = logging.getLogger("django_valkey")


def _original(client: Any, key: Any) -> Any:
    """The user's key, for messages and for re-making a key at another version."""
    if isinstance(key, CacheKey):
        return client.reverse_key(key)
    return key


def get(self: Any, key: Any, default: Any = None, version: Any = None) -> Operation:
    """The value stored at ``key``, or ``default`` if there is none."""
    made = self._keys.make(key, version)
    value = yield Cmd(False, "GET", made)
    if value is None:
        return default
    try:
        return self._codec.decode(value, made)
    except CorruptValueError as exc:
        return _corrupt_as_miss(self, exc, default)


def _corrupt_as_miss(self: Any, exc: CorruptValueError, default: Any) -> Any:
    """``default`` for an undecodable value when ``OPTIONS["CORRUPT_VALUE_AS_MISS"]``
    is on (logged, the stored bytes left alone); otherwise the error stands."""
    if not self._options.get("CORRUPT_VALUE_AS_MISS"):
        raise exc
    logger.warning("treating an undecodable cached value as a miss: %s", exc)
    return default


def set(
    self: Any,
    key: Any,
    value: Any,
    timeout: Any = DEFAULT_TIMEOUT,
    version: Any = None,
    nx: bool = False,
    xx: bool = False,
) -> Operation:
    """Store ``value``; True when stored.  With ``nx``/``xx`` False when the
    condition failed.  A timeout of zero or less stores nothing (and removes
    the key, unless ``nx``), as Django's contract requires."""
    made = self._keys.make(key, version)
    ms = to_milliseconds(self, timeout)
    if ms is not None and ms <= 0:
        if nx:
            exists = yield Cmd(False, "EXISTS", made)
            return not exists
        deleted = yield Cmd(True, "DEL", made)
        return bool(deleted)
    return bool((yield set_command(made, self._codec.encode(value), ms, nx, xx)))


def set_command(made: str, encoded: bytes, ms: int | None, nx: bool, xx: bool) -> Cmd:
    """``SET made encoded [PX ms] [NX|XX]`` as a request."""
    if not (nx or xx):
        # The common case, spelled out: no list building on the hot path.
        if ms is None:
            return Cmd(True, "SET", made, encoded)
        return Cmd(True, "SET", made, encoded, "PX", ms)
    args: list[Any] = ["SET", made, encoded]
    if ms is not None:
        args += ("PX", ms)
    args.append("NX" if nx else "XX")
    return Cmd(True, *args)


def add(
    self: Any, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
) -> Operation:
    """Store ``value`` only if ``key`` has none; True if stored, else False."""
    return (yield from set(self, key, value, timeout, version, nx=True))


def delete(self: Any, key: Any, version: Any = None, prefix: Any = None) -> Operation:
    """Remove ``key``; the number of keys removed (0 or 1)."""
    made = self._keys.make_cache_key(key, version, prefix)
    return (yield Cmd(True, "DEL", made))


def get_many(self: Any, keys: Iterable[Any], version: Any = None) -> Operation:
    """``{key: value}`` for the keys that have a value, in one ``MGET``."""
    keys = list(keys)  # any iterable, generators included, read once
    if not keys:
        return {}
    made = self._keys.make_many(keys, version)
    replies = yield Cmd(False, "MGET", *made)
    try:
        return self._codec.decode_many(keys, replies)
    except CorruptValueError as exc:
        _corrupt_as_miss(self, exc, None)
    # Opted in: decode one by one, leaving the undecodable ones out.
    found = {}
    missing = object()
    for key, name, reply in zip(keys, made, replies):
        if reply is not None:
            try:
                found[key] = self._codec.decode(reply, name)
            except CorruptValueError as exc:
                _corrupt_as_miss(self, exc, missing)
    return found


def set_many(
    self: Any, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: Any = None
) -> Operation:
    """Store every item in one round trip; the list of keys that failed."""
    if not data:
        return []
    keys = list(data)
    made = self._keys.make_many(keys, version)
    ms = to_milliseconds(self, timeout)
    if ms is not None and ms <= 0:
        yield Cmd(True, "DEL", *made)
        return []
    values = self._codec.encode_many(data.values())
    if ms is None:
        # No expiry: one MSET does it (per-key TTLs are what need a pipeline).
        yield Cmd(True, "MSET", *[part for pair in zip(made, values) for part in pair])
        return []
    commands = [("SET", k, v, "PX", ms) for k, v in zip(made, values)]
    replies = yield Pipe(True, commands, raise_on_error=False)
    return [key for key, reply in zip(keys, replies) if reply is not True]


def delete_many(self: Any, keys: Iterable[Any], version: Any = None) -> Operation:
    """Remove the keys with one ``DEL``; the number removed (None for no keys)."""
    made = self._keys.make_many(keys, version)
    if not made:
        return None
    return (yield Cmd(True, "DEL", *made))


def has_key(self: Any, key: Any, version: Any = None) -> Operation:
    """True if ``key`` has a value."""
    made = self._keys.make(key, version)
    return (yield Cmd(False, "EXISTS", made)) == 1


def incr(
    self: Any, key: Any, delta: int = 1, version: Any = None, ignore_key_check: bool = False
) -> Operation:
    """Add ``delta`` to the number at ``key`` atomically, keeping its TTL.

    A missing key raises ``ValueError`` (Django's contract) unless
    ``ignore_key_check``, which creates it without expiry.  Values the server
    cannot add to (floats, pickled numbers, results past 64 bits) are read,
    added in Python and written back with their TTL kept.
    """
    made = self._keys.make(key, version)
    try:
        if ignore_key_check:
            value = yield Cmd(True, "INCRBY", made, delta)
        else:
            try:
                value = yield Cmd(True, "EVALSHA", INCR_SHA, 1, made, delta)
            except NoScriptError:
                value = yield Cmd(True, "EVAL", INCR_SCRIPT, 1, made, delta)
    except ResponseError:
        return (yield from _incr_in_python(self, key, made, delta, ignore_key_check))
    if value is None:
        raise ValueError(f"Key {_original(self, key)!r} not found")
    return value


def _incr_in_python(
    self: Any, key: Any, made: str, delta: Any, ignore_key_check: bool
) -> Operation:
    raw = yield Cmd(False, "GET", made)
    if raw is None:
        if not ignore_key_check:
            raise ValueError(f"Key {_original(self, key)!r} not found")
        current: Any = 0
    else:
        current = self._codec.decode(raw, made)
    new_value = current + delta
    yield Cmd(True, "SET", made, self._codec.encode(new_value), "KEEPTTL")
    return new_value


def decr(self: Any, key: Any, delta: int = 1, version: Any = None) -> Operation:
    """Subtract ``delta`` from the number at ``key`` (see :func:`incr`)."""
    return (yield from incr(self, key, -delta, version))


def touch(self: Any, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Operation:
    """Give ``key`` a new timeout; True if the key exists."""
    made = self._keys.make(key, version)
    ms = to_milliseconds(self, timeout)
    if ms is None:
        # PERSIST answers 0 for a key that has no TTL already: ask EXISTS too.
        _, exists = yield Pipe(True, [("PERSIST", made), ("EXISTS", made)])
        return exists == 1
    if ms <= 0:
        return bool((yield Cmd(True, "DEL", made)))
    return bool((yield Cmd(True, "PEXPIRE", made, ms)))


def clear(self: Any) -> Operation:
    """Empty the whole logical database (``FLUSHDB``)."""
    yield Cmd(True, "FLUSHDB")
    return True


def get_or_set(
    self: Any, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
) -> Operation:
    """The value at ``key``; when missing, store ``default`` (called first if
    callable) unless another writer got there first, and return what is
    stored."""
    made = self._keys.make(key, version)
    value = yield Cmd(False, "GET", made)
    if value is not None:
        try:
            return self._codec.decode(value, made)
        except CorruptValueError as exc:
            # Opted in: the caller gets the default; the stored bytes stay.
            _corrupt_as_miss(self, exc, None)
            return default() if callable(default) else default
    if callable(default):
        default = default()
    ms = to_milliseconds(self, timeout)
    if ms is not None and ms <= 0:
        return default
    # SET NX GET: store if absent and learn a racing writer's value, at once.
    args: list[Any] = ["SET", made, self._codec.encode(default), "NX"]
    if ms is not None:
        args += ("PX", ms)
    args.append("GET")
    previous = yield CmdWith(True, *args, get=True)
    if previous is None:
        return default
    return self._codec.decode(previous, made)


def incr_version(self: Any, key: Any, delta: int = 1, version: Any = None) -> Operation:
    """Move ``key``'s value to ``version + delta`` (TTL kept); the new version."""
    if version is None:
        version = self._backend.version
    original = _original(self, key)
    old = self._keys.make(original, version)
    new = self._keys.make(original, version + delta)
    if old != new:
        try:
            # RENAME keeps the value and its TTL, in one atomic step.
            yield Cmd(True, "RENAME", old, new)
        except ResponseError as exc:
            if "no such key" in str(exc).lower():
                raise ValueError(f"Key {original!r} not found") from None
            raise
    elif not (yield Cmd(False, "EXISTS", old)):
        raise ValueError(f"Key {original!r} not found")
    return version + delta


def decr_version(self: Any, key: Any, delta: int = 1, version: Any = None) -> Operation:
    """Move ``key``'s value to ``version - delta``; the new version."""
    return (yield from incr_version(self, key, -delta, version))


def mget(self: Any, keys: Iterable[Any], version: Any = None) -> Operation:
    """``{key: value}`` for the keys that have a value (one ``MGET``)."""
    return (yield from get_many(self, keys, version))


def mset(self: Any, data: Mapping[Any, Any], timeout: Any = None, version: Any = None) -> Operation:
    """Store every item atomically with ``MSET``; with a timeout, the TTLs are
    set in the same MULTI/EXEC transaction."""
    if not data:
        return None
    made = self._keys.make_many(data, version)
    values = self._codec.encode_many(data.values())
    pairs = [part for pair in zip(made, values) for part in pair]
    ms = to_milliseconds(self, timeout)
    if ms is None:
        yield Cmd(True, "MSET", *pairs)
    elif ms <= 0:
        yield Cmd(True, "DEL", *made)
    else:
        commands: list[tuple[Any, ...]] = [("MSET", *pairs)]
        commands += [("PEXPIRE", k, ms) for k in made]
        yield Pipe(True, commands, transaction=True)
    return None
