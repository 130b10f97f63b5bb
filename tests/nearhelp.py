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

    The outside writer rewrites a barrier key; the server reports writes on
    the channel in order, and the channel thread applies each message before
    reading the next, so once the barrier's message has been applied every
    earlier write's invalidation has been applied too.  The channels'
    invalidation callback is wrapped to count the barrier's messages.
    """

    def __init__(self, cache: Any, raw: Any, name: str = "__barrier__") -> None:
        self.cache = cache
        self.raw = raw
        self.made = cache.make_key(name)
        self.seen = 0
        for channel in near_of(cache).channels:
            applied = channel._on_keys

            def counting(keys: Any, applied: Any = applied) -> None:
                applied(keys)
                if keys is not None and self.made.encode() in keys:
                    self.seen += 1

            channel._on_keys = counting

    def arm(self) -> None:
        """Kept for readability at call sites: nothing to prepare."""

    def cross(self) -> None:
        """After outside writes: wait until their invalidations were applied."""
        before = self.seen
        self.raw.set(self.made, b"barrier")
        wait_for(lambda: self.seen > before, "the barrier's invalidation")
