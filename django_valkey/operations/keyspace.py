"""Whole-keyspace commands: keys, iter_keys, delete_pattern, locks."""

from __future__ import annotations

from typing import Any

from django_valkey.driver import Call, Cmd, Emit, Local, Operation


def _user_keys(self: Any, names: Any) -> list[str]:
    reverse = self.reverse_key
    return [reverse(n.decode() if isinstance(n, bytes) else n) for n in names]


def keys(self: Any, search: str, version: Any = None) -> Operation:
    """The user keys matching the glob ``search`` (one ``KEYS``: prefer
    :func:`iter_keys` on large databases)."""
    pattern = self.make_pattern(search, version=version)
    return _user_keys(self, (yield Cmd(False, "KEYS", pattern)))


def iter_keys(
    self: Any, search: str, itersize: int | None = None, version: Any = None
) -> Operation:
    """Stream the user keys matching ``search`` with ``SCAN``."""
    pattern = self.make_pattern(search, version=version)
    cursor = 0
    while True:
        cursor, names = yield Call(False, "scan", cursor, match=pattern, count=itersize)
        yield Emit(_user_keys(self, names))
        if not cursor:
            return


def delete_pattern(
    self: Any,
    pattern: str,
    version: Any = None,
    prefix: Any = None,
    itersize: int | None = None,
) -> Operation:
    """Delete every key matching ``pattern``; the number deleted.

    Keys are unlinked batch by batch as ``SCAN`` finds them, so memory stays
    bounded whatever the number of matches.
    """
    match = self.make_pattern(pattern, version=version, prefix=prefix)
    cursor = 0
    deleted = 0
    while True:
        cursor, names = yield Call(False, "scan", cursor, match=match, count=itersize)
        if names:
            deleted += yield Cmd(True, "UNLINK", *names)
        if not cursor:
            return deleted


def get_lock(
    self: Any,
    key: Any,
    version: Any = None,
    timeout: float | None = None,
    sleep: float = 0.1,
    blocking: bool = True,
    blocking_timeout: float | None = None,
    lock_class: Any = None,
    thread_local: bool = True,
) -> Operation:
    """A valkey-py ``Lock`` (sync or asyncio, like the client) on ``key``."""
    return (
        yield Local(
            True,
            "lock",
            self._keys.make(key, version),
            timeout=timeout,
            sleep=sleep,
            blocking=blocking,
            blocking_timeout=blocking_timeout,
            lock_class=lock_class,
            thread_local=thread_local,
        )
    )
