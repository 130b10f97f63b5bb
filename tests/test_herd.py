"""HerdClient: soft deadlines, stale values served, the reference's layout."""

from __future__ import annotations

import pickle
import threading
import time

import pytest
from django.test import override_settings

from django_valkey.base_client import Marker, _is_expired

pytestmark = pytest.mark.server

HERD = {"CLIENT_CLASS": "django_valkey.client.HerdClient"}


@pytest.fixture
def herd(make_cache, speedups):
    with override_settings(CACHE_HERD_TIMEOUT=60):
        yield make_cache(OPTIONS=HERD)


def test_round_trip_and_layout(herd, valkey_server):
    assert herd.set("k", {"a": 1}, timeout=10) is True
    assert herd.get("k") == {"a": 1}
    stored = pickle.loads(valkey_server.client().get(":1:k"))
    assert isinstance(stored[0], Marker)
    assert stored[1] == {"a": 1}
    assert abs(stored[2] - (time.time() + 10)) < 2
    # The real TTL includes the grace period.
    assert 69 <= herd.ttl("k") <= 70


def test_reads_reference_layout(herd, valkey_server):
    # What django-valkey 0.4.1 writes: a pickled (Marker, value, deadline).
    deadline = int(time.time()) + 100
    valkey_server.client().set(":1:ref", pickle.dumps((Marker(), "from reference", deadline)))
    assert herd.get("ref") == "from reference"
    assert herd.get_many(["ref"]) == {"ref": "from reference"}


def test_stale_values_become_misses(herd, valkey_server):
    past = int(time.time()) - 1000  # beyond the grace period: always expired
    valkey_server.client().set(":1:old", pickle.dumps((Marker(), "stale", past)))
    assert herd.get("old") is None
    assert herd.get("old", "default") == "default"
    assert herd.get_many(["old"]) == {}


def test_no_timeout_is_plain(herd, valkey_server):
    herd.set("forever", 5, timeout=None)
    assert valkey_server.client().get(":1:forever") == b"5"
    assert herd.get("forever") == 5


def test_bulk_and_touch(herd):
    assert herd.set_many({"a": 1, "b": 2}, timeout=5) == []
    assert herd.get_many(["a", "b", "c"]) == {"a": 1, "b": 2}
    assert herd.set_many({"p": 1}, timeout=5, herd=False) == []
    assert herd.touch("a", 100) is True
    assert 159 <= herd.ttl("a") <= 160
    assert herd.touch("missing", 10) is False
    assert herd.add("a", 9) is False


def test_is_expired_probability():
    assert _is_expired(60, 60) is True
    assert _is_expired(1000, 60) is True
    assert _is_expired(59, 60) is True  # 59 + randint(1, 60) >= 60 always
    # Halfway through the grace period about half the readers see a miss.
    hits = sum(_is_expired(30, 60) for _ in range(2000))
    assert 800 < hits < 1300


ASYNC_BACKEND = "django_valkey.async_cache.cache.AsyncValkeyCache"


@pytest.mark.asyncio
async def test_async_herd_client(make_cache, valkey_server, speedups):
    cache = make_cache(
        ASYNC_BACKEND, OPTIONS={"CLIENT_CLASS": "django_valkey.async_cache.client.AsyncHerdClient"}
    )
    try:
        assert await cache.set("k", [1], timeout=10) is True
        assert await cache.get("k") == [1]
        assert isinstance(pickle.loads(valkey_server.client().get(":1:k"))[0], Marker)
        assert 69 <= await cache.ttl("k") <= 70
        past = int(time.time()) - 1000
        valkey_server.client().set(":1:old", pickle.dumps((Marker(), "stale", past)))
        assert await cache.get("old", "d") == "d"
        assert await cache.get_many(["k", "old"]) == {"k": [1]}
        await cache.set("n", 10, timeout=10)
        assert await cache.incr("n", 5) == 15
        assert await cache.decr("n") == 14
        assert await cache.get("n") == 14
    finally:
        await cache.aclose()


@pytest.mark.asyncio
async def test_sync_herd_backend_async_methods(herd, valkey_server):
    try:
        await herd.aset("k", "v", timeout=10)
        assert isinstance(pickle.loads(valkey_server.client().get(":1:k"))[0], Marker)
        assert await herd.aget("k") == "v"
        assert herd.get("k") == "v"
    finally:
        await herd.aclose()


def _envelope(valkey_server, name):
    return pickle.loads(valkey_server.client().get(name))


def test_incr_decr_keep_the_envelope(herd, valkey_server):
    herd.set("n", 10, timeout=100)
    before = _envelope(valkey_server, ":1:n")
    ttl = herd.pttl("n")
    assert herd.incr("n") == 11
    assert herd.incr("n", 9) == 20
    assert herd.decr("n", 5) == 15
    after = _envelope(valkey_server, ":1:n")
    # Same layout and soft deadline, TTL kept (not reset to the full timeout).
    assert isinstance(after[0], Marker) and after[1] == 15 and after[2] == before[2]
    assert herd.pttl("n") <= ttl
    assert herd.get("n") == 15


def test_incr_of_plain_and_missing_values(herd, valkey_server):
    herd.set("plain", 5, timeout=None)
    assert herd.incr("plain", 2) == 7
    assert valkey_server.client().get(":1:plain") == b"7"
    with pytest.raises(ValueError):
        herd.incr("missing")
    herd.set("none", None, timeout=100)
    with pytest.raises(TypeError):
        herd.incr("none")


def test_incr_version_moves_the_envelope(herd, valkey_server):
    herd.set("v", 3, timeout=100)
    assert herd.incr_version("v") == 2
    assert herd.get("v", version=2) == 3
    assert herd.incr("v", version=2) == 4
    assert herd.decr_version("v", version=2) == 1
    assert herd.get("v", version=1) == 4


def test_incr_is_atomic_under_concurrent_writers(herd, make_cache):
    # Several threads, each with its own cache (own connections), increment
    # one herd-packed counter: the compare-and-set loses no update.
    herd.set("counter", 0, timeout=100)
    with override_settings(CACHE_HERD_TIMEOUT=60):
        caches = [make_cache(OPTIONS=HERD) for _ in range(4)]

    def work(cache):
        for _ in range(50):
            cache.incr("counter")

    threads = [threading.Thread(target=work, args=(cache,)) for cache in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert herd.get("counter") == 200
    assert isinstance(_envelope_of(herd, "counter")[0], Marker)


def _envelope_of(cache, key):
    return pickle.loads(cache.client.get_client().get(cache.make_key(key)))


@pytest.mark.asyncio
async def test_sync_herd_backend_async_incr(herd):
    try:
        await herd.aset("n", 1, timeout=100)
        assert await herd.aincr("n", 2) == 3
        assert await herd.adecr("n") == 2
        assert await herd.aincr_version("n") == 2
        assert await herd.aget("n", version=2) == 2
        assert await herd.adecr_version("n", version=2) == 1
        assert await herd.aget("n") == 2
    finally:
        await herd.aclose()
