"""Consistent hashing for the sharded client.

Node placement is the one django-valkey uses, so data written by it is found
here: each node gets ``replicas`` points, ``sha256("<node>:<i>")`` as hex
strings compared lexicographically, and a key belongs to the node of the
last point at or before ``sha256(key)`` (wrapping round to the last point).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["HashRing"]


def _point(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class HashRing:
    """A ring of nodes; ``ring(key)`` / ``get_node(key)`` is the key's node."""

    def __init__(self, nodes: Iterable[Any] = (), replicas: int = 128) -> None:
        self.replicas = replicas
        self.nodes: list[Any] = []  # per ring (the reference shared one list)
        self.ring: dict[str, Any] = {}
        self.sorted_keys: list[str] = []
        for node in nodes:
            self.add_node(node)

    def add_node(self, node: Any) -> None:
        self.nodes.append(node)
        for i in range(self.replicas):
            point = _point(f"{node}:{i}")
            self.ring[point] = node
            bisect.insort(self.sorted_keys, point)

    def remove_node(self, node: Any) -> None:
        self.nodes.remove(node)
        for i in range(self.replicas):
            point = _point(f"{node}:{i}")
            del self.ring[point]
            self.sorted_keys.remove(point)

    def get_node_pos(self, key: str) -> int | None:
        """Index in ``sorted_keys`` of the point owning ``key`` (None: empty ring)."""
        if not self.sorted_keys:
            return None
        index = bisect.bisect(self.sorted_keys, _point(key)) - 1
        return index if index >= 0 else len(self.sorted_keys) - 1

    def get_node(self, key: str) -> Any:
        """The node owning ``key`` (None for an empty ring)."""
        pos = self.get_node_pos(key)
        return None if pos is None else self.ring[self.sorted_keys[pos]]

    def iter_nodes(self, key: str) -> Iterator[tuple[str, Any]]:
        """``(point, node)`` pairs from ``key``'s owner round the ring."""
        pos = self.get_node_pos(key)
        if pos is None:
            return
        for point in self.sorted_keys[pos:] + self.sorted_keys[:pos]:
            yield point, self.ring[point]

    def __call__(self, key: str) -> Any:
        return self.get_node(key)
