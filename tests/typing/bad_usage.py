"""Misuses of the public API: mypy must reject each line marked ``# E: <code>``
(and nothing else).  Checked by ``tests/test_typing.py``; never run."""

from __future__ import annotations

from django_valkey.async_cache.cache import AsyncValkeyCache
from django_valkey.cache import ValkeyCache
from django_valkey.client import DefaultClient
from django_valkey.cluster_cache.async_cache import AsyncClusterValkeyCache


def sync_backend(cache: ValkeyCache) -> None:
    cache.set("k")  # E: call-arg
    cache.ttl()  # E: call-arg
    cache.expire("k")  # E: call-arg
    cache.incr("k", delta="2")  # E: arg-type
    cache.get_lock("k", timeout="soon")  # E: arg-type
    cache.set("k", 1, nx="yes")  # E: arg-type
    cache.set("k", 1, nxx=True)  # E: call-arg
    cache.sadd("s", 1, versions=2)  # E: call-arg
    cache.no_such_command("k")  # E: attr-defined
    text: str = cache.ttl("k")  # E: assignment
    flag: str = cache.has_key("k")  # E: assignment
    print(text, flag)


async def async_backend(cache: AsyncValkeyCache) -> None:
    count: int = cache.incr("k")  # E: assignment
    remaining: int = await cache.ttl("k")  # E: assignment
    await cache.set()  # E: call-arg
    cache.no_such_command("k")  # E: attr-defined
    print(count, remaining)


def clients(client: DefaultClient) -> None:
    client.get()  # E: call-arg
    client.nonexistent("k")  # E: attr-defined
    text: str = client.ttl("k")  # E: assignment
    print(text)


async def clusters(acache: AsyncClusterValkeyCache) -> None:
    slot: str = await acache.keyslot("k")  # E: assignment
    await acache.msetnx()  # E: call-arg
    print(slot)
