"""Servers going away, IGNORE_EXCEPTIONS, and corrupt stored values."""

from __future__ import annotations

import logging
import pickle
import zlib

import pytest
import valkey.exceptions
from django.test import override_settings

from django_valkey.exceptions import ConnectionInterrupted, CorruptValueError
from tests.servers import ValkeyServer, free_port

pytestmark = pytest.mark.server

DEAD = {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}


@pytest.fixture
def dead_location():
    # A free port nobody listens on: connections are refused at once.
    return f"valkey://127.0.0.1:{free_port()}/0"


def test_errors_reach_the_caller(make_cache, dead_location, speedups):
    cache = make_cache(location=dead_location, OPTIONS=DEAD)
    with pytest.raises(valkey.exceptions.ConnectionError):
        cache.get("k")
    with pytest.raises(valkey.exceptions.ConnectionError):
        cache.set("k", 1)
    with pytest.raises(ConnectionInterrupted) as info:
        cache.client.get("k")
    assert isinstance(info.value.__cause__, valkey.exceptions.ConnectionError)
    assert "ConnectionError" in str(info.value)


def test_ignore_exceptions_fallbacks(make_cache, dead_location, speedups):
    cache = make_cache(location=dead_location, OPTIONS={**DEAD, "IGNORE_EXCEPTIONS": True})
    assert cache.get("k") is None
    assert cache.get("k", "fallback") == "fallback"
    assert cache.set("k", 1) is None
    assert cache.get_many(["a", "b"]) == {}
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    assert cache.has_key("k") is False
    assert cache.get_or_set("k", lambda: "computed") == "computed"
    assert cache.delete("k") is None
    assert list(cache.iter_keys("*")) == []
    assert cache.incr("k") is None
    # Not server errors: still raised.
    with pytest.raises(TypeError):
        cache.get_many(None)


def test_ignore_exceptions_priority(make_cache, dead_location):
    with override_settings(DJANGO_VALKEY_IGNORE_EXCEPTIONS=True):
        off = make_cache(location=dead_location, OPTIONS={**DEAD, "IGNORE_EXCEPTIONS": False})
        with pytest.raises(valkey.exceptions.ConnectionError):
            off.get("k")
        on = make_cache(location=dead_location, OPTIONS=DEAD)
        assert on.get("k") is None
    with override_settings(DJANGO_VALKEY_IGNORE_EXCEPTIONS=False):
        on = make_cache(location=dead_location, OPTIONS={**DEAD, "IGNORE_EXCEPTIONS": True})
        assert on.get("k") is None


def test_ignored_exceptions_are_logged(make_cache, dead_location, caplog):
    cache = make_cache(
        location=dead_location,
        OPTIONS={**DEAD, "IGNORE_EXCEPTIONS": True, "LOG_IGNORE_EXCEPTIONS": True},
    )
    with caplog.at_level(logging.ERROR, logger="django_valkey.base"):
        assert cache.get("k") is None
    assert "Exception ignored" in caplog.text
    assert "ConnectionError" in caplog.text


def test_recovers_after_server_restart(make_cache, tmp_path, speedups):
    server = ValkeyServer(workdir=tmp_path).start()
    try:
        cache = make_cache(location=f"{server.url}/0", OPTIONS=DEAD)
        cache.set("k", 1)
        server.stop()
        with pytest.raises(valkey.exceptions.ConnectionError):
            cache.get("k")
        server.start()
        # The application keeps its cache object: it works again.
        cache.set("k", 2)
        assert cache.get("k") == 2
    finally:
        server.stop()


def test_hung_server_honours_socket_timeout(make_cache, tmp_path):
    server = ValkeyServer(workdir=tmp_path).start()
    try:
        cache = make_cache(location=f"{server.url}/0", OPTIONS=DEAD)
        cache.set("k", 1)
        server.pause()
        with pytest.raises(valkey.exceptions.TimeoutError):
            cache.get("k")
        server.resume()
        assert cache.get("k") == 1
    finally:
        server.resume()
        server.stop()


@pytest.mark.parametrize(
    "garbage",
    [b"\x80\x04garbage", pickle.dumps([1, 2, 3])[:-3], b"\x00\x01\x02", b"not a pickle"],
)
def test_corrupt_values_raise_typed_error_and_stay(cache, garbage):
    raw = cache.client.get_client()
    raw.set(cache.make_key("bad"), garbage)
    with pytest.raises(CorruptValueError) as info:
        cache.get("bad")
    assert ":1:bad" in str(info.value)
    with pytest.raises(CorruptValueError):
        cache.get_many(["bad"])
    # Nothing lost: the bytes are still there for inspection.
    assert raw.get(cache.make_key("bad")) == garbage


def test_truncated_compressed_value(make_cache, speedups):
    cache = make_cache(OPTIONS={"COMPRESSOR": "django_valkey.compressors.zlib.ZlibCompressor"})
    cache.set("z", "x" * 1000)
    raw = cache.client.get_client()
    stored = raw.get(cache.make_key("z"))
    assert zlib.decompress(stored)  # really compressed
    raw.set(cache.make_key("z"), stored[: len(stored) // 2])
    with pytest.raises(CorruptValueError):
        cache.get("z")


def test_wrong_serializer_reading(make_cache, speedups):
    writer = make_cache()
    writer.set("k", {"a": 1})
    reader = make_cache(OPTIONS={"SERIALIZER": "django_valkey.serializers.json.JSONSerializer"})
    with pytest.raises(CorruptValueError):
        reader.get("k")


def test_wrongtype_is_a_server_error(cache):
    cache.sadd("set", 1)
    with pytest.raises(valkey.exceptions.ResponseError):
        cache.get("set")
    with pytest.raises(valkey.exceptions.ResponseError):
        cache.incr("set")


def test_corrupt_values_as_misses_when_opted_in(make_cache, speedups, caplog):
    cache = make_cache(OPTIONS={"CORRUPT_VALUE_AS_MISS": True})
    raw = cache.client.get_client()
    cache.set("good", {"ok": 1})
    raw.set(cache.make_key("bad"), b"\x80\x04garbage")
    with caplog.at_level(logging.WARNING, logger="django_valkey"):
        assert cache.get("bad") is None
        assert cache.get("bad", "default") == "default"
        assert cache.get_many(["good", "bad"]) == {"good": {"ok": 1}}
        assert cache.get_or_set("bad", lambda: "computed") == "computed"
    assert ":1:bad" in caplog.text
    # Nothing lost or overwritten: the bytes are still there to inspect.
    assert raw.get(cache.make_key("bad")) == b"\x80\x04garbage"


@pytest.mark.asyncio
async def test_corrupt_values_as_misses_async(make_cache):
    cache = make_cache(OPTIONS={"CORRUPT_VALUE_AS_MISS": True})
    cache.client.get_client().set(cache.make_key("bad"), b"\x80\x04garbage")
    try:
        assert await cache.aget("bad", "d") == "d"
        assert await cache.aget_many(["bad"]) == {}
    finally:
        await cache.aclose()
    strict = make_cache()
    with pytest.raises(CorruptValueError):
        strict.get("bad")
