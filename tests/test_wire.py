"""What reaches the server: bulk operations are single commands, no MULTI."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.server


@pytest.fixture
def stats(valkey_server):
    admin = valkey_server.client()

    def calls():
        info = admin.info("commandstats")
        return {name.removeprefix("cmdstat_"): v["calls"] for name, v in info.items()}

    def reset():
        admin.config_resetstat()

    return reset, calls


def test_get_many_is_one_mget(cache, stats):
    reset, calls = stats
    cache.set_many({f"k{i}": i for i in range(100)})
    reset()
    result = cache.get_many(f"k{i}" for i in range(100))  # a generator works
    assert result == {f"k{i}": i for i in range(100)}
    seen = calls()
    assert seen.get("mget") == 1
    assert "get" not in seen and "multi" not in seen and "exec" not in seen


def test_set_many_is_pipelined_set_px_without_multi(cache, stats):
    reset, calls = stats
    reset()
    assert cache.set_many({f"k{i}": str(i) for i in range(50)}, timeout=60) == []
    seen = calls()
    assert seen.get("set") == 50
    assert "multi" not in seen and "exec" not in seen
    assert 59 <= cache.ttl("k7") <= 60


def test_delete_many_is_one_del(cache, stats):
    reset, calls = stats
    cache.set_many({f"k{i}": i for i in range(20)})
    reset()
    assert cache.delete_many([f"k{i}" for i in range(20)]) == 20
    seen = calls()
    assert seen.get("del") == 1
    assert "unlink" not in seen


def test_ttl_is_one_round_trip(cache, stats):
    reset, calls = stats
    cache.set("k", 1, timeout=10)
    reset()
    cache.ttl("k")
    seen = calls()
    assert seen.get("ttl") == 1 and "exists" not in seen


def test_stored_layout(cache, valkey_server):
    raw = valkey_server.client()
    cache.set("int", 42)
    cache.set("neg", -5)
    cache.set("float", 1.5)
    cache.set("str", "123")
    assert raw.get(":1:int") == b"42"
    assert raw.get(":1:neg") == b"-5"
    assert raw.get(":1:float") == b"1.5"
    assert raw.get(":1:str").startswith(b"\x80")  # pickled, not raw
    assert cache.get("neg") == -5 and type(cache.get("neg")) is int
    # Server-side arithmetic works on values written through the cache.
    assert raw.incrby(":1:int", 8) == 50
    assert cache.get("int") == 50
