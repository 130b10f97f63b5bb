"""HerdClient: soft deadlines, stale values served, the reference's layout."""

from __future__ import annotations

import pickle
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
    with pytest.raises(NotImplementedError):
        herd.incr("a")


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
        with pytest.raises(NotImplementedError):
            await cache.incr("k")
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
