"""Correct uses of the public API: mypy must accept every line.

Checked by ``tests/test_typing.py`` (not collected by pytest, never run).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from django_valkey.async_cache.cache import AsyncValkeyCache
from django_valkey.async_cache.client.default import AsyncDefaultClient
from django_valkey.cache import ValkeyCache
from django_valkey.client import DefaultClient
from django_valkey.cluster_cache.async_cache import AsyncClusterValkeyCache
from django_valkey.cluster_cache.cache import ClusterValkeyCache


def sync_backend(cache: ValkeyCache) -> None:
    stored: bool = cache.set("k", 1, timeout=10, nx=True)
    added: bool = cache.add("k", 1)
    value = cache.get("k", default=0)
    existed: bool = cache.delete("k")
    many: dict[object, object] = cache.get_many(["a", "b"])
    failed: list[object] = cache.set_many({"a": 1}, timeout=None)
    deleted: int = cache.delete_many(["a"])
    present: bool = cache.has_key("a")
    count: int = cache.incr("n", 2) + cache.decr("n")
    touched: bool = cache.touch("a", 10)
    cleared: bool = cache.clear()
    computed = cache.get_or_set("k", lambda: 1, timeout=5)
    versions: int = cache.incr_version("k") + cache.decr_version("k", 1)
    remaining: int | None = cache.ttl("k")
    remaining_ms: int | None = cache.pttl("k")
    flags: list[bool] = [
        cache.persist("k"),
        cache.expire("k", 10),
        cache.pexpire("k", 10_000),
        cache.expire_at("k", 2_000_000_000),
        cache.pexpire_at("k", 2_000_000_000_000),
    ]
    names: list[object] = cache.keys("user:*")
    removed: int = cache.delete_pattern("user:*", itersize=100)
    found: Iterator[object] = iter(cache.iter_keys("user:*"))
    lock = cache.get_lock("resource", timeout=5.0)
    old_lock = cache.lock("resource")
    members: set[object] = cache.smembers("s") | cache.sdiff("s", "t") | cache.sinter("s")
    members |= cache.sunion("s", "t") | cache.sscan("s", match="a*")
    sizes: int = cache.sadd("s", 1, 2) + cache.scard("s") + cache.srem("s", 1)
    sizes += cache.sdiffstore("d", "s", "t") + cache.sinterstore("d", "s")
    sizes += cache.sunionstore("d", "s", "t")
    member: bool = cache.sismember("s", 1) and cache.smove("s", "t", 1)
    checks: list[bool] = cache.smismember("s", 1, 2)
    popped = cache.spop("s"), cache.srandmember("s", 2)
    scanned = list(cache.sscan_iter("s"))
    hashes: int = cache.hset("h", "f", 1) + cache.hdel("h", "f") + cache.hlen("h")
    fields: list[object] = cache.hkeys("h")
    field = cache.hget("h", "f")
    has_field: bool = cache.hexists("h", "f")
    raw = cache.mget(["a"]), cache.mset({"a": 1})
    cache.close()
    print(stored, added, value, existed, many, failed, deleted, present, count, touched)
    print(cleared, computed, versions, remaining, remaining_ms, flags, names, removed, found)
    print(lock, old_lock, members, sizes, member, checks, popped, scanned, hashes, fields)
    print(field, has_field, raw)


async def sync_backend_coroutines(cache: ValkeyCache) -> None:
    stored: bool = await cache.aset("k", 1)
    value = await cache.aget("k")
    remaining: int | None = await cache.attl("k")
    many: dict[object, object] = await cache.aget_many(["k"])
    members: set[object] = await cache.asmembers("s")
    existed: bool = await cache.adelete("k")
    keys = [key async for key in cache.aiter_keys("*")]
    await cache.aclose()
    print(stored, value, remaining, many, members, existed, keys)


async def async_backend(cache: AsyncValkeyCache) -> None:
    stored: bool = await cache.set("k", 1, nx=True)
    also: bool = await cache.aset("k", 1)
    value = await cache.get("k")
    remaining: int | None = await cache.ttl("k")
    again: int | None = await cache.attl("k")
    count: int = await cache.incr("n")
    many: dict[object, object] = await cache.get_many(["a"])
    existed: bool = await cache.delete("k")
    removed: int = await cache.delete_pattern("user:*")
    members: set[object] = await cache.smembers("s")
    found: AsyncIterator[object] = cache.iter_keys("*")
    keys = [key async for key in found]
    lock = cache.get_lock("resource")
    await cache.close()
    print(stored, also, value, remaining, again, count, many, existed, removed, members)
    print(keys, lock)


def clients(client: DefaultClient) -> None:
    value = client.get("k")
    stored: bool = client.set("k", 1, client=None)
    removed: int = client.delete("k")
    remaining: int | None = client.ttl("k")
    print(value, stored, removed, remaining)


async def async_clients(client: AsyncDefaultClient) -> None:
    value = await client.get("k")
    remaining: int | None = await client.ttl("k")
    keys = [key async for key in client.iter_keys("*")]
    print(value, remaining, keys)


async def clusters(cache: ClusterValkeyCache, acache: AsyncClusterValkeyCache) -> None:
    remaining: int | None = cache.ttl("k")
    names: list[object] = cache.keys()
    aremaining: int | None = await acache.ttl("k")
    slot: int = cache.keyslot("k") + await acache.keyslot("k") + await acache.akeyslot("k")
    stored: bool = cache.msetnx({"a": 1}) and await acache.amsetnx({"a": 1}, timeout=5)
    values: dict[object, object] = cache.mget_nonatomic(["a"])
    print(remaining, names, aremaining, slot, stored, values)
