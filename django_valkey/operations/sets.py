"""Set commands; members are encoded like cache values (ints and floats raw)."""

from __future__ import annotations

from typing import Any

from django_valkey.driver import Call, Cmd, Emit, Operation


def _members(self: Any, replies: Any) -> set[Any]:
    decode = self._codec.decode
    return {decode(member) for member in replies or ()}


def _match(self: Any, match: Any) -> Any:
    # The glob is encoded like a member (the reference's layout): prefix globs
    # work with JSON, exact matches work with every serializer.
    if match is None:
        return None
    if self._has_compression_enabled():
        raise ValueError("Using match with compression is not supported.")
    return self._codec.encode(match)


def sadd(self: Any, key: Any, *values: Any, version: Any = None) -> Operation:
    """Add members; the number added."""
    made = self._keys.make(key, version)
    return (yield Cmd(True, "SADD", made, *self._codec.encode_many(values)))


def scard(self: Any, key: Any, version: Any = None) -> Operation:
    """The number of members."""
    return (yield Cmd(False, "SCARD", self._keys.make(key, version)))


def sdiff(self: Any, *keys: Any, version: Any = None) -> Operation:
    """Members of the first set not in the others."""
    return _members(self, (yield Cmd(False, "SDIFF", *self._keys.make_many(keys, version))))


def sdiffstore(
    self: Any, dest: Any, *keys: Any, version_dest: Any = None, version_keys: Any = None
) -> Operation:
    """Store :func:`sdiff` at ``dest``; its size."""
    made_dest = self._keys.make(dest, version_dest)
    made = self._keys.make_many(keys, version_keys)
    return (yield Cmd(True, "SDIFFSTORE", made_dest, *made))


def sinter(self: Any, *keys: Any, version: Any = None) -> Operation:
    """Members common to every set."""
    return _members(self, (yield Cmd(False, "SINTER", *self._keys.make_many(keys, version))))


def sinterstore(self: Any, dest: Any, *keys: Any, version: Any = None) -> Operation:
    """Store :func:`sinter` at ``dest``; its size."""
    made = self._keys.make_many((dest, *keys), version)
    return (yield Cmd(True, "SINTERSTORE", *made))


def smismember(self: Any, key: Any, *members: Any, version: Any = None) -> Operation:
    """For each member, whether it is in the set."""
    made = self._keys.make(key, version)
    replies = yield Cmd(False, "SMISMEMBER", made, *self._codec.encode_many(members))
    return [bool(r) for r in replies]


def sismember(self: Any, key: Any, member: Any, version: Any = None) -> Operation:
    """Whether ``member`` is in the set."""
    made = self._keys.make(key, version)
    return bool((yield Cmd(False, "SISMEMBER", made, self._codec.encode(member))))


def smembers(self: Any, key: Any, version: Any = None) -> Operation:
    """Every member."""
    return _members(self, (yield Cmd(False, "SMEMBERS", self._keys.make(key, version))))


def smove(self: Any, source: Any, destination: Any, member: Any, version: Any = None) -> Operation:
    """Move ``member`` from ``source`` to ``destination`` (both at ``version``)."""
    src, dst = self._keys.make(source, version), self._keys.make(destination, version)
    return bool((yield Cmd(True, "SMOVE", src, dst, self._codec.encode(member))))


def spop(self: Any, key: Any, count: int | None = None, version: Any = None) -> Operation:
    """Remove and return a random member, or a set of ``count`` members."""
    made = self._keys.make(key, version)
    if count is None:
        reply = yield Cmd(True, "SPOP", made)
        return None if reply is None else self._codec.decode(reply)
    return _members(self, (yield Cmd(True, "SPOP", made, count)))


def srandmember(self: Any, key: Any, count: int | None = None, version: Any = None) -> Operation:
    """A random member, or a list of ``count`` members."""
    made = self._keys.make(key, version)
    if count is None:
        reply = yield Cmd(False, "SRANDMEMBER", made)
        return None if reply is None else self._codec.decode(reply)
    replies = yield Cmd(False, "SRANDMEMBER", made, count)
    return [self._codec.decode(r) for r in replies]


def srem(self: Any, key: Any, *members: Any, version: Any = None) -> Operation:
    """Remove members; the number removed."""
    made = self._keys.make(key, version)
    return (yield Cmd(True, "SREM", made, *self._codec.encode_many(members)))


def sscan(
    self: Any, key: Any, match: Any = None, count: int = 10, version: Any = None
) -> Operation:
    """Every member matching ``match``, by a full ``SSCAN`` loop."""
    made = self._keys.make(key, version)
    pattern = _match(self, match)
    found: set[Any] = set()
    cursor = 0
    while True:
        cursor, replies = yield Call(False, "sscan", made, cursor, match=pattern, count=count)
        found |= _members(self, replies)
        if not cursor:
            return found


def sscan_iter(
    self: Any, key: Any, match: Any = None, count: int = 10, version: Any = None
) -> Operation:
    """Stream the members matching ``match``."""
    made = self._keys.make(key, version)
    pattern = _match(self, match)
    cursor = 0
    while True:
        cursor, replies = yield Call(False, "sscan", made, cursor, match=pattern, count=count)
        yield Emit([self._codec.decode(r) for r in replies])
        if not cursor:
            return


def sunion(self: Any, *keys: Any, version: Any = None) -> Operation:
    """Members of any of the sets."""
    return _members(self, (yield Cmd(False, "SUNION", *self._keys.make_many(keys, version))))


def sunionstore(self: Any, destination: Any, *keys: Any, version: Any = None) -> Operation:
    """Store :func:`sunion` at ``destination``; its size."""
    made = self._keys.make_many((destination, *keys), version)
    return (yield Cmd(True, "SUNIONSTORE", *made))
