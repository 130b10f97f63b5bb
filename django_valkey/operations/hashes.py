"""Hash commands in their two flavours.

``HashClient`` (the current flavour): the hash name and the field names are
both made keys, values are encoded like cache values.  ``DefaultClient``
keeps the deprecated flavour of django-valkey 0.3: the hash name is used as
given, only the fields are made keys.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from django_valkey.driver import Cmd, Operation

LEGACY_MESSAGE = "this version of {} is deprecated, use `django_valkey.client.HashClient` instead"


def _deprecated(command: str) -> None:
    warnings.warn(LEGACY_MESSAGE.format(command), DeprecationWarning, stacklevel=4)


def _fields(self: Any, names: Any) -> list[str]:
    reverse = self.reverse_key
    return [reverse(n.decode() if isinstance(n, bytes) else n) for n in names]


# -- current flavour (HashClient) ------------------------------------------


def hset(
    self: Any,
    name: Any,
    key: Any = None,
    value: Any = None,
    mapping: Mapping[Any, Any] | None = None,
    items: Iterable[Any] | None = None,
    version: Any = None,
) -> Operation:
    """Set fields of hash ``name``: ``key``/``value``, a ``mapping`` and/or
    ``items`` (a flat ``[field, value, ...]`` list); the number of new fields."""
    made_name = self._keys.make(name, version)
    make, encode = self._keys.make, self._codec.encode
    pieces: list[Any] = []
    if key is not None:
        pieces += (make(key, version), encode(value))
    for field, val in (mapping or {}).items():
        pieces += (make(field, version), encode(val))
    flat = list(items or ())
    if len(flat) % 2:
        raise ValueError("hset items must be field, value pairs")
    for i in range(0, len(flat), 2):
        pieces += (make(flat[i], version), encode(flat[i + 1]))
    if not pieces:
        raise ValueError("hset needs key and value, mapping or items")
    return (yield Cmd(True, "HSET", made_name, *pieces))


def hget(self: Any, name: Any, key: Any, version: Any = None) -> Operation:
    """The decoded value of field ``key`` of hash ``name`` (None if missing)."""
    field = self._keys.make(key, version)
    reply = yield Cmd(False, "HGET", self._keys.make(name, version), field)
    return None if reply is None else self._codec.decode(reply, field)


def hdel(self: Any, name: Any, key: Any, version: Any = None) -> Operation:
    """Remove field ``key``; the number removed."""
    made_name, field = self._keys.make(name, version), self._keys.make(key, version)
    return (yield Cmd(True, "HDEL", made_name, field))


def hlen(self: Any, name: Any, version: Any = None) -> Operation:
    """The number of fields."""
    return (yield Cmd(False, "HLEN", self._keys.make(name, version)))


def hkeys(self: Any, name: Any, version: Any = None) -> Operation:
    """The field names, as user keys."""
    return _fields(self, (yield Cmd(False, "HKEYS", self._keys.make(name, version))))


def hexists(self: Any, name: Any, key: Any, version: Any = None) -> Operation:
    """Whether field ``key`` exists."""
    made_name, field = self._keys.make(name, version), self._keys.make(key, version)
    return bool((yield Cmd(False, "HEXISTS", made_name, field)))


# -- deprecated flavour (DefaultClient): raw hash name --------------------


def legacy_hset(self: Any, name: str, key: Any, value: Any, version: Any = None) -> Operation:
    """Set field ``key`` of the hash named exactly ``name``."""
    _deprecated("hset")
    field = self._keys.make(key, version)
    return (yield Cmd(True, "HSET", name, field, self._codec.encode(value)))


def legacy_hdel(self: Any, name: str, key: Any, version: Any = None) -> Operation:
    """Remove field ``key`` of the hash named exactly ``name``."""
    _deprecated("hdel")
    return (yield Cmd(True, "HDEL", name, self._keys.make(key, version)))


def legacy_hlen(self: Any, name: str) -> Operation:
    """The number of fields of the hash named exactly ``name``."""
    _deprecated("hlen")
    return (yield Cmd(False, "HLEN", name))


def legacy_hkeys(self: Any, name: str) -> Operation:
    """The field names (user keys) of the hash named exactly ``name``."""
    _deprecated("hkeys")
    return _fields(self, (yield Cmd(False, "HKEYS", name)))


def legacy_hexists(self: Any, name: str, key: Any, version: Any = None) -> Operation:
    """Whether field ``key`` exists in the hash named exactly ``name``."""
    _deprecated("hexists")
    return bool((yield Cmd(False, "HEXISTS", name, self._keys.make(key, version))))
