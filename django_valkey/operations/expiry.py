"""Key expiry: ttl/pttl, expire/pexpire, expire_at/pexpire_at, persist."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django_valkey.driver import Cmd, Operation
from django_valkey.operations.timeouts import to_milliseconds, to_seconds


def _remaining(reply: int) -> int | None:
    # TTL/PTTL answer -2 for a missing key and -1 for a key without expiry.
    if reply == -2:
        return 0
    if reply == -1:
        return None
    return reply


def ttl(self: Any, key: Any, version: Any = None) -> Operation:
    """Seconds left: 0 if the key is missing, None if it never expires."""
    return _remaining((yield Cmd(False, "TTL", self._keys.make(key, version))))


def pttl(self: Any, key: Any, version: Any = None) -> Operation:
    """Milliseconds left: 0 if the key is missing, None if it never expires."""
    return _remaining((yield Cmd(False, "PTTL", self._keys.make(key, version))))


def persist(self: Any, key: Any, version: Any = None) -> Operation:
    """Remove the key's expiry; True if it had one."""
    return bool((yield Cmd(True, "PERSIST", self._keys.make(key, version))))


def expire(self: Any, key: Any, timeout: Any, version: Any = None) -> Operation:
    """Expire in ``timeout`` seconds (int or timedelta; DEFAULT_TIMEOUT allowed)."""
    seconds = to_seconds(self, timeout)
    return bool((yield Cmd(True, "EXPIRE", self._keys.make(key, version), seconds)))


def pexpire(self: Any, key: Any, timeout: Any, version: Any = None) -> Operation:
    """Expire in ``timeout`` milliseconds (DEFAULT_TIMEOUT: the cache's
    timeout, converted to milliseconds)."""
    from django.core.cache.backends.base import DEFAULT_TIMEOUT

    if timeout is DEFAULT_TIMEOUT:
        ms = to_milliseconds(self, timeout)
    elif hasattr(timeout, "total_seconds"):
        ms = int(timeout.total_seconds() * 1000)
    else:
        ms = int(timeout)
    return bool((yield Cmd(True, "PEXPIRE", self._keys.make(key, version), ms)))


def expire_at(self: Any, key: Any, when: Any, version: Any = None) -> Operation:
    """Expire at ``when`` (a datetime or a unix time in seconds)."""
    if isinstance(when, datetime):
        when = int(when.timestamp())
    return bool((yield Cmd(True, "EXPIREAT", self._keys.make(key, version), int(when))))


def pexpire_at(self: Any, key: Any, when: Any, version: Any = None) -> Operation:
    """Expire at ``when`` (a datetime or a unix time in milliseconds)."""
    if isinstance(when, datetime):
        when = int(when.timestamp() * 1000)
    return bool((yield Cmd(True, "PEXPIREAT", self._keys.make(key, version), int(when))))
