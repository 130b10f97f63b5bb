"""Helpers of the near-cache tests: waiting on state (never sleeping blind)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django_valkey._speedups._nearcache_py import NOT_CACHED

DEADLINE = 15.0  # generous: the test machine is shared and loaded


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``predicate`` until it is truthy; fail naming ``what`` at the deadline."""
    end = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def near_of(cache: Any) -> Any:
    return cache.client._near


def wait_tracking(cache: Any) -> None:
    """Wait until every invalidation channel of ``cache`` is subscribed."""
    near = near_of(cache)
    near.ensure()
    wait_for(lambda: near.store.active, "the invalidation channels")


def cached(cache: Any, made: str) -> bool:
    """Whether the near cache holds ``made`` (without touching the server)."""
    return near_of(cache).store.lookup(made, time.monotonic()) is not NOT_CACHED


class Barrier:
    """Proof that the invalidations of earlier outside writes were applied.

    The outside writer rewrites a barrier key that the near cache holds; the
    server reports writes on the channel in order, and the channel thread
    applies them in order, so once the barrier's entry is gone every earlier
    write's invalidation has been applied too.
    """

    def __init__(self, cache: Any, raw: Any, name: str = "__barrier__") -> None:
        self.cache = cache
        self.raw = raw
        self.name = name
        self.made = cache.make_key(name)
        self.count = 0

    def arm(self) -> None:
        """Make the near cache hold the barrier key."""
        self.count += 1
        self.raw.set(self.made, self.cache.client.encode(self.count))
        wait_for(
            lambda: self.cache.get(self.name) == self.count and cached(self.cache, self.made),
            "the barrier to be cached",
        )

    def cross(self) -> None:
        """After outside writes: wait until their invalidations were applied."""
        self.count += 1
        self.raw.set(self.made, self.cache.client.encode(self.count))
        wait_for(lambda: not cached(self.cache, self.made), "the barrier invalidation")
