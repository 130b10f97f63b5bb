"""In-process statistics per cache alias: hits, misses, errors, latency.

``OPTIONS["STATISTICS"] = True`` makes every backend built from that alias
count into one shared :class:`Statistics` (Django builds a backend per
thread; they all add up here).  Read them from code::

    from django_valkey.stats import statistics
    statistics("default").snapshot()
    # {"commands": 120, "hits": 80, "misses": 30, "errors": 0,
    #  "seconds": 0.0021, "max_seconds": 0.0004, "mean_seconds": 1.7e-05}

Hits and misses come from the replies of ``GET`` and ``MGET`` (every key of
an ``MGET`` counts, and every ``GET`` of a pipeline); ``commands`` counts
requests sent (a pipeline is one), ``errors`` the requests that raised,
``seconds`` their total wall time.  They count what the server answered:
reads the near cache answers locally are in ``cache.near_cache_info()``.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["Statistics", "all_statistics", "statistics"]


class Statistics:
    """Counters of one alias.  Updates take a lock (uncontended it costs
    well under a microsecond), so no count is lost between threads."""

    __slots__ = ("_lock", "alias", "commands", "errors", "hits", "max_seconds", "misses", "seconds")

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self._lock = threading.Lock()
        self.commands = self.hits = self.misses = self.errors = 0
        self.seconds = self.max_seconds = 0.0

    def __repr__(self) -> str:
        return f"<Statistics {self.alias!r} {self.snapshot()}>"

    def record(self, hits: int, misses: int, failed: bool, elapsed: float) -> None:
        with self._lock:
            self.commands += 1
            self.hits += hits
            self.misses += misses
            if failed:
                self.errors += 1
            self.seconds += elapsed
            if elapsed > self.max_seconds:
                self.max_seconds = elapsed

    def snapshot(self) -> dict[str, Any]:
        """The counters now, as a plain dict."""
        with self._lock:
            commands = self.commands
            return {
                "commands": commands,
                "hits": self.hits,
                "misses": self.misses,
                "errors": self.errors,
                "seconds": self.seconds,
                "max_seconds": self.max_seconds,
                "mean_seconds": self.seconds / commands if commands else 0.0,
            }

    def reset(self) -> None:
        with self._lock:
            self.commands = self.hits = self.misses = self.errors = 0
            self.seconds = self.max_seconds = 0.0


_registry: dict[str, Statistics] = {}
_registry_lock = threading.Lock()


def statistics(alias: str) -> Statistics:
    """The process-wide statistics of ``alias`` (created empty on first use)."""
    stats = _registry.get(alias)
    if stats is None:
        with _registry_lock:
            stats = _registry.setdefault(alias, Statistics(alias))
    return stats


def all_statistics() -> dict[str, dict[str, Any]]:
    """Every alias's snapshot."""
    return {alias: stats.snapshot() for alias, stats in list(_registry.items())}
