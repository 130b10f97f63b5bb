"""Where each command goes in a Valkey Cluster: pure planning, no I/O.

:func:`route` tells the routers (``router.py``) how to run one command:

* a command with one key, or with keys all in one hash slot, goes to the
  node serving that slot;
* ``MGET``, ``DEL``, ``UNLINK``, ``EXISTS``, ``TOUCH`` and ``MSET`` with keys
  in several slots become one command per slot, and a merge function puts
  the replies back together in the caller's order;
* ``FLUSHDB``, ``FLUSHALL``, ``KEYS`` and ``DBSIZE`` run on every primary;
* multi-key commands that must stay atomic (``SINTER``, ``SMOVE``,
  ``MSETNX``, scripts, ...) need their keys in one slot, else a
  ``ValueError`` names ``{hash tags}``; ``RENAME`` across slots is a move.

Also here: how the routers merge, report and translate errors.
"""

from __future__ import annotations

import functools
from binascii import crc_hqx
from collections.abc import Callable, Iterable
from typing import Any

from valkey.crc import VALKEY_CLUSTER_HASH_SLOTS
from valkey.exceptions import (
    AskError,
    ClusterDownError,
    ClusterError,
    ConnectionError,
    ResponseError,
    SlotNotCoveredError,
    TimeoutError,
    TryAgainError,
    ValkeyClusterException,
)

__all__ = [
    "ANY",
    "EVERY",
    "MOVE",
    "ONE",
    "RECOVERABLE",
    "SPLIT",
    "Batch",
    "cross_slot_error",
    "encode_key",
    "pipeline_slots",
    "route",
    "slot_of",
    "unavailable",
]

# Failures valkey-py's execute_command knows how to recover from: redirects
# (MovedError is an AskError), migrations in progress, failovers.
RECOVERABLE = (AskError, TryAgainError, ClusterDownError, ConnectionError, TimeoutError)
# What may mean "the cluster cannot serve this now" (see :func:`unavailable`).
_UNAVAILABLE = (ClusterError, ValkeyClusterException)

_SLOT_MASK = VALKEY_CLUSTER_HASH_SLOTS - 1
_BRACE = ord("{")

# Commands whose every argument is a key, split per slot; how replies merge.
_SPLIT_KEYS = {"MGET": "order", "DEL": "sum", "UNLINK": "sum", "EXISTS": "sum", "TOUCH": "sum"}
# Commands run on every primary; how replies merge.
_EVERY_PRIMARY = {"FLUSHDB": "all", "FLUSHALL": "all", "KEYS": "concat", "DBSIZE": "sum"}
# Multi-key commands that need every key in one slot: where their keys are.
_SAME_SLOT: dict[str, Callable[[tuple[Any, ...]], tuple[Any, ...]]] = {
    **dict.fromkeys(
        ("SDIFF", "SINTER", "SUNION", "SDIFFSTORE", "SINTERSTORE", "SUNIONSTORE"),
        lambda args: args[1:],
    ),
    **dict.fromkeys(("SMOVE", "RENAME", "RENAMENX"), lambda args: args[1:3]),
    "MSETNX": lambda args: args[1::2],
    **dict.fromkeys(("EVAL", "EVALSHA"), lambda args: args[3 : 3 + int(args[2])]),
}

# Route kinds.
ONE, SPLIT, EVERY, MOVE, ANY = range(5)

#: Commands to run together: their slots, and the commands (argument tuples).
Batch = tuple[list[int], list[tuple[Any, ...]]]


def encode_key(key: Any) -> bytes:
    """A key as valkey-py sends it (str as UTF-8, numbers as their repr)."""
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key)
    return repr(key).encode()


def slot_of(key: Any) -> int:
    """The hash slot of a key (str, bytes or number), ``{hash tags}`` honoured."""
    if type(key) is not bytes:
        key = encode_key(key)
    start = key.find(b"{")
    if start != -1:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return crc_hqx(key, 0) & _SLOT_MASK


def _slots(encoded: list[bytes]) -> list[int]:
    # get_many's hot loop: without a "{" anywhere, no key has a hash tag.
    if b"".join(encoded).find(_BRACE) == -1:
        return [crc_hqx(key, 0) & _SLOT_MASK for key in encoded]
    return [slot_of(key) for key in encoded]


def _text(key: Any) -> str:
    return key.decode(errors="replace") if isinstance(key, bytes) else str(key)


def cross_slot_error(name: str, keys: Iterable[Any]) -> ValueError:
    return ValueError(
        f"{name} needs all its keys in one cluster hash slot; put the common part of "
        f"their names in {{hash tags}} to keep them together: {[_text(k) for k in keys]}"
    )


def _group(slots: list[int]) -> dict[int, list[int]]:
    """``{slot: [positions]}`` in first-seen order."""
    groups: dict[int, list[int]] = {}
    for index, slot in enumerate(slots):
        positions = groups.get(slot)
        if positions is None:
            groups[slot] = [index]
        else:
            positions.append(index)
    return groups


def _split_keys(name: str, keys: tuple[Any, ...]) -> tuple[int, Any]:
    # Keys are encoded once, here: the slot needs the bytes, and so does packing.
    encoded = [
        key if type(key) is bytes else key.encode() if isinstance(key, str) else encode_key(key)
        for key in keys
    ]
    slots = _slots(encoded)
    distinct = len(set(slots))
    if distinct == 1:
        return ONE, slots[0]
    how = _SPLIT_KEYS[name]
    if distinct == len(slots):
        # Every key in a slot of its own (the usual case): no regrouping.
        batch: Batch = (slots, [(name, key) for key in encoded])
        return SPLIT, (batch, _merger(how, None, len(keys)))
    groups = _group(slots)
    commands = [(name, *[encoded[i] for i in idx]) for idx in groups.values()]
    return SPLIT, ((list(groups), commands), _merger(how, list(groups.values()), len(keys)))


def route(args: tuple[Any, ...]) -> tuple[int, Any]:
    """How to run one command on the cluster: ``(kind, data)``.

    ``ONE``: data is the slot.  ``SPLIT``: data is ``(batch, merge)``, one
    command per slot and the function merging their replies.  ``EVERY``:
    data is how to merge the primaries' replies.  ``MOVE``: a RENAME across
    slots.  ``ANY``: no key, valkey-py chooses the node.
    """
    name = args[0].upper() if isinstance(args[0], str) else _text(args[0]).upper()
    if name in _SPLIT_KEYS:
        return _split_keys(name, args[1:])
    if name == "MSET":
        pairs = args[1:]
        groups = _group([slot_of(key) for key in pairs[::2]])
        if len(groups) == 1:
            return ONE, next(iter(groups))
        commands = [
            ("MSET", *[part for i in idx for part in pairs[2 * i : 2 * i + 2]])
            for idx in groups.values()
        ]
        return SPLIT, ((list(groups), commands), _merger("all", None, 0))
    if name in _EVERY_PRIMARY:
        return EVERY, _EVERY_PRIMARY[name]
    keys_of = _SAME_SLOT.get(name)
    if keys_of is not None:
        keys = keys_of(args)
        if not keys:
            return ANY, None
        slots = {slot_of(key) for key in keys}
        if len(slots) == 1:
            return ONE, slots.pop()
        if name == "RENAME":
            return MOVE, None
        raise cross_slot_error(name, keys)
    if len(args) > 1:
        return ONE, slot_of(args[1])
    return ANY, None


def mset_batch(items: list[tuple[Any, Any]]) -> Batch:
    """One ``MSET`` per slot for ``[(key, value), ...]``."""
    groups = _group([slot_of(key) for key, _ in items])
    commands = [("MSET", *[part for i in idx for part in items[i]]) for idx in groups.values()]
    return list(groups), commands


def _merger(how: str, groups: list[list[int]] | None, size: int) -> Callable[[list[Any]], Any]:
    """Merges the replies of a split command (``groups``: the key positions
    of each command, None when each command has one key, in order)."""

    def merge(replies: list[Any]) -> Any:
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        if how == "sum":
            return sum(replies)
        if how == "all":
            return all(replies)
        if groups is None:
            return [reply[0] for reply in replies]
        values: list[Any] = [None] * size
        for positions, reply in zip(groups, replies, strict=True):
            for position, value in zip(positions, reply, strict=True):
                values[position] = value
        return values

    return merge


def merge_every(how: str, reply: Any) -> Any:
    """One reply from valkey-py's multi-node execution: a dict per node, or
    already merged (one node, or KEYS)."""
    if not isinstance(reply, dict):
        return bool(reply) if how == "all" else reply
    values = list(reply.values())
    if how == "all":
        return all(values)
    if how == "sum":
        return sum(values)
    return [item for value in values for item in value]


def pipeline_slots(commands: list[tuple[Any, ...]], transaction: bool) -> list[int]:
    """The slot of each pipelined command (each must fit in one slot)."""
    if transaction:
        raise ValueError(
            "MULTI/EXEC pipelines are not supported by the cluster router; "
            "use a raw client (cache.client.get_client()) for transactions"
        )
    slots = []
    for args in commands:
        kind, data = route(args)
        if kind != ONE:
            raise ValueError(
                f"{args[0]} in a pipeline needs all its keys in one cluster hash slot; "
                "use {hash tags}"
            )
        slots.append(data)
    return slots


def first_error(replies: list[Any]) -> None:
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply


def fail(
    replies: list[Any], indexes: list[int], exc: BaseException, only_unset: bool = False
) -> None:
    """Give ``exc`` as the reply of the commands at ``indexes``."""
    for index in indexes:
        if not only_unset or replies[index] is None:
            replies[index] = exc


def store(
    replies: list[Any],
    indexes: list[int],
    values: list[Any],
    commands: list[tuple[Any, ...]],
    callbacks: Any,
) -> bool:
    """Replies read in bulk, with valkey-py's response callbacks applied;
    whether any of them is an error."""
    errors = False
    last = callback = None
    for index, value in zip(indexes, values, strict=True):
        if isinstance(value, Exception):
            replies[index] = value
            errors = True
            continue
        name = commands[index][0]
        if name is not last:
            callback = callbacks.get(name)
            last = name
        replies[index] = value if callback is None else callback(value)
    return errors


# Errors ------------------------------------------------------------------------


def unavailable(exc: BaseException) -> BaseException | None:
    """The ConnectionError to raise instead of ``exc`` when ``exc`` means "the
    cluster cannot serve this now" (uncovered slot, redirect loop, no
    reachable node), else None: configuration errors and server replies
    (``CLUSTERDOWN`` is a ResponseError already) stay as they are."""
    if isinstance(exc, ResponseError):
        return None
    if isinstance(exc, (SlotNotCoveredError, ClusterError)) or (
        isinstance(exc, ValkeyClusterException)
        and isinstance(exc.__cause__, (ConnectionError, TimeoutError, OSError))
    ):
        error = ConnectionError(f"Valkey Cluster unavailable: {exc}")
        error.__cause__ = exc
        return error
    return None


def translated(method: Callable[..., Any]) -> Callable[..., Any]:
    """Apply :func:`unavailable` to what a sync router method raises."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except _UNAVAILABLE as exc:
            error = unavailable(exc)
            if error is None:
                raise
            raise error from exc

    return call


def async_translated(method: Callable[..., Any]) -> Callable[..., Any]:
    """Apply :func:`unavailable` to what an async router method raises."""

    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except _UNAVAILABLE as exc:
            error = unavailable(exc)
            if error is None:
                raise
            raise error from exc

    return call


# SCAN over every primary -----------------------------------------------------------


def scan_args(
    cluster: Any, cursor: int, match: Any, count: Any, kwargs: dict[str, Any]
) -> tuple[Any, list[Any], int, int]:
    """``(node, SCAN command, node index, primaries)`` for a composite cursor.

    One cursor walks every primary: ``node cursor * primaries + node index``,
    so 0 still means both "start" and "done", and a node's last page moves the
    cursor to the next node.
    """
    primaries = sorted(cluster.get_primaries(), key=lambda node: node.name)
    size = len(primaries)
    index, node_cursor = cursor % size, cursor // size
    args: list[Any] = ["SCAN", node_cursor]
    if match is not None:
        args += ("MATCH", match)
    if count is not None:
        args += ("COUNT", count)
    if kwargs.get("_type") is not None:
        args += ("TYPE", kwargs["_type"])
    return primaries[index], args, index, size


def scan_cursor(node_cursor: int, index: int, size: int) -> int:
    if node_cursor:
        return node_cursor * size + index
    return index + 1 if index + 1 < size else 0
