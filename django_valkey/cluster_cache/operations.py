"""The commands only the cluster clients have, or have differently.

Defined once, like ``django_valkey.operations``, and bound to the sync and
the async cluster clients; the router (``router.py``) sends what they yield
to the right nodes.  Signatures follow django-valkey's ``DefaultClusterClient``
(``mset(data, version, nx, atomic)``, ``keys(pattern, target_nodes, version)``),
with a ``timeout`` the reference did not have.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from valkey.exceptions import NoScriptError

from django_valkey.cluster_cache.routing import cross_slot_error, slot_of
from django_valkey.driver import Call, Cmd, CmdWith, Local, Operation
from django_valkey.operations import core
from django_valkey.operations.keyspace import _user_keys
from django_valkey.operations.timeouts import to_milliseconds

# MSET (or MSETNX) and the TTLs in one atomic step; the keys share a slot.
# ARGV: milliseconds, "1" for NX, then the values.
MSET_SCRIPT = (
    "if ARGV[2] == '1' then for i = 1, #KEYS do "
    "if redis.call('exists', KEYS[i]) == 1 then return 0 end end end "
    "for i = 1, #KEYS do redis.call('set', KEYS[i], ARGV[i + 2], 'PX', ARGV[1]) end "
    "return 1"
)
MSET_SHA = hashlib.sha1(MSET_SCRIPT.encode()).hexdigest()


def keys(
    self: Any, pattern: str = "*", target_nodes: Any = None, version: Any = None, **kwargs: Any
) -> Operation:
    """The user keys matching ``pattern`` on every primary (or on
    ``target_nodes``, a valkey-py node flag or node list)."""
    match = self.make_pattern(pattern, version=version)
    if target_nodes is not None:
        kwargs["target_nodes"] = target_nodes
    if kwargs:
        return _user_keys(self, (yield CmdWith(False, "KEYS", match, **kwargs)))
    return _user_keys(self, (yield Cmd(False, "KEYS", match)))


def mset(
    self: Any,
    data: Mapping[Any, Any],
    version: Any = None,
    nx: bool = False,
    atomic: bool = True,
    timeout: Any = None,
) -> Operation:
    """Store every item at once (``MSET``; ``MSETNX`` with ``nx``).

    Atomic, so every key must be in one hash slot ({hash tags}); with
    ``atomic=False`` this is :func:`mset_nonatomic`.  True when stored (with
    ``nx``, False when a key existed).  A ``timeout`` is set on every key in
    the same atomic step.
    """
    if not atomic:
        return (yield from mset_nonatomic(self, data, version, timeout))
    if not data:
        return True
    made = self._keys.make_many(data, version)
    if len({slot_of(key) for key in made}) > 1:
        raise cross_slot_error("MSETNX" if nx else "MSET", made)
    values = self._codec.encode_many(data.values())
    ms = to_milliseconds(self, timeout)
    if ms is not None and ms <= 0:
        # Django's rule: a timeout of zero or less stores nothing.
        if nx:
            return False
        yield Cmd(True, "DEL", *made)
        return True
    if ms is None:
        pairs = [part for pair in zip(made, values, strict=True) for part in pair]
        return bool((yield Cmd(True, "MSETNX" if nx else "MSET", *pairs)))
    args = (len(made), *made, ms, "1" if nx else "0", *values)
    try:
        stored = yield Cmd(True, "EVALSHA", MSET_SHA, *args)
    except NoScriptError:
        stored = yield Cmd(True, "EVAL", MSET_SCRIPT, *args)
    return bool(stored)


def msetnx(
    self: Any, data: Mapping[Any, Any], version: Any = None, timeout: Any = None
) -> Operation:
    """Store every item only if none of the keys exists (one hash slot)."""
    return (yield from mset(self, data, version, nx=True, timeout=timeout))


def mset_nonatomic(
    self: Any, data: Mapping[Any, Any], version: Any = None, timeout: Any = None
) -> Operation:
    """``MSET`` once per hash slot (not atomic across slots); one reply per
    slot.  With a ``timeout``, ``set_many``'s pipelined ``SET PX``: one reply
    per key."""
    if timeout is not None:
        failed = set((yield from core.set_many(self, data, timeout, version)))
        return [key not in failed for key in data]
    if not data:
        return []
    made = self._keys.make_many(data, version)
    values = self._codec.encode_many(data.values())
    return (yield Call(True, "mset_nonatomic", dict(zip(made, values, strict=True))))


def mget_nonatomic(self: Any, keys: Iterable[Any], version: Any = None) -> Operation:
    """``{key: value}`` for the keys that have a value: ``MGET`` per hash slot."""
    return (yield from core.get_many(self, keys, version))


def keyslot(self: Any, key: Any, version: Any = None) -> Operation:
    """The hash slot of ``key`` (no I/O)."""
    return (yield Local(False, "keyslot", self._keys.make(key, version)))


def flushall(self: Any, asynchronous: bool = False) -> Operation:
    """``FLUSHALL`` on every primary: every key of the cluster, not only this cache's."""
    args = ("FLUSHALL", "ASYNC") if asynchronous else ("FLUSHALL",)
    return (yield Cmd(True, *args))


def readonly(self: Any, target_nodes: Any = None) -> Operation:
    """``READONLY`` (valkey-py's ``readonly``): with ``"replicas"`` or
    ``"all"`` the shared cluster client reads from replicas from now on."""
    return (yield Call(True, "readonly", target_nodes))


def readwrite(self: Any, target_nodes: Any = None) -> Operation:
    """``READWRITE``: back to reading from primaries."""
    return (yield Call(True, "readwrite", target_nodes))


def invalidate_key_from_cache(self: Any, key: Any = None, version: Any = None) -> Operation:
    """Drop ``key`` (every key when None) from valkey-py's client-side cache."""
    made = None if key is None else self._keys.make(key, version)
    return (yield Local(False, "invalidate_key_from_cache", made))


#: The cluster clients' own commands, by method name.
CLUSTER_COMMANDS: dict[str, Callable[..., Operation]] = {
    "keys": keys,
    "mset": mset,
    "msetnx": msetnx,
    "mset_nonatomic": mset_nonatomic,
    "mget_nonatomic": mget_nonatomic,
    "keyslot": keyslot,
    "flushall": flushall,
    "readonly": readonly,
    "readwrite": readwrite,
    "invalidate_key_from_cache": invalidate_key_from_cache,
}
