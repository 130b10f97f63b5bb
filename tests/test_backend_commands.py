"""The commands beyond Django's API (django-valkey's extensions), on a real server."""

from __future__ import annotations

import datetime
import threading
import time

import pytest
from django.core.cache.backends.base import DEFAULT_TIMEOUT

pytestmark = pytest.mark.server


def raw(cache):
    return cache.client.get_client(write=True)


def test_ttl_pttl_persist(cache):
    assert cache.ttl("missing") == 0
    assert cache.pttl("missing") == 0
    cache.set("forever", 1, timeout=None)
    assert cache.ttl("forever") is None
    assert cache.pttl("forever") is None
    cache.set("ten", 1, timeout=10)
    assert 9 <= cache.ttl("ten") <= 10
    assert 9000 < cache.pttl("ten") <= 10000
    assert cache.persist("ten") is True
    assert cache.ttl("ten") is None
    assert cache.persist("ten") is False


def test_expire_variants(cache):
    cache.set("k", "v", timeout=None)
    assert cache.expire("k", 20) is True
    assert 19 <= cache.ttl("k") <= 20
    assert cache.expire("k", datetime.timedelta(seconds=30)) is True
    assert 29 <= cache.ttl("k") <= 30
    assert cache.expire("k", DEFAULT_TIMEOUT) is True
    assert 299 <= cache.ttl("k") <= 300
    assert cache.pexpire("k", 5000) is True
    assert 4000 < cache.pttl("k") <= 5000
    # DEFAULT_TIMEOUT is the cache's timeout in seconds, not milliseconds.
    assert cache.pexpire("k", DEFAULT_TIMEOUT) is True
    assert 299_000 < cache.pttl("k") <= 300_000
    when = datetime.datetime.now() + datetime.timedelta(hours=1)
    assert cache.expire_at("k", when) is True
    assert 3590 < cache.ttl("k") <= 3600
    assert cache.pexpire_at("k", int(time.time() * 1000) + 60_000) is True
    assert 58 <= cache.ttl("k") <= 60
    assert cache.expire("missing", 10) is False


def test_expiry_really_expires(cache):
    cache.set("short", 1, timeout=None)
    cache.pexpire("short", 100)
    time.sleep(0.25)
    assert cache.get("short") is None


def test_keys_iter_keys_delete_pattern(cache, make_cache):
    other = make_cache(KEY_PREFIX="other")
    for i in range(30):
        cache.set(f"user:{i}", i)
    cache.set("session:1", "s")
    other.set("user:1", "not mine")
    assert sorted(cache.keys("user:*")) == sorted(f"user:{i}" for i in range(30))
    assert sorted(cache.iter_keys("user:*", itersize=7)) == sorted(f"user:{i}" for i in range(30))
    assert cache.keys("nothing*") == []
    assert cache.delete_pattern("user:*", itersize=4) == 30
    assert cache.keys("*") == ["session:1"]
    assert other.get("user:1") == "not mine"


def test_pattern_escapes_prefix(make_cache, speedups):
    star = make_cache(KEY_PREFIX="*")
    plain = make_cache(KEY_PREFIX="a")
    plain.set("k", 1)
    star.set("k", 2)
    assert star.keys("*") == ["k"]
    assert star.delete_pattern("*") == 1
    assert plain.get("k") == 1


def test_versions_in_patterns(cache):
    cache.set("k", 1, version=1)
    cache.set("k", 2, version=2)
    assert cache.keys("*", version=2) == ["k"]
    assert cache.delete_pattern("*", version=2) == 1
    assert cache.get("k", version=1) == 1


def test_mget_mset(cache):
    assert cache.mget([]) == {}
    cache.mset({"a": 1, "b": "two", "c": [3]})
    assert cache.mget(["a", "b", "c", "d"]) == {"a": 1, "b": "two", "c": [3]}
    assert cache.ttl("a") is None
    cache.mset({"t": 1}, timeout=30)
    assert 29 <= cache.ttl("t") <= 30


def test_lock_excludes(cache):
    lock = cache.get_lock("resource", timeout=5)
    assert lock.acquire(blocking=False)
    other = cache.lock("resource", timeout=5)
    assert not other.acquire(blocking=False)
    lock.release()
    assert other.acquire(blocking=False)
    other.release()
    assert raw(cache).exists(cache.make_key("resource")) == 0


def test_lock_across_threads(cache):
    counter = {"n": 0}

    def work():
        for _ in range(20):
            with cache.get_lock("counter", timeout=5, blocking_timeout=5):
                value = counter["n"]
                time.sleep(0.0005)
                counter["n"] = value + 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter["n"] == 80


def test_set_commands(cache):
    assert cache.sadd("s", 1, 2.5, "three", b"four") == 4
    assert cache.sadd("s", 1) == 0
    assert cache.scard("s") == 4
    assert cache.smembers("s") == {1, 2.5, "three", b"four"}
    assert cache.sismember("s", "three") is True
    assert cache.sismember("s", "nope") is False
    assert cache.smismember("s", 1, "x") == [True, False]
    # Ints are stored raw, like cache values (INCRBY-compatible layout).
    assert b"1" in raw(cache).smembers(cache.make_key("s"))
    cache.sadd("t", "three", 9)
    assert cache.sinter("s", "t") == {"three"}
    assert cache.sunion("s", "t") == {1, 2.5, "three", b"four", 9}
    assert cache.sdiff("s", "t") == {1, 2.5, b"four"}
    assert cache.sinterstore("i", "s", "t") == 1
    assert cache.smembers("i") == {"three"}
    assert cache.sunionstore("u", "s", "t") == 5
    assert cache.sdiffstore("d", "s", "t") == 3
    assert cache.smembers("d") == {1, 2.5, b"four"}
    assert cache.smove("s", "t", 1) is True
    assert cache.sismember("t", 1)
    assert cache.srem("t", 1, 9) == 2
    assert cache.srandmember("i") == "three"
    assert cache.srandmember("s", 2) and len(cache.srandmember("s", 2)) == 2
    assert cache.spop("i") == "three"
    assert cache.spop("i") is None
    assert len(cache.spop("s", 2)) == 2


def test_set_versions(cache):
    cache.sadd("a", 1, version=2)
    cache.sadd("b", 2, version=1)
    assert cache.sdiffstore("dest", "a", version_dest=1, version_keys=2) == 1
    assert cache.smembers("dest", version=1) == {1}
    assert cache.smembers("a") == set()


def test_sscan(cache):
    members = {f"m{i:03d}" for i in range(100)}
    cache.sadd("big", *members)
    assert cache.sscan("big") == members
    assert set(cache.sscan_iter("big", count=7)) == members
    # match is encoded like a member: exact matches work with every serializer.
    assert cache.sscan("big", match="m042") == {"m042"}


def test_sscan_match_refused_with_compression(make_cache, speedups):
    zipped = make_cache(OPTIONS={"COMPRESSOR": "django_valkey.compressors.zlib.ZlibCompressor"})
    zipped.sadd("s", "a")
    with pytest.raises(ValueError, match="compression"):
        zipped.sscan("s", match="a")


def test_legacy_hash_commands_warn_and_use_raw_names(cache):
    with pytest.warns(DeprecationWarning, match="HashClient"):
        assert cache.hset("h", "f", {"x": 1}) == 1
    with pytest.warns(DeprecationWarning):
        assert cache.hlen("h") == 1
    with pytest.warns(DeprecationWarning):
        assert cache.hkeys("h") == ["f"]
    with pytest.warns(DeprecationWarning):
        assert cache.hexists("h", "f") is True
    assert raw(cache).hkeys("h") == [b":1:f"]
    with pytest.warns(DeprecationWarning):
        assert cache.hdel("h", "f") == 1


def test_hash_client(make_cache, speedups):
    cache = make_cache(OPTIONS={"CLIENT_CLASS": "django_valkey.client.HashClient"})
    assert cache.hset("h", "a", 1) == 1
    assert cache.hset("h", mapping={"b": [2], "c": "three"}) == 2
    assert cache.hset("h", items=["d", 4.5]) == 1
    assert cache.hlen("h") == 4
    assert sorted(cache.hkeys("h")) == ["a", "b", "c", "d"]
    assert cache.hget("h", "b") == [2]
    assert cache.client.hget("h", "d") == 4.5
    assert cache.hget("h", "missing") is None
    assert cache.hexists("h", "c") is True
    assert cache.hdel("h", "c") == 1
    assert cache.hexists("h", "c") is False
    assert raw(cache).exists(":1:h") == 1
    assert cache.hlen("h", version=2) == 0


def test_incr_fallbacks(cache):
    cache.set("f", 1.5)
    assert cache.incr("f") == 2.5
    assert cache.get("f") == 2.5
    big = 2**63 - 1
    cache.set("big", big, timeout=60)
    assert cache.incr("big") == big + 1
    assert cache.get("big") == big + 1
    assert 59 <= cache.ttl("big") <= 60
    assert cache.incr("new", 5, ignore_key_check=True) == 5
    assert cache.ttl("new") is None
    cache.set("neg", -5)
    assert cache.decr("neg", 5) == -10
    assert cache.get("neg") == -10


def test_incr_keeps_ttl(cache):
    cache.set("n", 1, timeout=100)
    cache.incr("n", 10)
    assert 99 <= cache.ttl("n") <= 100


def test_incr_version_keeps_ttl(cache):
    cache.set("v", "value", timeout=100)
    assert cache.incr_version("v") == 2
    assert cache.get("v", version=2) == "value"
    assert cache.get("v") is None
    assert 99 <= cache.ttl("v", version=2) <= 100
    assert cache.decr_version("v", version=2) == 1
    assert cache.get("v") == "value"
    with pytest.raises(ValueError):
        cache.incr_version("absent")


def test_delete_with_prefix_and_counts(cache):
    cache.set("a", 1)
    assert cache.client.delete("a") == 1
    assert cache.delete("a") is False
    assert cache.delete_many([]) is None
    cache.set_many({"x": 1, "y": 2})
    assert cache.delete_many(["x", "y", "z"]) == 2


def test_raw_client_access(cache, django_caches):
    import django_valkey

    raw_client = django_valkey.get_valkey_connection("default")
    raw_client.set("raw", b"1")
    assert raw_client.get("raw") == b"1"
    assert cache.client.get_client_with_index(write=True)[1] == 0


def test_client_argument_runs_on_given_client(cache):
    client = raw(cache)
    pipe = client.pipeline(transaction=False)
    cache.client.set("p", 1, client=pipe)
    cache.client.set("q", 2, client=pipe)
    assert pipe.execute() == [True, True]
    assert cache.get_many(["p", "q"]) == {"p": 1, "q": 2}
