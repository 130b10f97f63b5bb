"""The near cache's store (compiled and pure twins): LRU limits, marks,
expiry, counters; a model-based check that both twins agree; a million keys."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from django_valkey._speedups._nearcache_py import ENTRY_OVERHEAD, NOT_CACHED
from tests.impls import IMPLS, speedups_module


@pytest.fixture(params=IMPLS, ids=IMPLS)
def Store(request: pytest.FixtureRequest) -> Any:
    return speedups_module("nearcache", request.param).NearStore


def filled(store: Any, key: str, value: bytes | None, deadline: float = 0.0) -> bool:
    return store.fill(key, store.begin(key), value, deadline)


def test_inactive_store_keeps_nothing(Store: Any) -> None:
    store = Store(10, 10_000, 100)
    assert store.begin("k") == 0
    assert not store.fill("k", 0, b"v", 0.0)
    assert store.lookup("k", 0.0) is NOT_CACHED
    store.set_active(True)
    assert filled(store, "k", b"v")
    assert store.lookup("k", 0.0) == b"v"
    store.set_active(False)
    assert store.lookup("k", 0.0) is NOT_CACHED and len(store) == 0


def test_marks(Store: Any) -> None:
    store = Store(10, 10_000, 100)
    store.set_active(True)
    first = store.begin("k")
    assert store.begin("k") == first  # concurrent readers share the mark
    store.invalidate("k")  # a write arrived while the reads were in flight
    second = store.begin("k")
    assert second != first
    assert not store.fill("k", first, b"old", 0.0)
    assert store.fill("k", second, b"new", 0.0)
    assert not store.fill("k", second, b"again", 0.0)  # a mark is used once
    assert store.lookup("k", 0.0) == b"new"
    mark = store.begin("j")
    store.clear()
    assert not store.fill("j", mark, b"v", 0.0)
    assert store.info()["pending"] == 0


def test_absent_values_and_expiry(Store: Any) -> None:
    store = Store(10, 10_000, 100)
    store.set_active(True)
    assert filled(store, "none", None)
    assert store.lookup("none", 0.0) is None
    assert filled(store, "ttl", b"v", 10.0)
    assert store.lookup("ttl", 9.9) == b"v"
    assert store.lookup("ttl", 10.0) is NOT_CACHED
    assert len(store) == 1


def test_limits_and_lru_order(Store: Any) -> None:
    store = Store(3, 10_000, 10)
    store.set_active(True)
    for key in "abc":
        assert filled(store, key, b"v")
    assert store.lookup("a", 0.0) == b"v"  # a is now the most recent
    assert filled(store, "d", b"v")
    assert store.lookup("b", 0.0) is NOT_CACHED  # the least recent went out
    assert [store.lookup(k, 0.0) for k in "acd"] == [b"v"] * 3
    assert not filled(store, "big", b"x" * 11)  # over MAX_VALUE_BYTES
    info = store.info()
    assert info["entries"] == 3 and info["evictions"] == 1
    assert info["bytes"] == 3 * (ENTRY_OVERHEAD + 1 + 1)


def test_byte_limit(Store: Any) -> None:
    per = ENTRY_OVERHEAD + 2 + 10
    store = Store(1000, 3 * per, 100)
    store.set_active(True)
    for i in range(10):
        assert filled(store, f"k{i}", b"x" * 10)
        assert store.info()["bytes"] <= 3 * per
    assert len(store) == 3
    assert [store.lookup(f"k{i}", 0.0) is not NOT_CACHED for i in (7, 8, 9)] == [True] * 3


def test_counters(Store: Any) -> None:
    store = Store(10, 10_000, 100)
    store.set_active(True)
    store.lookup("k", 0.0)
    filled(store, "k", b"v")
    store.lookup("k", 0.0)
    store.invalidate_many(["k", "j"])
    info = store.info()
    assert (info["hits"], info["misses"], info["invalidations"]) == (1, 1, 2)
    assert info["active"] is True


# Both twins make the same decisions, operation by operation.
OPS = st.lists(
    st.tuples(
        st.sampled_from(["fill", "stale_fill", "lookup", "invalidate", "clear", "toggle"]),
        st.sampled_from([f"k{i}" for i in range(8)]),
        st.one_of(st.none(), st.binary(max_size=40)),
        st.sampled_from([0.0, 5.0, 20.0]),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(OPS, st.integers(1, 6), st.integers(150, 800))
def test_twins_agree(ops: Any, max_entries: int, max_bytes: int) -> None:
    stores = [
        speedups_module("nearcache", impl).NearStore(max_entries, max_bytes, 30) for impl in IMPLS
    ]
    for store in stores:
        store.set_active(True)
    for op, key, value, when in ops:
        results = []
        for store in stores:
            if op == "fill":
                results.append(filled(store, key, value, when))
            elif op == "stale_fill":
                mark = store.begin(key)
                store.invalidate(key)
                results.append(store.fill(key, mark, value, when))
            elif op == "lookup":
                results.append(store.lookup(key, 10.0))
            elif op == "invalidate":
                store.invalidate(key)
            elif op == "clear":
                store.clear()
            else:
                store.set_active(not store.active)
            info = store.info()
            assert info["entries"] <= max_entries and info["bytes"] <= max_bytes
            results.append(info)
        half = len(results) // 2
        assert results[:half] == results[half:]


def test_a_million_distinct_keys_stay_within_the_limits(Store: Any) -> None:
    max_entries, max_bytes = 5000, 2**20
    store = Store(max_entries, max_bytes, 1024)
    store.set_active(True)
    value = b"v" * 100
    tracemalloc.start()
    try:
        for i in range(1_000_000):
            key = f"app:1:key{i}"
            store.fill(key, store.begin(key), value, 0.0)
            if i % 100_000 == 0:
                info = store.info()
                assert info["entries"] <= max_entries and info["bytes"] <= max_bytes
        current, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    info = store.info()
    assert info["entries"] <= max_entries and info["bytes"] <= max_bytes
    assert info["evictions"] >= 1_000_000 - max_entries
    assert info["pending"] == 0
    # What Python allocated and still holds is bounded by the limits (the
    # estimate per entry is within a small factor of the real cost), not by
    # the million keys seen.
    assert current < 4 * max_bytes
