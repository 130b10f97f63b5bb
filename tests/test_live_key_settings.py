"""Assigning key_func, key_prefix or version on a live cache takes effect
(Django's own backends allow it; its tests rely on it), for both speedups."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.server


def custom(key, prefix, version):
    return f"custom|{prefix}|{version}|{key}"


def test_assignments_reach_the_key_maker(cache, valkey_server):
    cache.set("k", 1)
    raw = valkey_server.client()
    assert raw.exists(":1:k")
    cache.key_prefix = "p"
    cache.set("k", 2)
    assert raw.get("p:1:k") == b"2"
    cache.version = 7
    cache.set("k", 3)
    assert raw.get("p:7:k") == b"3"
    assert cache.make_key("k") == "p:7:k"
    assert cache.get("k") == 3 and cache.get("k", version=1) == 2
    cache.key_func = custom
    cache.set("k", 4)
    assert raw.get("custom|p|7|k") == b"4"
    assert cache.make_key("k") == "custom|p|7|k"
    assert cache.get_many(["k"]) == {"k": 4}


@pytest.mark.asyncio
async def test_assignments_reach_the_async_twin(cache, valkey_server):
    try:
        await cache.aset("k", 1)  # the asyncio twin exists from here on
        cache.key_prefix = "q"
        cache.version = 2
        await cache.aset("k", 5)
        assert valkey_server.client().get("q:2:k") == b"5"
        assert await cache.aget("k") == 5
    finally:
        await cache.aclose()


def test_django_validation_sees_the_new_key_func(cache):
    # Django's test_invalid_key_characters: a key_func that lets bad keys through.
    cache.key_func = lambda key, prefix, version: key
    with pytest.warns(Warning, match="memcached"):
        cache.set("has space", 1)
