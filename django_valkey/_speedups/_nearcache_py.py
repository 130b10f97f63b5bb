"""The near cache's store: a bounded LRU of raw values with in-flight marks.

Pure-Python twin of ``_nearcache.pyx`` (same API, same results).  It knows
nothing of servers: the near cache (``django_valkey.near``) asks it for a
value (``lookup``), marks a key before sending a read (``begin``), keeps the
reply only if the mark survived (``fill``), and drops keys when the server or
this process changes them (``invalidate``, ``clear``).

Values are the bytes stored on the server (decoded by the caller on every
hit, so every caller gets a fresh object); ``None`` stands for "the server has
no such key".  ``NOT_CACHED`` is what ``lookup`` answers when the store cannot
answer.  While inactive (the invalidation channel is down) the store holds
nothing and accepts nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

__all__ = ["ENTRY_OVERHEAD", "NOT_CACHED", "NearStore"]

#: Bytes counted per entry on top of its key and value (the entry object, the
#: dict slot and the list links: an estimate, so MAX_BYTES bounds real memory
#: within a constant factor even for tiny values).
ENTRY_OVERHEAD = 96


class _NotCached:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_CACHED"


NOT_CACHED: Any = _NotCached()


class NearStore:
    """LRU map ``key (str) -> (value bytes | None, deadline)`` within limits."""

    def __init__(self, max_entries: int, max_bytes: int, max_value_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_value_bytes = max_value_bytes
        # key -> [value, size, deadline]; order = recency (last = newest).
        self._map: OrderedDict[str, list[Any]] = OrderedDict()
        # key -> mark (an int) of the reads in flight for it.
        self._pending: dict[str, int] = {}
        self._next_mark = 0
        self._bytes = 0
        self._active = False
        self.hits = 0
        self.misses = 0
        self.invalidations = 0
        self.evictions = 0
        self.resets = 0
        # Compound updates must be atomic for threads (and free-threaded builds).
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self._active

    def set_active(self, active: bool) -> None:
        """Turn serving on or off; both directions start from an empty store."""
        with self._lock:
            self._clear()
            self._active = active

    def lookup(self, key: str, now: float) -> Any:
        """The cached value (bytes, or None for "no such key"), else NOT_CACHED."""
        with self._lock:
            entry = self._map.get(key)
            if entry is None:
                self.misses += 1
                return NOT_CACHED
            if entry[2] and now >= entry[2]:
                self._drop(key, entry)
                self.misses += 1
                return NOT_CACHED
            self._map.move_to_end(key)
            self.hits += 1
            return entry[0]

    def begin(self, key: str) -> int:
        """Mark ``key`` before its read is sent; 0 when nothing may be kept."""
        with self._lock:
            if not self._active:
                return 0
            mark = self._pending.get(key)
            if mark is None:
                self._next_mark += 1
                mark = self._pending[key] = self._next_mark
            return mark

    def fill(self, key: str, mark: int, value: bytes | None, deadline: float) -> bool:
        """Keep ``value`` if ``key``'s mark is still ``mark``; True if kept."""
        with self._lock:
            if not mark or self._pending.get(key) != mark:
                return False
            del self._pending[key]
            size = ENTRY_OVERHEAD + len(key) + (len(value) if value is not None else 0)
            if (value is not None and len(value) > self.max_value_bytes) or size > self.max_bytes:
                return False
            old = self._map.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._map[key] = [value, size, deadline]
            self._bytes += size
            while len(self._map) > self.max_entries or self._bytes > self.max_bytes:
                _, evicted = self._map.popitem(last=False)
                self._bytes -= evicted[1]
                self.evictions += 1
            return True

    def invalidate(self, key: str) -> None:
        """Forget ``key`` and cancel the reads of it in flight."""
        with self._lock:
            self.invalidations += 1
            self._pending.pop(key, None)
            entry = self._map.get(key)
            if entry is not None:
                self._drop(key, entry)

    def invalidate_many(self, keys: Any) -> None:
        for key in keys:
            self.invalidate(key)

    def clear(self) -> None:
        """Forget everything, reads in flight included."""
        with self._lock:
            self._clear()

    def info(self) -> dict[str, Any]:
        with self._lock:
            return {
                "entries": len(self._map),
                "bytes": self._bytes,
                "hits": self.hits,
                "misses": self.misses,
                "invalidations": self.invalidations,
                "evictions": self.evictions,
                "resets": self.resets,
                "pending": len(self._pending),
                "max_entries": self.max_entries,
                "max_bytes": self.max_bytes,
                "max_value_bytes": self.max_value_bytes,
                "active": self._active,
            }

    def __len__(self) -> int:
        return len(self._map)

    def _drop(self, key: str, entry: list[Any]) -> None:
        del self._map[key]
        self._bytes -= entry[1]

    def _clear(self) -> None:
        self._map.clear()
        self._pending.clear()
        self._bytes = 0
        self.resets += 1
