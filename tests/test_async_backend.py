"""The async twins of the sync behaviour tests, on a real server.

Every test runs against both async faces of the package: ``AsyncValkeyCache``
(whose commands are coroutines under both names) and the sync ``ValkeyCache``
through its native ``a*`` coroutines, each under both speedups
implementations.  The tests call the ``a*`` names, which both backends have.

Twins of: test_backend_commands.py (extensions), test_wire.py (what reaches
the server), test_failures.py (errors, IGNORE_EXCEPTIONS, corrupt values) and
test_configuration.py (LOCATION forms, OPTIONS, pools).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import pickle
import threading
import time
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
import valkey
import valkey.asyncio
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_valkey.exceptions import ConnectionInterrupted, CorruptValueError
from tests.servers import ValkeyServer, free_port
from tests.test_tls import tls_server  # noqa: F401 - a fixture, shared with the sync twin

pytestmark = [pytest.mark.server, pytest.mark.asyncio]

BACKENDS = {
    "AsyncValkeyCache": "django_valkey.async_cache.cache.AsyncValkeyCache",
    "ValkeyCache": "django_valkey.cache.ValkeyCache",
}
HASH_CLIENTS = {
    "AsyncValkeyCache": "django_valkey.async_cache.client.AsyncHashClient",
    "ValkeyCache": "django_valkey.client.HashClient",
}
DEAD = {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test (a key of BACKENDS)."""
    return request.param  # type: ignore[no-any-return]


@pytest_asyncio.fixture
async def amake(backend: str, make_cache: Callable[..., Any]) -> AsyncIterator[Callable[..., Any]]:
    """``make_cache`` for the backend under test; caches closed in the test's loop."""
    made: list[Any] = []

    def factory(**params: Any) -> Any:
        cache = make_cache(backend=BACKENDS[backend], **params)
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        await cache.aclose()


@pytest.fixture
def acache(speedups: str, amake: Callable[..., Any]) -> Any:
    """A cache of the backend under test on db 0, per speedups implementation."""
    return amake()


@pytest.fixture
def raw(valkey_server: ValkeyServer) -> Any:
    """A plain sync client on db 0, to look at what the cache really stored."""
    with valkey_server.client() as conn:
        yield conn


async def collect(iterator: Any) -> list[Any]:
    async with contextlib.aclosing(iterator) as items:
        return [item async for item in items]


async def raw_async(cache: Any) -> Any:
    """The raw asyncio client behind the cache's async commands."""
    client = cache.client if getattr(cache, "is_async", False) else cache.async_client
    return await client.get_client(write=True)


# Extensions (twin of test_backend_commands.py) ---------------------------------


async def test_ttl_pttl_persist(acache: Any) -> None:
    assert await acache.attl("missing") == 0
    assert await acache.apttl("missing") == 0
    await acache.aset("forever", 1, timeout=None)
    assert await acache.attl("forever") is None
    assert await acache.apttl("forever") is None
    await acache.aset("ten", 1, timeout=10)
    assert 9 <= await acache.attl("ten") <= 10
    assert 9000 < await acache.apttl("ten") <= 10000
    assert await acache.apersist("ten") is True
    assert await acache.attl("ten") is None
    assert await acache.apersist("ten") is False


async def test_expire_variants(acache: Any) -> None:
    await acache.aset("k", "v", timeout=None)
    assert await acache.aexpire("k", 20) is True
    assert 19 <= await acache.attl("k") <= 20
    assert await acache.aexpire("k", datetime.timedelta(seconds=30)) is True
    assert 29 <= await acache.attl("k") <= 30
    assert await acache.aexpire("k", DEFAULT_TIMEOUT) is True
    assert 299 <= await acache.attl("k") <= 300
    assert await acache.apexpire("k", 5000) is True
    assert 4000 < await acache.apttl("k") <= 5000
    assert await acache.apexpire("k", DEFAULT_TIMEOUT) is True
    assert 299_000 < await acache.apttl("k") <= 300_000
    when = datetime.datetime.now() + datetime.timedelta(hours=1)
    assert await acache.aexpire_at("k", when) is True
    assert 3590 < await acache.attl("k") <= 3600
    assert await acache.apexpire_at("k", int(time.time() * 1000) + 60_000) is True
    assert 58 <= await acache.attl("k") <= 60
    assert await acache.aexpire("missing", 10) is False


async def test_expiry_really_expires(acache: Any) -> None:
    await acache.aset("short", 1, timeout=None)
    await acache.apexpire("short", 100)
    await asyncio.sleep(0.25)
    assert await acache.aget("short") is None


async def test_keys_iter_keys_delete_pattern(acache: Any, amake: Callable[..., Any]) -> None:
    other = amake(KEY_PREFIX="other")
    for i in range(30):
        await acache.aset(f"user:{i}", i)
    await acache.aset("session:1", "s")
    await other.aset("user:1", "not mine")
    expected = sorted(f"user:{i}" for i in range(30))
    assert sorted(await acache.akeys("user:*")) == expected
    assert sorted(await collect(acache.aiter_keys("user:*", itersize=7))) == expected
    assert await acache.akeys("nothing*") == []
    assert await acache.adelete_pattern("user:*", itersize=4) == 30
    assert await acache.akeys("*") == ["session:1"]
    assert await other.aget("user:1") == "not mine"


async def test_iterators_are_async_generators(acache: Any) -> None:
    await acache.asadd("s", "a")
    keys = acache.aiter_keys("*")
    members = acache.asscan_iter("s")
    assert hasattr(keys, "__anext__") and hasattr(members, "__anext__")
    assert await collect(keys) == ["s"]
    assert await collect(members) == ["a"]


async def test_pattern_escapes_prefix(amake: Callable[..., Any], speedups: str) -> None:
    star = amake(KEY_PREFIX="*")
    plain = amake(KEY_PREFIX="a")
    await plain.aset("k", 1)
    await star.aset("k", 2)
    assert await star.akeys("*") == ["k"]
    assert await collect(star.aiter_keys("*")) == ["k"]
    assert await star.adelete_pattern("*") == 1
    assert await plain.aget("k") == 1


async def test_versions_in_patterns(acache: Any) -> None:
    await acache.aset("k", 1, version=1)
    await acache.aset("k", 2, version=2)
    assert await acache.akeys("*", version=2) == ["k"]
    assert await acache.adelete_pattern("*", version=2) == 1
    assert await acache.aget("k", version=1) == 1


async def test_mget_mset(acache: Any) -> None:
    assert await acache.amget([]) == {}
    await acache.amset({"a": 1, "b": "two", "c": [3]})
    assert await acache.amget(["a", "b", "c", "d"]) == {"a": 1, "b": "two", "c": [3]}
    assert await acache.attl("a") is None
    await acache.amset({"t": 1}, timeout=30)
    assert 29 <= await acache.attl("t") <= 30


async def test_lock_excludes(acache: Any, raw: Any) -> None:
    lock = await acache.aget_lock("resource", timeout=5)
    assert isinstance(lock, valkey.asyncio.lock.Lock)
    assert await lock.acquire(blocking=False)
    other = await acache.alock("resource", timeout=5)
    assert not await other.acquire(blocking=False)
    await lock.release()
    assert await other.acquire(blocking=False)
    await other.release()
    assert raw.exists(acache.make_key("resource")) == 0


async def test_lock_across_tasks(acache: Any) -> None:
    counter = {"n": 0}

    async def work() -> None:
        for _ in range(10):
            lock = await acache.aget_lock("counter", timeout=5, blocking_timeout=5, sleep=0.001)
            async with lock:
                value = counter["n"]
                await asyncio.sleep(0.0005)
                counter["n"] = value + 1

    await asyncio.gather(*(work() for _ in range(4)))
    assert counter["n"] == 40


async def test_set_commands(acache: Any, raw: Any) -> None:
    assert await acache.asadd("s", 1, 2.5, "three", b"four") == 4
    assert await acache.asadd("s", 1) == 0
    assert await acache.ascard("s") == 4
    assert await acache.asmembers("s") == {1, 2.5, "three", b"four"}
    assert await acache.asismember("s", "three") is True
    assert await acache.asismember("s", "nope") is False
    assert await acache.asmismember("s", 1, "x") == [True, False]
    assert b"1" in raw.smembers(acache.make_key("s"))
    await acache.asadd("t", "three", 9)
    assert await acache.asinter("s", "t") == {"three"}
    assert await acache.asunion("s", "t") == {1, 2.5, "three", b"four", 9}
    assert await acache.asdiff("s", "t") == {1, 2.5, b"four"}
    assert await acache.asinterstore("i", "s", "t") == 1
    assert await acache.asmembers("i") == {"three"}
    assert await acache.asunionstore("u", "s", "t") == 5
    assert await acache.asdiffstore("d", "s", "t") == 3
    assert await acache.asmembers("d") == {1, 2.5, b"four"}
    assert await acache.asmove("s", "t", 1) is True
    assert await acache.asismember("t", 1)
    assert await acache.asrem("t", 1, 9) == 2
    assert await acache.asrandmember("i") == "three"
    assert len(await acache.asrandmember("s", 2)) == 2
    assert await acache.aspop("i") == "three"
    assert await acache.aspop("i") is None
    assert len(await acache.aspop("s", 2)) == 2


async def test_set_versions(acache: Any) -> None:
    await acache.asadd("a", 1, version=2)
    await acache.asadd("b", 2, version=1)
    assert await acache.asdiffstore("dest", "a", version_dest=1, version_keys=2) == 1
    assert await acache.asmembers("dest", version=1) == {1}
    assert await acache.asmembers("a") == set()


async def test_sscan(acache: Any) -> None:
    members = {f"m{i:03d}" for i in range(100)}
    await acache.asadd("big", *members)
    assert await acache.asscan("big") == members
    assert set(await collect(acache.asscan_iter("big", count=7))) == members
    assert await acache.asscan("big", match="m042") == {"m042"}


async def test_sscan_match_refused_with_compression(
    amake: Callable[..., Any], speedups: str
) -> None:
    zipped = amake(OPTIONS={"COMPRESSOR": "django_valkey.compressors.zlib.ZlibCompressor"})
    await zipped.asadd("s", "a")
    with pytest.raises(ValueError, match="compression"):
        await zipped.asscan("s", match="a")


async def test_legacy_hash_commands_warn_and_use_raw_names(acache: Any, raw: Any) -> None:
    with pytest.warns(DeprecationWarning, match="HashClient"):
        assert await acache.ahset("h", "f", {"x": 1}) == 1
    with pytest.warns(DeprecationWarning):
        assert await acache.ahlen("h") == 1
    with pytest.warns(DeprecationWarning):
        assert await acache.ahkeys("h") == ["f"]
    with pytest.warns(DeprecationWarning):
        assert await acache.ahexists("h", "f") is True
    assert raw.hkeys("h") == [b":1:f"]
    with pytest.warns(DeprecationWarning):
        assert await acache.ahdel("h", "f") == 1


async def test_hash_client(
    amake: Callable[..., Any], backend: str, speedups: str, raw: Any
) -> None:
    cache = amake(OPTIONS={"CLIENT_CLASS": HASH_CLIENTS[backend]})
    assert await cache.ahset("h", "a", 1) == 1
    assert await cache.ahset("h", mapping={"b": [2], "c": "three"}) == 2
    assert await cache.ahset("h", items=["d", 4.5]) == 1
    assert await cache.ahlen("h") == 4
    assert sorted(await cache.ahkeys("h")) == ["a", "b", "c", "d"]
    assert await cache.ahget("h", "b") == [2]
    assert await cache.ahget("h", "missing") is None
    assert await cache.ahexists("h", "c") is True
    assert await cache.ahdel("h", "c") == 1
    assert await cache.ahexists("h", "c") is False
    assert raw.exists(":1:h") == 1
    assert await cache.ahlen("h", version=2) == 0


async def test_incr_fallbacks(acache: Any) -> None:
    await acache.aset("f", 1.5)
    assert await acache.aincr("f") == 2.5
    assert await acache.aget("f") == 2.5
    big = 2**63 - 1
    await acache.aset("big", big, timeout=60)
    assert await acache.aincr("big") == big + 1
    assert await acache.aget("big") == big + 1
    assert 59 <= await acache.attl("big") <= 60
    assert await acache.aincr("new", 5, ignore_key_check=True) == 5
    assert await acache.attl("new") is None
    await acache.aset("neg", -5)
    assert await acache.adecr("neg", 5) == -10
    assert await acache.aget("neg") == -10


async def test_incr_keeps_ttl(acache: Any) -> None:
    await acache.aset("n", 1, timeout=100)
    await acache.aincr("n", 10)
    assert 99 <= await acache.attl("n") <= 100


async def test_incr_version_keeps_ttl(acache: Any) -> None:
    await acache.aset("v", "value", timeout=100)
    assert await acache.aincr_version("v") == 2
    assert await acache.aget("v", version=2) == "value"
    assert await acache.aget("v") is None
    assert 99 <= await acache.attl("v", version=2) <= 100
    assert await acache.adecr_version("v", version=2) == 1
    assert await acache.aget("v") == "value"
    with pytest.raises(ValueError):
        await acache.aincr_version("absent")


async def test_delete_with_prefix_and_counts(acache: Any) -> None:
    await acache.aset("a", 1)
    assert await acache.adelete("a") is True
    assert await acache.adelete("a") is False
    assert await acache.adelete_many([]) is None
    await acache.aset_many({"x": 1, "y": 2})
    assert await acache.adelete_many(["x", "y", "z"]) == 2


async def test_raw_client_access(backend: str, valkey_server: ValkeyServer) -> None:
    from django.core.cache import caches

    from django_valkey.async_cache import get_valkey_connection

    location = f"{valkey_server.url}/0"
    settings_caches = {"default": {"BACKEND": BACKENDS[backend], "LOCATION": location}}
    with override_settings(CACHES=settings_caches):
        try:
            raw_client = await get_valkey_connection("default")
            assert isinstance(raw_client, valkey.asyncio.Valkey)
            await raw_client.set("raw", b"1")
            assert await raw_client.get("raw") == b"1"
        finally:
            await caches["default"].aclose()


async def test_client_argument_runs_on_given_client(acache: Any) -> None:
    pipe = (await raw_async(acache)).pipeline(transaction=False)
    await acache.aset("p", 1, client=pipe)
    await acache.aset("q", 2, client=pipe)
    assert await pipe.execute() == [True, True]
    assert await acache.aget_many(["p", "q"]) == {"p": 1, "q": 2}


# What reaches the server (twin of test_wire.py) ---------------------------------


@pytest.fixture
def stats(valkey_server: ValkeyServer) -> Any:
    admin = valkey_server.client()

    def calls() -> dict[str, int]:
        info = admin.info("commandstats")
        return {name.removeprefix("cmdstat_"): v["calls"] for name, v in info.items()}

    yield admin.config_resetstat, calls
    admin.close()


async def test_get_many_is_one_mget(acache: Any, stats: Any) -> None:
    reset, calls = stats
    await acache.aset_many({f"k{i}": i for i in range(100)})
    reset()
    result = await acache.aget_many(f"k{i}" for i in range(100))
    assert result == {f"k{i}": i for i in range(100)}
    seen = calls()
    assert seen.get("mget") == 1
    assert "get" not in seen and "multi" not in seen and "exec" not in seen


async def test_set_many_is_pipelined_set_px_without_multi(acache: Any, stats: Any) -> None:
    reset, calls = stats
    reset()
    assert await acache.aset_many({f"k{i}": str(i) for i in range(50)}, timeout=60) == []
    seen = calls()
    assert seen.get("set") == 50
    assert "multi" not in seen and "exec" not in seen
    assert 59 <= await acache.attl("k7") <= 60


async def test_delete_many_is_one_del(acache: Any, stats: Any) -> None:
    reset, calls = stats
    await acache.aset_many({f"k{i}": i for i in range(20)})
    reset()
    assert await acache.adelete_many([f"k{i}" for i in range(20)]) == 20
    seen = calls()
    assert seen.get("del") == 1


async def test_ttl_is_one_round_trip(acache: Any, stats: Any) -> None:
    reset, calls = stats
    await acache.aset("k", 1, timeout=10)
    reset()
    await acache.attl("k")
    seen = calls()
    assert seen.get("ttl") == 1 and "exists" not in seen


async def test_stored_layout(acache: Any, raw: Any) -> None:
    await acache.aset("int", 42)
    await acache.aset("neg", -5)
    await acache.aset("float", 1.5)
    await acache.aset("str", "123")
    assert raw.get(":1:int") == b"42"
    assert raw.get(":1:neg") == b"-5"
    assert raw.get(":1:float") == b"1.5"
    assert raw.get(":1:str").startswith(b"\x80")
    value = await acache.aget("neg")
    assert value == -5 and type(value) is int
    assert raw.incrby(":1:int", 8) == 50
    assert await acache.aget("int") == 50


async def test_sync_and_async_write_the_same_bytes(
    amake: Callable[..., Any], make_cache: Callable[..., Any], raw: Any, speedups: str
) -> None:
    sync = make_cache()
    cache = amake()
    value = {"list": [1, 2.5, None], "text": "Iñtërnâtiônàl"}
    sync.set("sync", value)
    await cache.aset("async", value)
    assert raw.get(":1:sync") == raw.get(":1:async")
    assert await cache.aget("sync") == sync.get("async") == value


# Failures (twin of test_failures.py) -----------------------------------------------


@pytest.fixture
def dead_location() -> str:
    return f"valkey://127.0.0.1:{free_port()}/0"


async def test_errors_reach_the_caller(
    amake: Callable[..., Any], dead_location: str, speedups: str
) -> None:
    cache = amake(location=dead_location, OPTIONS=DEAD)
    with pytest.raises(valkey.exceptions.ConnectionError):
        await cache.aget("k")
    with pytest.raises(valkey.exceptions.ConnectionError):
        await cache.aset("k", 1)
    client = cache.client if getattr(cache, "is_async", False) else cache.async_client
    with pytest.raises(ConnectionInterrupted) as info:
        await client.get("k")
    assert isinstance(info.value.__cause__, valkey.exceptions.ConnectionError)


async def test_ignore_exceptions_fallbacks(
    amake: Callable[..., Any], dead_location: str, speedups: str
) -> None:
    cache = amake(location=dead_location, OPTIONS={**DEAD, "IGNORE_EXCEPTIONS": True})
    assert await cache.aget("k") is None
    assert await cache.aget("k", "fallback") == "fallback"
    assert await cache.aset("k", 1) is None
    assert await cache.aget_many(["a", "b"]) == {}
    assert await cache.aset_many({"a": 1, "b": 2}) == ["a", "b"]
    assert await cache.ahas_key("k") is False
    assert await cache.aget_or_set("k", lambda: "computed") == "computed"
    assert await cache.adelete("k") is None
    assert await collect(cache.aiter_keys("*")) == []
    assert await collect(cache.asscan_iter("s")) == []
    assert await cache.aincr("k") is None
    assert await cache.attl("k") is None
    with pytest.raises(TypeError):
        await cache.aget_many(None)


async def test_ignore_exceptions_priority(amake: Callable[..., Any], dead_location: str) -> None:
    with override_settings(DJANGO_VALKEY_IGNORE_EXCEPTIONS=True):
        off = amake(location=dead_location, OPTIONS={**DEAD, "IGNORE_EXCEPTIONS": False})
        with pytest.raises(valkey.exceptions.ConnectionError):
            await off.aget("k")
        on = amake(location=dead_location, OPTIONS=DEAD)
        assert await on.aget("k") is None
    with override_settings(DJANGO_VALKEY_IGNORE_EXCEPTIONS=False):
        on = amake(location=dead_location, OPTIONS={**DEAD, "IGNORE_EXCEPTIONS": True})
        assert await on.aget("k") is None


async def test_ignored_exceptions_are_logged(
    amake: Callable[..., Any], dead_location: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = amake(
        location=dead_location,
        OPTIONS={**DEAD, "IGNORE_EXCEPTIONS": True, "LOG_IGNORE_EXCEPTIONS": True},
    )
    with caplog.at_level(logging.ERROR, logger="django_valkey.base"):
        assert await cache.aget("k") is None
        assert await cache.aget_many(["k"]) == {}
    assert caplog.text.count("Exception ignored") == 2
    assert "ConnectionError" in caplog.text


async def test_recovers_after_server_restart(
    amake: Callable[..., Any], tmp_path: Any, speedups: str
) -> None:
    server = ValkeyServer(workdir=tmp_path).start()
    try:
        cache = amake(location=f"{server.url}/0", OPTIONS=DEAD)
        await cache.aset("k", 1)
        server.stop()
        with pytest.raises(valkey.exceptions.ConnectionError):
            await cache.aget("k")
        server.start()
        await cache.aset("k", 2)
        assert await cache.aget("k") == 2
    finally:
        server.stop()


async def test_idle_connections_closed_by_the_server_are_replaced(
    amake: Callable[..., Any], raw: Any
) -> None:
    cache = amake()
    await asyncio.gather(*(cache.aset(f"k{i}", i) for i in range(10)))
    raw.client_kill_filter(_type="normal", skipme=True)
    await asyncio.sleep(0.2)  # the loop sees the connections end
    # Every pooled connection is dead: each is replaced, none raises.
    assert await asyncio.gather(*(cache.aget(f"k{i}") for i in range(10))) == list(range(10))
    await cache.aset("after", 1)
    assert await cache.aget("after") == 1


async def test_hung_server_honours_socket_timeout(amake: Callable[..., Any], tmp_path: Any) -> None:
    server = ValkeyServer(workdir=tmp_path).start()
    try:
        cache = amake(location=f"{server.url}/0", OPTIONS=DEAD)
        await cache.aset("k", 1)
        server.pause()
        started = time.monotonic()
        with pytest.raises(valkey.exceptions.TimeoutError):
            await cache.aget("k")
        assert time.monotonic() - started < 2
        server.resume()
        assert await cache.aget("k") == 1
    finally:
        server.resume()
        server.stop()


@pytest.mark.parametrize(
    "garbage",
    [b"\x80\x04garbage", pickle.dumps([1, 2, 3])[:-3], b"\x00\x01\x02", b"not a pickle"],
)
async def test_corrupt_values_raise_typed_error_and_stay(
    acache: Any, raw: Any, garbage: bytes
) -> None:
    raw.set(acache.make_key("bad"), garbage)
    with pytest.raises(CorruptValueError) as info:
        await acache.aget("bad")
    assert ":1:bad" in str(info.value)
    with pytest.raises(CorruptValueError):
        await acache.aget_many(["bad"])
    assert raw.get(acache.make_key("bad")) == garbage


async def test_truncated_compressed_value(
    amake: Callable[..., Any], raw: Any, speedups: str
) -> None:
    cache = amake(OPTIONS={"COMPRESSOR": "django_valkey.compressors.zlib.ZlibCompressor"})
    await cache.aset("z", "x" * 1000)
    stored = raw.get(cache.make_key("z"))
    assert zlib.decompress(stored)
    raw.set(cache.make_key("z"), stored[: len(stored) // 2])
    with pytest.raises(CorruptValueError):
        await cache.aget("z")


async def test_wrong_serializer_reading(amake: Callable[..., Any], speedups: str) -> None:
    writer = amake()
    await writer.aset("k", {"a": 1})
    reader = amake(OPTIONS={"SERIALIZER": "django_valkey.serializers.json.JSONSerializer"})
    with pytest.raises(CorruptValueError):
        await reader.aget("k")


async def test_wrongtype_is_a_server_error(acache: Any) -> None:
    await acache.asadd("set", 1)
    with pytest.raises(valkey.exceptions.ResponseError):
        await acache.aget("set")
    with pytest.raises(valkey.exceptions.ResponseError):
        await acache.aincr("set")
    # The error reply was read in full: the connection is still in step.
    await acache.aset("after", "ok")
    assert await acache.aget("after") == "ok"


# Configuration (twin of test_configuration.py) --------------------------------------


@pytest.mark.parametrize("scheme", ["valkey", "redis"])
async def test_tcp_schemes(
    amake: Callable[..., Any], valkey_server: ValkeyServer, scheme: str, speedups: str
) -> None:
    cache = amake(location=f"{scheme}://127.0.0.1:{valkey_server.port}/3")
    await cache.aset("k", "v")
    assert await cache.aget("k") == "v"
    assert valkey_server.client(db=3).exists(":1:k") == 1


async def test_unix_socket(
    amake: Callable[..., Any], valkey_unix_server: ValkeyServer, speedups: str
) -> None:
    cache = amake(location=f"unix://{valkey_unix_server.unixsocket}?db=2")
    await cache.aset("k", [1, 2])
    assert await cache.aget("k") == [1, 2]


@pytest.mark.parametrize("form", ["comma", "list", "tuple"])
async def test_location_lists(
    amake: Callable[..., Any], valkey_server: ValkeyServer, form: str
) -> None:
    url = f"{valkey_server.url}/0"
    location = {"comma": f"{url}, {url}", "list": [url, url], "tuple": (url, url)}[form]
    cache = amake(location=location)
    client = cache.client if getattr(cache, "is_async", False) else cache.async_client
    assert client._server == [url, url]
    await cache.aset("k", 1)
    assert await cache.aget("k") == 1
    assert (await client.get_client_with_index(write=True))[1] == 0
    assert (await client.get_client_with_index(write=False))[1] == 1


@pytest.mark.parametrize(
    ("location", "message"),
    [("", "LOCATION"), ("http://localhost", "LOCATION"), ([], "LOCATION"), (42, "LOCATION")],
)
async def test_bad_locations(amake: Callable[..., Any], location: Any, message: str) -> None:
    cache = amake(location=location)
    with pytest.raises(ImproperlyConfigured, match=message):
        await cache.aget("k")


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"SERIALIZER": "no.such.Serializer"}, "SERIALIZER"),
        ({"COMPRESSOR": "no.such.Compressor"}, "COMPRESSOR"),
        ({"CONNECTION_FACTORY": "no.such.Factory"}, "CONNECTION_FACTORY"),
        ({"CONNECTION_POOL_CLASS": "no.such.Pool"}, "CONNECTION_POOL_CLASS"),
        ({"SOCKET_TIMEOUT": "5"}, "SOCKET_TIMEOUT"),
        ({"SOCKET_CONNECT_TIMEOUT": [1]}, "SOCKET_CONNECT_TIMEOUT"),
        ({"PARSER_CLS": "no.such.Parser"}, "PARSER_CLS"),
    ],
)
async def test_bad_options_name_the_setting(
    amake: Callable[..., Any], options: dict[str, Any], setting: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=setting):
        cache = amake(OPTIONS=options)
        await cache.aset("k", 1)


async def test_timeout_setting(amake: Callable[..., Any], speedups: str) -> None:
    cache = amake(TIMEOUT=60)
    await cache.aset("k", 1)
    assert 59 <= await cache.attl("k") <= 60
    forever = amake(TIMEOUT=None)
    await forever.aset("f", 1)
    assert await forever.attl("f") is None


async def test_socket_options_reach_the_pool(amake: Callable[..., Any]) -> None:
    cache = amake(
        OPTIONS={
            "SOCKET_TIMEOUT": 2.5,
            "SOCKET_CONNECT_TIMEOUT": 1,
            "CONNECTION_POOL_KWARGS": {"max_connections": 7},
        }
    )
    await cache.aset("k", 1)
    pool = (await raw_async(cache)).connection_pool
    assert isinstance(pool, valkey.asyncio.ConnectionPool)
    assert pool.connection_kwargs["socket_timeout"] == 2.5
    assert pool.connection_kwargs["socket_connect_timeout"] == 1
    assert pool.max_connections == 7


async def test_password_option(amake: Callable[..., Any], valkey_server: ValkeyServer) -> None:
    valkey_server.client().config_set("requirepass", "s3cret")
    try:
        cache = amake(OPTIONS={"PASSWORD": "s3cret"})
        await cache.aset("k", 1)
        assert await cache.aget("k") == 1
    finally:
        valkey_server.client(password="s3cret").config_set("requirepass", "")


async def test_pools_keyed_by_every_parameter(
    amake: Callable[..., Any], valkey_server: ValkeyServer
) -> None:
    url = f"{valkey_server.url}/0"
    a = amake(location=url, OPTIONS={"CONNECTION_POOL_KWARGS": {"max_connections": 5}})
    b = amake(location=url, OPTIONS={"CONNECTION_POOL_KWARGS": {"max_connections": 9}})
    c = amake(location=url, OPTIONS={"CONNECTION_POOL_KWARGS": {"max_connections": 5}})
    pool_a = (await raw_async(a)).connection_pool
    pool_b = (await raw_async(b)).connection_pool
    pool_c = (await raw_async(c)).connection_pool
    assert pool_a is not pool_b
    assert pool_a is pool_c
    assert (pool_a.max_connections, pool_b.max_connections) == (5, 9)


@pytest.mark.parametrize(
    ("option", "path"),
    [
        ("PARSER_CLS", "valkey._parsers._AsyncRESP2Parser"),
        ("PARSER_CLASS", "valkey._parsers._AsyncRESP2Parser"),
        # A sync parser (the sync backend's spelling) is replaced by its twin.
        ("PARSER_CLASS", "valkey._parsers._RESP2Parser"),
    ],
)
async def test_parser_class_both_spellings(
    amake: Callable[..., Any], option: str, path: str
) -> None:
    from valkey._parsers import _AsyncRESP2Parser

    cache = amake(OPTIONS={option: path})
    await cache.aset("k", option)
    assert await cache.aget("k") == option
    pool = (await raw_async(cache)).connection_pool
    assert pool.connection_kwargs["parser_class"] is _AsyncRESP2Parser


async def test_sync_pool_class_option_gets_its_asyncio_twin(amake: Callable[..., Any]) -> None:
    cache = amake(
        OPTIONS={
            "CONNECTION_POOL_CLASS": "valkey.BlockingConnectionPool",
            "CONNECTION_POOL_KWARGS": {"max_connections": 3, "timeout": 5},
        }
    )
    results = await asyncio.gather(*(cache.aset(f"k{i}", i) for i in range(20)))
    assert results == [True] * 20
    pool = (await raw_async(cache)).connection_pool
    assert type(pool) is valkey.asyncio.BlockingConnectionPool
    assert pool.max_connections == 3


async def test_close_connection_option(amake: Callable[..., Any], speedups: str) -> None:
    cache = amake(OPTIONS={"CLOSE_CONNECTION": True})
    client = cache.client if getattr(cache, "is_async", False) else cache.async_client
    await cache.aset("k", 1)
    assert client._clients[0] is not None
    await cache.aclose()
    assert client._clients[0] is None
    assert await cache.aget("k") == 1
    keep = amake()
    keep_client = keep.client if getattr(keep, "is_async", False) else keep.async_client
    await keep.aset("k", 2)
    await keep.aclose()
    assert keep_client._clients[0] is not None


@pytest.mark.parametrize("scheme", ["valkeys", "rediss"])
async def test_tls_round_trip(
    amake: Callable[..., Any],
    tls_server: tuple[int, str],  # noqa: F811 - the imported fixture
    scheme: str,
    speedups: str,
) -> None:
    port, ca = tls_server
    cache = amake(
        location=f"{scheme}://127.0.0.1:{port}/0",
        OPTIONS={"CONNECTION_POOL_KWARGS": {"ssl_ca_certs": ca}},
    )
    await cache.aset("secret", {"tls": True})
    assert await cache.aget("secret") == {"tls": True}
    big = b"x" * (3 * 2**20)
    await cache.aset("big", big)
    assert await cache.aget("big") == big
    pool = (await raw_async(cache)).connection_pool
    assert pool.connection_class.__name__ == "SSLConnection"


async def test_tls_needs_a_trusted_certificate(
    amake: Callable[..., Any],
    tls_server: tuple[int, str],  # noqa: F811 - the imported fixture
) -> None:
    port, _ = tls_server
    cache = amake(
        location=f"valkeys://127.0.0.1:{port}/0",
        OPTIONS={"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
    )
    with pytest.raises(valkey.exceptions.ConnectionError):
        await cache.aget("k")


async def test_values_larger_than_the_socket_buffer(acache: Any) -> None:
    # The write cannot go out at once: the command waits for the drain.
    big = {"blob": b"\x00\xff" * (4 * 2**20), "n": 1}
    await acache.aset("big", big)
    assert await acache.aget("big") == big
    assert await asyncio.gather(*(acache.aget("big") for _ in range(3))) == [big] * 3


# Backend surface --------------------------------------------------------------------


async def test_async_backend_commands_are_one_function_under_two_names() -> None:
    from django_valkey.async_cache.cache import AsyncValkeyCache

    for name in (
        "get",
        "set",
        "add",
        "delete",
        "get_many",
        "set_many",
        "incr",
        "ttl",
        "iter_keys",
        "sscan_iter",
        "get_lock",
        "delete_pattern",
        "close",
    ):
        assert getattr(AsyncValkeyCache, "a" + name) is getattr(AsyncValkeyCache, name), name
    assert AsyncValkeyCache.is_async is True
    assert AsyncValkeyCache.close.__qualname__ == "AsyncBackendCommands.close"


async def test_async_backend_object_level_aliases(make_cache: Callable[..., Any]) -> None:
    cache = make_cache(backend=BACKENDS["AsyncValkeyCache"])
    assert cache.aget == cache.get
    assert cache.aiter_keys == cache.iter_keys
    lock = await cache.get_lock("k")
    assert isinstance(lock, valkey.asyncio.lock.Lock)
    assert hasattr(cache.iter_keys("*"), "__anext__")
    await cache.aclose()


@pytest.mark.parametrize(
    "name",
    [
        "aget",
        "aset",
        "aadd",
        "adelete",
        "aget_many",
        "aset_many",
        "adelete_many",
        "ahas_key",
        "aincr",
        "adecr",
        "atouch",
        "aclear",
        "aget_or_set",
        "aincr_version",
        "adecr_version",
        "aclose",
    ],
)
async def test_django_async_methods_are_shadowed(backend: str, name: str) -> None:
    from django.utils.module_loading import import_string

    cls = import_string(BACKENDS[backend])
    assert getattr(cls, name) is not getattr(BaseCache, name)


async def test_no_thread_hop(acache: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import asgiref.sync

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("sync_to_async must not be used")

    monkeypatch.setattr(asgiref.sync, "sync_to_async", refuse)
    monkeypatch.setattr(asgiref.sync.SyncToAsync, "__call__", refuse)
    loop_thread = threading.get_ident()
    seen: list[int] = []
    raw_client = await raw_async(acache)
    original = raw_client.connection_pool.get_available_connection

    def spy() -> Any:
        seen.append(threading.get_ident())
        return original()

    pool = raw_client.connection_pool
    monkeypatch.setattr(pool, "get_available_connection", spy)
    mux = getattr(pool, "_dv_mux", None)
    if mux is not None:
        # Automatic pipelining dials its shared connection with
        # make_connection: close it so that the next command dials again.
        mux.shut_down()
        make = pool.make_connection

        def spy_make() -> Any:
            seen.append(threading.get_ident())
            return make()

        monkeypatch.setattr(pool, "make_connection", spy_make)
    await acache.aset("k", 1)
    assert await acache.aget("k") == 1
    assert await acache.aget_many(["k"]) == {"k": 1}
    assert await acache.aincr("k") == 2
    assert await acache.ahas_key("k") is True
    assert await acache.adelete("k") is True
    assert seen and set(seen) == {loop_thread}
