"""Thundering-herd protection: the herd client's versions of the commands.

A value with a timeout is stored as ``(Marker(), value, soft_deadline)`` with
a real TTL of ``timeout + CACHE_HERD_TIMEOUT``.  Past the soft deadline a
reader sees a miss with a probability rising over the grace period, so one
caller recomputes while the others keep being served the stale value.  The
layout is django-valkey's, so entries written by either are read by both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from valkey.exceptions import NoScriptError

from django_valkey.base_client import Marker
from django_valkey.driver import Cmd, Operation, Pipe
from django_valkey.operations import core
from django_valkey.operations.timeouts import to_milliseconds


def _seconds(self: Any, timeout: Any) -> float | None:
    if timeout is DEFAULT_TIMEOUT:
        timeout = self._backend.default_timeout
    return timeout


def _packed(self: Any, value: Any, timeout: float) -> tuple[bytes, int]:
    """The encoded herd tuple and its real TTL in milliseconds."""
    encoded = self._codec.encode(self._pack(value, timeout))
    return encoded, int((timeout + self._herd_timeout) * 1000)


def _fresh(self: Any, raw: bytes, made: str) -> tuple[Any, bool]:
    """``(value, is_miss)`` for a stored reply."""
    value, expired = self._unpack(self._codec.decode(raw, made))
    return value, expired


def get(self: Any, key: Any, default: Any = None, version: Any = None) -> Operation:
    """The value, or ``default`` when missing or (probabilistically) stale."""
    made = self._keys.make(key, version)
    raw = yield Cmd(False, "GET", made)
    if raw is None:
        return default
    value, expired = _fresh(self, raw, made)
    return default if expired else value


def set(
    self: Any,
    key: Any,
    value: Any,
    timeout: Any = DEFAULT_TIMEOUT,
    version: Any = None,
    nx: bool = False,
    xx: bool = False,
) -> Operation:
    """Store a herd-packed value (plain when there is no positive timeout)."""
    seconds = _seconds(self, timeout)
    if seconds is None or seconds <= 0:
        return (yield from core.set(self, key, value, seconds, version, nx, xx))
    made = self._keys.make(key, version)
    encoded, ms = _packed(self, value, seconds)
    return bool((yield core.set_command(made, encoded, ms, nx, xx)))


def add(
    self: Any, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
) -> Operation:
    """Store only if absent; True if stored."""
    return (yield from set(self, key, value, timeout, version, nx=True))


def get_many(self: Any, keys: Iterable[Any], version: Any = None) -> Operation:
    """``{key: value}`` of the fresh values (stale ones count as misses)."""
    keys = list(keys)
    if not keys:
        return {}
    made = self._keys.make_many(keys, version)
    replies = yield Cmd(False, "MGET", *made)
    found = {}
    for key, name, raw in zip(keys, made, replies):
        if raw is not None:
            value, expired = _fresh(self, raw, name)
            if not expired:
                found[key] = value
    return found


def mget(self: Any, keys: Iterable[Any], version: Any = None) -> Operation:
    """Same as :func:`get_many`."""
    return (yield from get_many(self, keys, version))


def set_many(
    self: Any,
    data: Mapping[Any, Any],
    timeout: Any = DEFAULT_TIMEOUT,
    version: Any = None,
    herd: bool = True,
) -> Operation:
    """Store every item herd-packed (``herd=False``: as plain values)."""
    seconds = _seconds(self, timeout)
    if not herd or seconds is None or seconds <= 0:
        return (yield from core.set_many(self, data, seconds, version))
    if not data:
        return []
    keys = list(data)
    made = self._keys.make_many(keys, version)
    commands = []
    for name, value in zip(made, data.values()):
        encoded, ms = _packed(self, value, seconds)
        commands.append(("SET", name, encoded, "PX", ms))
    replies = yield Pipe(True, commands, raise_on_error=False)
    return [key for key, reply in zip(keys, replies) if reply is not True]


def touch(self: Any, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> Operation:
    """Re-store the value with a new timeout; False if missing."""
    made = self._keys.make(key, version)
    raw = yield Cmd(False, "GET", made)
    if raw is None:
        return False
    value, _ = self._unpack(self._codec.decode(raw, made))
    ms = to_milliseconds(self, timeout)
    if ms is not None and ms <= 0:
        return bool((yield Cmd(True, "DEL", made)))
    return (yield from set(self, key, value, timeout, version))


# Compare-and-set: replace the value only if it is still the one read.
CAS_SCRIPT = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end return 0"
)
CAS_SHA = hashlib.sha1(CAS_SCRIPT.encode()).hexdigest()


def _envelope(decoded: Any) -> bool:
    return type(decoded) is tuple and len(decoded) == 3 and isinstance(decoded[0], Marker)


def incr(
    self: Any, key: Any, delta: int = 1, version: Any = None, ignore_key_check: bool = False
) -> Operation:
    """Add ``delta`` to the number at ``key``, herd-packed or plain.

    A herd envelope is a pickle (maybe compressed) the server cannot read, so
    the value is unpacked, added to and repacked here (same marker and soft
    deadline, TTL kept), then written with a compare-and-set script that
    only replaces the exact bytes read: a concurrent writer makes this retry,
    never lose its update.  Plain values use the default client's ``incr``.
    """
    made = self._keys.make(key, version)
    while True:
        # Read from the primary: the compare-and-set runs there.
        raw = yield Cmd(True, "GET", made)
        if raw is None:
            return (yield from core.incr(self, key, delta, version, ignore_key_check))
        decoded = self._codec.decode(raw, made)
        if not _envelope(decoded):
            return (yield from core.incr(self, key, delta, version, ignore_key_check))
        marker, current, deadline = decoded
        new_value = current + delta
        repacked = self._codec.encode((marker, new_value, deadline))
        try:
            swapped = yield Cmd(True, "EVALSHA", CAS_SHA, 1, made, raw, repacked)
        except NoScriptError:
            swapped = yield Cmd(True, "EVAL", CAS_SCRIPT, 1, made, raw, repacked)
        if swapped:
            return new_value


def decr(
    self: Any, key: Any, delta: int = 1, version: Any = None, ignore_key_check: bool = False
) -> Operation:
    """Subtract ``delta`` from the number at ``key`` (see :func:`incr`)."""
    return (yield from incr(self, key, -delta, version, ignore_key_check))


HERD_COMMANDS: dict[str, Callable[..., Any]] = {
    "get": get,
    "set": set,
    "add": add,
    "get_many": get_many,
    "mget": mget,
    "set_many": set_many,
    "touch": touch,
    "incr": incr,
    "decr": decr,
}
