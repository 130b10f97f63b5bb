# cython: language_level=3
"""The near cache's store, compiled: see ``_nearcache_py.py`` (the spec).

Same API and results as the pure twin.  The LRU is a dict of ``_Entry``
objects threaded on a circular doubly-linked list (a sentinel ``_root``):
a hit is one dict lookup and four pointer moves, with no tuple or list
allocated.  Every public method runs in a critical section on the store, a
no-op with the GIL and a per-object lock on free-threaded builds (a
background thread invalidates while request threads look up and fill).
"""

cimport cython

__all__ = ["ENTRY_OVERHEAD", "NOT_CACHED", "NearStore"]

# One sentinel for both twins (callers test ``is NOT_CACHED``), and one
# overhead estimate.
from django_valkey._speedups._nearcache_py import ENTRY_OVERHEAD, NOT_CACHED

cdef Py_ssize_t _OVERHEAD = ENTRY_OVERHEAD
cdef object _NOT_CACHED = NOT_CACHED


@cython.final
cdef class _Entry:
    cdef object key
    cdef object value
    cdef Py_ssize_t size
    cdef double deadline
    cdef _Entry prev
    cdef _Entry next


@cython.final
cdef class NearStore:
    cdef readonly Py_ssize_t max_entries
    cdef readonly Py_ssize_t max_bytes
    cdef readonly Py_ssize_t max_value_bytes
    cdef dict _map
    cdef dict _pending
    cdef _Entry _root
    cdef Py_ssize_t _bytes
    cdef long long _next_mark
    cdef bint _active
    cdef readonly long long hits
    cdef readonly long long misses
    cdef readonly long long invalidations
    cdef readonly long long evictions
    cdef readonly long long resets

    def __init__(self, Py_ssize_t max_entries, Py_ssize_t max_bytes, Py_ssize_t max_value_bytes):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_value_bytes = max_value_bytes
        self._map = {}
        self._pending = {}
        self._root = _Entry()
        self._root.prev = self._root
        self._root.next = self._root
        self._bytes = 0
        self._next_mark = 0
        self._active = False

    @property
    def active(self):
        return self._active

    def set_active(self, bint active):
        with cython.critical_section(self):
            self._clear()
            self._active = active

    def lookup(self, key, double now):
        cdef _Entry entry
        with cython.critical_section(self):
            found = self._map.get(key)
            if found is None:
                self.misses += 1
                return _NOT_CACHED
            entry = <_Entry>found
            if entry.deadline != 0.0 and now >= entry.deadline:
                self._drop(entry)
                self.misses += 1
                return _NOT_CACHED
            if entry.next is not self._root:
                self._unlink(entry)
                self._append(entry)
            self.hits += 1
            return entry.value

    def begin(self, key):
        with cython.critical_section(self):
            if not self._active:
                return 0
            mark = self._pending.get(key)
            if mark is None:
                self._next_mark += 1
                mark = self._next_mark
                self._pending[key] = mark
            return mark

    def fill(self, key, mark, value, double deadline):
        cdef _Entry entry
        cdef Py_ssize_t size, vlen = 0
        with cython.critical_section(self):
            if not mark or self._pending.get(key) != mark:
                return False
            del self._pending[key]
            if value is not None:
                vlen = len(value)
            size = _OVERHEAD + len(key) + vlen
            if vlen > self.max_value_bytes or size > self.max_bytes:
                return False
            found = self._map.get(key)
            if found is not None:
                self._drop(<_Entry>found)
            entry = _Entry()
            entry.key = key
            entry.value = value
            entry.size = size
            entry.deadline = deadline
            self._map[key] = entry
            self._append(entry)
            self._bytes += size
            while len(self._map) > self.max_entries or self._bytes > self.max_bytes:
                self._drop(self._root.next)
                self.evictions += 1
            return True

    def invalidate(self, key):
        with cython.critical_section(self):
            self._invalidate(key)

    def invalidate_many(self, keys):
        with cython.critical_section(self):
            for key in keys:
                self._invalidate(key)

    def clear(self):
        with cython.critical_section(self):
            self._clear()

    def info(self):
        with cython.critical_section(self):
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

    def __len__(self):
        return len(self._map)

    cdef inline void _invalidate(self, key):
        self.invalidations += 1
        self._pending.pop(key, None)
        found = self._map.get(key)
        if found is not None:
            self._drop(<_Entry>found)

    cdef inline void _unlink(self, _Entry entry):
        entry.prev.next = entry.next
        entry.next.prev = entry.prev

    cdef inline void _append(self, _Entry entry):
        # Newest at the tail (root.prev); the LRU victim is root.next.
        entry.prev = self._root.prev
        entry.next = self._root
        self._root.prev.next = entry
        self._root.prev = entry

    cdef void _drop(self, _Entry entry):
        self._unlink(entry)
        entry.prev = entry.next = None
        del self._map[entry.key]
        self._bytes -= entry.size

    cdef void _clear(self):
        cdef _Entry entry = self._root.next
        cdef _Entry following
        # Break the links so that reference counting frees the entries now.
        while entry is not self._root:
            following = entry.next
            entry.prev = entry.next = None
            entry = following
        self._root.prev = self._root
        self._root.next = self._root
        self._map.clear()
        self._pending.clear()
        self._bytes = 0
        self.resets += 1
