"""Client-side sharding over the LOCATION list (consistent hashing).

``ShardClient`` runs the same command definitions as every client; what
changes is where bytes go.  Its ``_get_client()`` hands the driver a
:class:`ShardRouter`, an object shaped like a valkey-py client that sends
each command to the node owning its key, splits multi-key commands and
pipelines into one command per node (one round trip per shard, never one per
key), and walks ``SCAN`` over every node.  ``{hash tags}`` keep related keys
on one node.  Commands whose keys live on different nodes and cannot be split
(``SINTER``, ``SMOVE``, ...) raise ``ValueError``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django_valkey.client.default import DefaultClient
from django_valkey.hash_ring import HashRing

__all__ = ["ShardClient", "ShardRouter"]

_HASH_TAG = re.compile(r".*\{(.*)\}.*")

# Commands whose every argument after the name is a key, split per node.
_SPLIT_KEYS = {"MGET": "list", "DEL": "sum", "UNLINK": "sum", "EXISTS": "sum"}
# Commands sent to every node.
_EVERY_NODE = {"FLUSHDB": "all", "FLUSHALL": "all", "KEYS": "concat", "DBSIZE": "sum"}
# Multi-key commands that must find all their keys on one node.
_SAME_NODE = {
    "SDIFF",
    "SDIFFSTORE",
    "SINTER",
    "SINTERSTORE",
    "SUNION",
    "SUNIONSTORE",
    "SMOVE",
    "RENAME",
}


def _text(key: Any) -> str:
    return key.decode() if isinstance(key, bytes) else str(key)


class ShardRouter:
    """A valkey-py-client look-alike that routes commands to shard nodes."""

    def __init__(self, client: ShardClient) -> None:
        self._client = client

    def _node(self, key: Any) -> Any:
        return self._client.get_client(key=key)

    def _group(self, keys: Iterable[Any]) -> dict[str, list[int]]:
        groups: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(self._client.get_server_name(key), []).append(i)
        return groups

    def execute_command(self, *args: Any, **options: Any) -> Any:
        name = args[0].upper()
        client = self._client
        if name in _SPLIT_KEYS:
            keys = args[1:]
            replies: list[Any] = [None] * len(keys)
            total = 0
            for node, indexes in self._group(keys).items():
                raw = client.get_client_for_node(node)
                reply = raw.execute_command(name, *[keys[i] for i in indexes], **options)
                if _SPLIT_KEYS[name] == "sum":
                    total += reply
                else:
                    for i, value in zip(indexes, reply):
                        replies[i] = value
            return total if _SPLIT_KEYS[name] == "sum" else replies
        if name == "MSET":
            pairs = args[1:]
            keys = pairs[::2]
            for node, indexes in self._group(keys).items():
                flat = [part for i in indexes for part in (pairs[2 * i], pairs[2 * i + 1])]
                client.get_client_for_node(node).execute_command("MSET", *flat)
            return True
        if name in _EVERY_NODE:
            results = [raw.execute_command(*args, **options) for raw in client.all_nodes()]
            how = _EVERY_NODE[name]
            if how == "concat":
                return [item for result in results for item in result]
            if how == "sum":
                return sum(results)
            return all(results)
        if name in ("EVALSHA", "EVAL"):
            return self._node(args[3]).execute_command(*args, **options)
        if name in _SAME_NODE:
            keys = args[1:3] if name in ("SMOVE", "RENAME") else args[1:]
            nodes = {client.get_server_name(k) for k in keys}
            if len(nodes) > 1:
                if name == "RENAME":
                    return self._move(args[1], args[2])
                raise ValueError(
                    f"{name} needs all its keys on one shard; use {{hash tags}} to "
                    f"keep them together: {[_text(k) for k in keys]}"
                )
            return client.get_client_for_node(nodes.pop()).execute_command(*args, **options)
        return self._node(args[1]).execute_command(*args, **options)

    def _move(self, source: Any, destination: Any) -> bool:
        """RENAME across nodes: DUMP + PTTL, RESTORE with the TTL, then DEL."""
        from valkey.exceptions import ResponseError

        src = self._node(source)
        pipe = src.pipeline(transaction=False)
        pipe.dump(source)
        pipe.pttl(source)
        payload, pttl = pipe.execute()
        if payload is None:
            raise ResponseError("no such key")
        self._node(destination).restore(destination, max(pttl, 0), payload, replace=True)
        src.delete(source)
        return True

    def pipeline(self, transaction: bool = True, **kwargs: Any) -> ShardPipeline:
        return ShardPipeline(self, transaction)

    def scan(self, cursor: int = 0, match: Any = None, count: Any = None, **kwargs: Any) -> Any:
        # One cursor over every node: cursor = node_cursor * nodes + node_index,
        # so 0 still means "start" and "done", and a node's end moves to the next.
        nodes = self._client.all_nodes()
        index, node_cursor = cursor % len(nodes), cursor // len(nodes)
        node_cursor, names = nodes[index].scan(node_cursor, match=match, count=count, **kwargs)
        if node_cursor:
            return node_cursor * len(nodes) + index, names
        return (index + 1 if index + 1 < len(nodes) else 0), names

    def sscan(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        return self._node(name).sscan(name, *args, **kwargs)

    def lock(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        return self._node(name).lock(name, *args, **kwargs)


class ShardPipeline:
    """Buffers commands, then sends one pipeline per node and restores the order."""

    def __init__(self, router: ShardRouter, transaction: bool) -> None:
        self._router = router
        self._transaction = transaction
        self._commands: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any, **kwargs: Any) -> ShardPipeline:
        self._commands.append(args)
        return self

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        client = self._router._client
        commands = self._commands
        for command in commands:
            # A multi-key command inside a pipeline cannot be split: its keys
            # must share a node.
            keys = command[1::2] if command[0].upper() == "MSET" else command[1:]
            if (
                command[0].upper() in ("MSET", *_SPLIT_KEYS)
                and len({client.get_server_name(k) for k in keys}) > 1
            ):
                raise ValueError(
                    f"{command[0]} in a pipeline needs all its keys on one shard; use {{hash tags}}"
                )
        replies: list[Any] = [None] * len(commands)
        for node, indexes in self._router._group(c[1] for c in commands).items():
            pipe = client.get_client_for_node(node).pipeline(transaction=self._transaction)
            for i in indexes:
                pipe.execute_command(*commands[i])
            for i, reply in zip(indexes, pipe.execute(raise_on_error=raise_on_error)):
                replies[i] = reply
        self._commands = []
        return replies


class ShardClient(DefaultClient):
    """Shards keys over every LOCATION with :class:`HashRing` (the same
    placement as django-valkey, so its data is found)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ring = HashRing(self._server)
        self._server_dict: dict[str, Any] = {}
        self._router = ShardRouter(self)

    def get_server_name(self, key: Any) -> str:
        """The LOCATION URL of the node owning ``key`` (a made key)."""
        text = _text(key)
        match = _HASH_TAG.match(text)
        return self._ring.get_node(match.group(1) if match else text)

    def get_client_for_node(self, node: str) -> Any:
        raw = self._server_dict.get(node)
        if raw is None:
            raw = self._server_dict[node] = self.connection_factory.connect(node)
        return raw

    def all_nodes(self) -> list[Any]:
        return [self.get_client_for_node(node) for node in self._server]

    def connect(self, index: int = 0) -> Any:
        """``{url: raw client}`` for every node (django-valkey's shape)."""
        for node in self._server:
            self.get_client_for_node(node)
        return dict(self._server_dict)

    def get_client(
        self, write: bool = True, tried: Any = None, key: Any = None, **kwargs: Any
    ) -> Any:
        """The raw client of the node owning ``key`` (a made key)."""
        return self.get_client_for_node(self.get_server_name(key))

    def _get_client(
        self, write: bool = True, tried: Any = None, client: Any = None, **kwargs: Any
    ) -> Any:
        if client is not None:
            return client
        if "key" in kwargs:
            return self.get_client(key=kwargs["key"])
        return self._router

    def _close(self) -> None:
        for raw in self._server_dict.values():
            self.connection_factory.disconnect(raw)
        self._server_dict.clear()
