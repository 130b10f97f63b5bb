"""Django's cache contract, held by ``ValkeyCache`` on a real server.

Every promise Django makes about a cache backend (``BaseCache`` and its
built-in backends) is checked here, through the sync methods and through the
``a*`` coroutines alike: the ``api`` fixture shows one cache either way, and
each test runs under both speedups implementations.  Where Django's backends
disagree, the Redis backend's behaviour is the reference; our deliberate
differences (add() returns False, set_many returns failed keys, delete_many
returns None for no keys and a count otherwise, exact int/float round trips)
are listed in reference-behaviour.md.

Timeouts are checked by reading the key's remaining time on the server; one
test really waits for keys to expire, with a 0.3 s timeout and a 0.45 s sleep
(the server expires keys with millisecond precision), to keep the suite fast.
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import inspect
import math
import pickle
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
import valkey
from django.core.cache import CacheKeyWarning
from django.core.cache.backends.base import (
    DEFAULT_TIMEOUT,
    BaseCache,
    default_key_func,
    memcache_key_warnings,
)

pytestmark = [
    pytest.mark.server,
    # A warning nobody asked for (e.g. on a plain key) is a failure.
    pytest.mark.filterwarnings("error::django.core.cache.backends.base.CacheKeyWarning"),
]

SHORT = 0.3  # a timeout that expires during the test
WAIT = 0.45  # sleep long enough for SHORT to pass
MONTH = 60 * 60 * 24 * 30  # memcached reads timeouts above this as timestamps; we must not

# incr() of a value that is not an integer: Django's Redis backend lets the
# client's error through (ResponseError); a Python-side fallback gives TypeError.
INCR_TYPE_ERRORS = (TypeError, valkey.exceptions.ResponseError)

# The Django methods that have an ``a*`` twin on BaseCache.
ASYNC_TWINS = frozenset(
    {
        "add",
        "get",
        "set",
        "touch",
        "delete",
        "get_many",
        "get_or_set",
        "has_key",
        "incr",
        "decr",
        "set_many",
        "delete_many",
        "clear",
        "incr_version",
        "decr_version",
        "close",
    }
)


def hash_key_func(key: str, key_prefix: str, version: int) -> str:
    """A KEY_FUNCTION unlike Django's default, importable by dotted path."""
    return f"custom#{key_prefix}#{version}#{key}"


def identity_key_func(key: str, key_prefix: str, version: int) -> str:
    return key


def module_function() -> int:
    return 42


class ModuleClass:
    def method(self) -> int:
        return 24


@dataclass(frozen=True)
class Point:
    x: int
    y: int


class Colour(enum.IntEnum):
    RED = 1


class Unpicklable:
    def __reduce__(self) -> Any:
        raise pickle.PickleError("this object refuses to be pickled")


class Api:
    """One cache seen through its sync methods, or through its ``a*``
    coroutines run to completion on a loop of the test's own."""

    def __init__(
        self, cache: Any, loop: asyncio.AbstractEventLoop | None, make: Callable[..., Any]
    ):
        self.cache = cache
        self.loop = loop
        self._make = make
        self.wrapped: list[Any] = [cache]

    def __getattr__(self, name: str) -> Any:
        if self.loop is None or name not in ASYNC_TWINS:
            return getattr(self.cache, name)
        coroutine_function = getattr(self.cache, f"a{name}")
        loop = self.loop

        def run(*args: Any, **kwargs: Any) -> Any:
            return loop.run_until_complete(coroutine_function(*args, **kwargs))

        return run

    def __contains__(self, key: str) -> bool:
        if self.loop is None:
            return key in self.cache
        return self.has_key(key)

    def make(self, **params: Any) -> Api:
        """Another cache on the same server, seen the same way as this one."""
        other = Api(self._make(**params), self.loop, self._make)
        other.wrapped = self.wrapped
        self.wrapped.append(other.cache)
        return other


@pytest.fixture(params=["sync", "async"])
def api(
    request: pytest.FixtureRequest, cache: Any, make_cache: Callable[..., Any]
) -> Iterator[Api]:
    if request.param == "sync":
        yield Api(cache, None, make_cache)
        return
    loop = asyncio.new_event_loop()
    view = Api(cache, loop, make_cache)
    try:
        yield view
    finally:
        # Async connections belong to this loop: close them while it exists,
        # then end the loop as asyncio.run() does, so that code hooked on the
        # loop's shutdown (async generators, executor) gets to run.
        try:
            for made in view.wrapped:
                loop.run_until_complete(made.aclose())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


@pytest.fixture
def raw(valkey_server: Any) -> Iterator[valkey.Valkey]:
    """A plain client on db 0, to look at what the cache really stored."""
    with valkey_server.client() as conn:
        yield conn


def cache_key_messages(record: Any) -> list[str]:
    # pytest.warns records every warning, e.g. a ResourceWarning from an
    # unrelated object collected meanwhile: keep only ours.
    return [str(w.message) for w in record if issubclass(w.category, CacheKeyWarning)]


def ttl_ms(raw: valkey.Valkey, api: Api, key: str, version: int | None = None) -> int:
    """The key's remaining time in ms: -1 = no expiry, -2 = absent."""
    return raw.pttl(api.make_key(key, version=version))


# Basic operations ------------------------------------------------------------


class TestBasics:
    def test_set_then_get(self, api: Api) -> None:
        api.set("key", "value")
        assert api.get("key") == "value"

    def test_set_overwrites(self, api: Api) -> None:
        api.set("key", "first")
        api.set("key", "second")
        assert api.get("key") == "second"

    def test_missing_key_gives_none_or_the_default(self, api: Api) -> None:
        assert api.get("does_not_exist") is None
        assert api.get("does_not_exist", "bang!") == "bang!"
        assert api.get("does_not_exist", default=0) == 0

    def test_stored_none_is_returned_instead_of_the_default(self, api: Api) -> None:
        api.set("null", None)
        assert api.get("null", default="default") is None
        assert api.has_key("null") is True

    def test_add_stores_only_when_the_key_is_absent(self, api: Api) -> None:
        assert api.add("addkey1", "value") is True
        assert api.add("addkey1", "newvalue") is False
        assert api.get("addkey1") == "value"

    def test_add_of_none_counts_as_present(self, api: Api) -> None:
        assert api.add("null", None) is True
        assert api.add("null", "other") is False
        assert api.get("null", "default") is None

    def test_delete_says_whether_the_key_existed(self, api: Api) -> None:
        api.set_many({"key1": "spam", "key2": "eggs"})
        assert api.delete("key1") is True
        assert api.get("key1") is None
        assert api.get("key2") == "eggs"
        assert api.delete("key1") is False
        assert api.delete("nonexistent_key") is False

    def test_has_key(self, api: Api) -> None:
        api.set("hello1", "goodbye1")
        assert api.has_key("hello1") is True
        assert api.has_key("goodbye1") is False
        api.set("no_expiry", "here", None)
        assert api.has_key("no_expiry") is True

    def test_in_operator(self, api: Api) -> None:
        api.set("hello2", "goodbye2")
        api.set("null", None)
        assert "hello2" in api
        assert "null" in api
        assert "goodbye2" not in api

    def test_clear_empties_the_cache(self, api: Api) -> None:
        api.set_many({"key1": "spam", "key2": "eggs"})
        api.clear()
        assert api.get("key1") is None
        assert api.get("key2") is None
        assert api.get_many(["key1", "key2"]) == {}

    def test_clear_leaves_other_databases_alone(self, api: Api, valkey_server: Any) -> None:
        other = api.make(location=f"{valkey_server.url}/1")
        api.set("key", "db0")
        other.set("key", "db1")
        api.clear()
        assert api.get("key") is None
        assert other.get("key") == "db1"

    def test_close_can_be_called_and_the_cache_still_works(self, api: Api) -> None:
        # Django closes caches at the end of every request and uses them again.
        api.set("key", "value")
        assert api.close() is None
        api.close()
        assert api.get("key") == "value"
        api.set("key", "again")
        assert api.get("key") == "again"


# get_many / set_many / delete_many -------------------------------------------


class TestMany:
    def test_get_many_returns_the_keys_found(self, api: Api) -> None:
        api.set_many({"a": "a", "b": "b", "c": "c", "d": "d"})
        assert api.get_many(["a", "c", "d"]) == {"a": "a", "c": "c", "d": "d"}
        assert api.get_many(["a", "b", "e"]) == {"a": "a", "b": "b"}
        assert api.get_many(["x", "y"]) == {}
        assert api.get_many([]) == {}

    @pytest.mark.parametrize(
        "make_keys",
        [
            lambda: iter(["a", "b", "e"]),
            lambda: (k for k in ["a", "b", "e"]),
            lambda: ("a", "b", "e"),
            lambda: {"a", "b", "e"},
            lambda: {"a": 0, "b": 0, "e": 0},
            lambda: {"a": 0, "b": 0, "e": 0}.keys(),
            lambda: ["a", "b", "b", "e"],
        ],
        ids=["iterator", "generator", "tuple", "set", "dict", "dict_keys", "duplicates"],
    )
    def test_get_many_takes_any_iterable(self, api: Api, make_keys: Callable[[], Any]) -> None:
        api.set_many({"a": 1, "b": 2})
        assert api.get_many(make_keys()) == {"a": 1, "b": 2}

    def test_get_many_includes_stored_none(self, api: Api) -> None:
        api.set_many({"x": None, "y": 1})
        assert api.get_many(["x", "y", "z"]) == {"x": None, "y": 1}

    def test_set_many_stores_every_key(self, api: Api) -> None:
        assert api.set_many({"key1": "spam", "key2": "eggs"}) == []
        assert api.get("key1") == "spam"
        assert api.get("key2") == "eggs"

    def test_set_many_of_nothing_returns_an_empty_list(self, api: Api) -> None:
        assert api.set_many({}) == []

    def test_set_many_uses_the_default_timeout(self, api: Api, raw: valkey.Valkey) -> None:
        api.set_many({"key1": "spam"})
        assert 290_000 < ttl_ms(raw, api, "key1") <= 300_000

    def test_delete_many(self, api: Api) -> None:
        api.set_many({"key1": "spam", "key2": "eggs", "key3": "ham"})
        api.delete_many(["key1", "key2"])
        assert api.get("key1") is None
        assert api.get("key2") is None
        assert api.get("key3") == "ham"

    def test_delete_many_takes_a_generator(self, api: Api) -> None:
        api.set_many({"key1": "spam", "key2": "eggs"})
        api.delete_many(k for k in ["key1", "key2"])
        assert api.get_many(["key1", "key2"]) == {}

    def test_delete_many_of_no_keys_returns_none(self, api: Api) -> None:
        assert api.delete_many([]) is None
        assert api.delete_many(iter([])) is None

    def test_delete_many_returns_how_many_were_deleted(self, api: Api) -> None:
        # Our addition (kept for the reference package's callers).
        api.set_many({"key1": "spam", "key2": "eggs"})
        assert api.delete_many(["key1", "key2", "missing"]) == 2


# incr / decr -----------------------------------------------------------------


class TestIncrDecr:
    def test_incr(self, api: Api) -> None:
        api.set("answer", 41)
        assert api.incr("answer") == 42
        assert api.get("answer") == 42
        assert api.incr("answer", 10) == 52
        assert api.get("answer") == 52
        assert api.incr("answer", -10) == 42
        assert type(api.get("answer")) is int

    def test_decr(self, api: Api) -> None:
        api.set("answer", 43)
        assert api.decr("answer") == 42
        assert api.get("answer") == 42
        assert api.decr("answer", 10) == 32
        assert api.get("answer") == 32
        assert api.decr("answer", -10) == 42

    def test_incr_and_decr_through_zero_and_below(self, api: Api) -> None:
        api.set("n", -5)
        assert api.incr("n", 3) == -2
        assert api.decr("n", 10) == -12
        assert api.get("n") == -12
        assert api.incr("n", 12) == 0
        assert api.get("n") == 0

    def test_missing_key_raises_value_error(self, api: Api) -> None:
        for operation, delta in (("incr", 1), ("incr", -1), ("decr", 1), ("decr", -1)):
            with pytest.raises(ValueError):
                getattr(api, operation)("does_not_exist", delta)
        assert api.has_key("does_not_exist") is False

    @pytest.mark.parametrize("value", [None, "text"], ids=["none", "str"])
    def test_non_integer_value_raises_and_is_kept(self, api: Api, value: Any) -> None:
        api.set("value", value)
        with pytest.raises(INCR_TYPE_ERRORS):
            api.incr("value")
        with pytest.raises(INCR_TYPE_ERRORS):
            api.decr("value")
        assert api.get("value", "default") == value

    def test_incr_keeps_the_expiry(self, api: Api, raw: valkey.Valkey) -> None:
        api.set("timed", 1, timeout=100)
        api.set("forever", 1, timeout=None)
        assert api.incr("timed") == 2
        assert api.decr("timed") == 1
        assert api.incr("forever") == 2
        assert 90_000 < ttl_ms(raw, api, "timed") <= 100_000
        assert ttl_ms(raw, api, "forever") == -1

    def test_incr_is_atomic(self, cache: Any) -> None:
        cache.set("counter", 0)

        def bump() -> None:
            for _ in range(50):
                cache.incr("counter")

        threads = [threading.Thread(target=bump) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert cache.get("counter") == 400


# Values ------------------------------------------------------------------------


DATA = {
    "str": "this is a string",
    "empty str": "",
    "str of digits": "123",
    "unicode": "Iñtërnâtiônàlizætiøn ✓ 清",
    "bytes": b"\x00\xffbinary\r\n",
    "bytes of digits": b"123",
    "empty bytes": b"",
    "int": 42,
    "zero": 0,
    "negative int": -5,
    "int64 max": 2**63 - 1,
    "int64 min": -(2**63),
    "big int": 2**70,
    "negative big int": -(2**70) - 1,
    "float": 1.5,
    "negative float": -2.25,
    "integral float": 1.0,
    "negative integral float": -3.0,
    "tiny float": 5e-324,
    "inf": math.inf,
    "-inf": -math.inf,
    "true": True,
    "false": False,
    "int enum": Colour.RED,
    "decimal": Decimal("1.10"),
    "list": [1, 2, 3, 4],
    "tuple": (1, 2, 3, 4),
    "dict": {"A": 1, "B": 2},
    "set": {1, 2, 3},
    "frozenset": frozenset({"a"}),
    "nested": {"list": [1, {"x": (None, 2.5)}], "set": {"s"}},
    "aware datetime": datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone.utc),
    "date": datetime.date(2024, 5, 1),
    "timedelta": datetime.timedelta(seconds=90),
    "function": module_function,
    "class": ModuleClass,
    "object": Point(1, 2),
}


class TestValues:
    @pytest.mark.parametrize("value", DATA.values(), ids=DATA.keys())
    def test_every_type_round_trips_with_its_type(self, api: Api, value: Any) -> None:
        api.set("key", value)
        got = api.get("key")
        assert got == value
        assert type(got) is type(value)
        assert api.get_many(["key"]) == {"key": value}

    def test_every_type_round_trips_through_set_many(self, api: Api) -> None:
        keys = {f"key{i}": value for i, value in enumerate(DATA.values())}
        assert api.set_many(keys) == []
        got = api.get_many(keys)
        assert got == keys
        assert [type(v) for v in got.values()] == [type(v) for v in keys.values()]

    def test_nan_round_trips(self, api: Api) -> None:
        api.set("nan", math.nan)
        got = api.get("nan")
        assert type(got) is float
        assert math.isnan(got)

    def test_model_instance_round_trips(self, api: Api) -> None:
        from django.contrib.auth.models import User

        user = User(pk=7, username="ann", first_name="Ann")
        api.set("user", user)
        got = api.get("user")
        assert got == user
        assert (got.username, got.first_name) == ("ann", "Ann")

    def test_binary_strings_through_set_add_and_set_many(self, api: Api) -> None:
        compressed = zlib.compress(b"value_to_be_compressed")
        api.set("binary1", compressed)
        assert api.add("binary1-add", compressed) is True
        api.set_many({"binary1-set_many": compressed})
        for key in ("binary1", "binary1-add", "binary1-set_many"):
            assert api.get(key) == compressed
            assert zlib.decompress(api.get(key)) == b"value_to_be_compressed"

    def test_large_value(self, api: Api) -> None:
        value = "x" * (2**20 + 1)
        api.set("large", value)
        assert api.get("large") == value

    def test_unicode_keys_and_values(self, api: Api) -> None:
        stuff = {
            "ascii": "ascii_value",
            "unicode_ascii": "Iñtërnâtiônàlizætiøn1",
            "Iñtërnâtiônàlizætiøn": "Iñtërnâtiônàlizætiøn2",
            "清:鍵": {"x": "ü"},
            "emoji_🔑": "🗝",
        }
        for key, value in stuff.items():
            api.set(key, value)
            assert api.get(key) == value
        for key, value in stuff.items():
            assert api.delete(key) is True
            assert api.add(key, value) is True
            assert api.get(key) == value
        api.delete_many(stuff)
        assert api.set_many(stuff) == []
        assert api.get_many(stuff) == stuff

    def test_keys_with_colons(self, api: Api) -> None:
        api.set("a:b:c", 1)
        assert api.get("a:b:c") == 1
        assert api.get_many(["a:b:c"]) == {"a:b:c": 1}


class TestSerializationFailures:
    def test_set_of_an_unpicklable_value_raises_and_keeps_the_old_value(self, api: Api) -> None:
        api.set("key", "old")
        with pytest.raises(pickle.PickleError):
            api.set("key", Unpicklable())
        assert api.get("key") == "old"

    def test_add_of_an_unpicklable_value_raises_and_stores_nothing(self, api: Api) -> None:
        with pytest.raises(pickle.PickleError):
            api.add("unpicklable", Unpicklable())
        assert api.has_key("unpicklable") is False

    def test_set_many_with_an_unpicklable_value_raises_and_writes_nothing(self, api: Api) -> None:
        # Like Django's Redis backend: every value is serialized before any write.
        api.set("b", "old")
        with pytest.raises(pickle.PickleError):
            api.set_many({"a": 1, "b": Unpicklable(), "c": 3})
        assert api.get_many(["a", "b", "c"]) == {"b": "old"}

    def test_get_or_set_of_an_unpicklable_default_raises(self, api: Api) -> None:
        with pytest.raises(pickle.PickleError):
            api.get_or_set("unpicklable", Unpicklable)
        assert api.has_key("unpicklable") is False


# Timeouts ----------------------------------------------------------------------


class TestTimeouts:
    def test_short_timeouts_expire(self, api: Api) -> None:
        # One sleep for every way of giving a key a short life, to keep the suite fast.
        api.set("set", "value", SHORT)
        assert api.add("add", "value", SHORT) is True
        assert api.set_many({"many1": "value", "many2": "value"}, SHORT) == []
        assert api.get_or_set("get_or_set", "value", SHORT) == "value"
        api.set("touched-shorter", "value", 10)
        assert api.touch("touched-shorter", SHORT) is True
        api.set("touched-longer", "value", SHORT)
        assert api.touch("touched-longer", 10) is True
        api.set("persisted", "value", SHORT)
        assert api.touch("persisted", None) is True
        api.set("forever", "value", None)
        mortal = ["set", "add", "many1", "many2", "get_or_set", "touched-shorter"]
        survivors = ["touched-longer", "persisted", "forever"]
        assert api.get_many(mortal + survivors) == dict.fromkeys(mortal + survivors, "value")

        time.sleep(WAIT)
        assert api.get_many(mortal + survivors) == dict.fromkeys(survivors, "value")
        assert api.get("set") is None
        assert api.has_key("many1") is False
        assert "many2" not in api
        assert api.touch("touched-shorter") is False
        assert api.add("add", "new value") is True
        assert api.get("add") == "new value"
        assert api.get_or_set("get_or_set", "fresh") == "fresh"

    def test_default_timeout_is_300_seconds(self, api: Api, raw: valkey.Valkey) -> None:
        assert api.cache.default_timeout == 300
        api.set("key", "value")
        api.add("added", "value")
        assert 290_000 < ttl_ms(raw, api, "key") <= 300_000
        assert 290_000 < ttl_ms(raw, api, "added") <= 300_000

    def test_default_timeout_sentinel_means_the_default(self, api: Api, raw: valkey.Valkey) -> None:
        api.set("key", "value", DEFAULT_TIMEOUT)
        assert 290_000 < ttl_ms(raw, api, "key") <= 300_000

    def test_float_timeout(self, api: Api, raw: valkey.Valkey) -> None:
        api.set("key1", "spam", 100.2)
        assert api.get("key1") == "spam"
        # Millisecond precision: the fraction is kept, not truncated away.
        assert 100_000 < ttl_ms(raw, api, "key1") <= 100_200

    def test_long_timeout_is_relative_not_a_timestamp(self, api: Api, raw: valkey.Valkey) -> None:
        # Memcached reads a timeout over 30 days as a Unix timestamp; we must not.
        long = MONTH + 1
        api.set("key1", "eggs", long)
        assert api.add("key2", "ham", long) is True
        api.set_many({"key3": "sausage", "key4": "lobster bisque"}, long)
        assert api.get_many(["key1", "key2", "key3", "key4"]) == {
            "key1": "eggs",
            "key2": "ham",
            "key3": "sausage",
            "key4": "lobster bisque",
        }
        for key in ("key1", "key2", "key3", "key4"):
            assert (long - 60) * 1000 < ttl_ms(raw, api, key) <= long * 1000
        api.set("decade", "x", 10 * 365 * 24 * 3600)
        assert api.get("decade") == "x"

    def test_none_timeout_caches_forever(self, api: Api, raw: valkey.Valkey) -> None:
        api.set("key1", "eggs", None)
        assert api.get("key1") == "eggs"
        assert api.add("key2", "ham", None) is True
        assert api.get("key2") == "ham"
        assert api.add("key1", "new eggs", None) is False
        assert api.get("key1") == "eggs"
        api.set_many({"key3": "sausage", "key4": "lobster bisque"}, None)
        assert api.get_or_set("key5", "fries", None) == "fries"
        for key in ("key1", "key2", "key3", "key4", "key5"):
            assert ttl_ms(raw, api, key) == -1

    def test_zero_timeout_does_not_store(self, api: Api) -> None:
        api.set("key1", "eggs", 0)
        assert api.get("key1") is None
        assert api.add("key2", "ham", 0) is True
        assert api.get("key2") is None
        assert api.set_many({"key3": "sausage", "key4": "lobster bisque"}, 0) == []
        assert api.get_many(["key3", "key4"]) == {}

    def test_zero_timeout_removes_an_existing_value(self, api: Api) -> None:
        api.set_many({"set": 1, "many": 2})
        api.set("set", "new", 0)
        api.set_many({"many": "new"}, 0)
        assert api.get_many(["set", "many"]) == {}

    def test_add_with_zero_timeout_leaves_an_existing_value(self, api: Api) -> None:
        api.set("key", "kept")
        assert api.add("key", "other", 0) is False
        assert api.get("key") == "kept"

    def test_negative_timeout_behaves_like_zero(self, api: Api) -> None:
        api.set("existing", "value")
        api.set("existing", "value", -1)
        api.set("new", "value", -10)
        assert api.get_many(["existing", "new"]) == {}

    def test_get_backend_timeout_is_relative_seconds(self, cache: Any) -> None:
        # As Django's Redis backend: seconds from now, never negative.
        assert cache.get_backend_timeout(10) == 10
        assert cache.get_backend_timeout(-5) == 0
        assert cache.get_backend_timeout(None) is None
        assert cache.get_backend_timeout() == 300

    @pytest.mark.parametrize(
        ("setting", "expected_ms"),
        [
            (None, (-1, -1)),
            (60, (50_000, 60_000)),
            ("60", (50_000, 60_000)),
            (31_536_000, (31_535_000_000, 31_536_000_000)),
        ],
        ids=["none", "int", "str", "one year"],
    )
    def test_timeout_setting(
        self, api: Api, raw: valkey.Valkey, setting: Any, expected_ms: tuple[int, int]
    ) -> None:
        other = api.make(TIMEOUT=setting)
        other.set("key", "value")
        assert expected_ms[0] <= ttl_ms(raw, other, "key") <= expected_ms[1]

    def test_lowercase_timeout_setting(self, api: Api) -> None:
        assert api.make(timeout=None).cache.default_timeout is None


class TestTouch:
    def test_touch_sets_a_new_timeout(self, api: Api, raw: valkey.Valkey) -> None:
        api.set("longer", "value", timeout=SHORT)
        assert api.touch("longer", timeout=10) is True
        api.set("shorter", "value", timeout=10)
        assert api.touch("shorter", timeout=SHORT) is True
        assert 9_000 < ttl_ms(raw, api, "longer") <= 10_000
        assert 0 < ttl_ms(raw, api, "shorter") <= SHORT * 1000

    def test_touch_without_timeout_uses_the_default(self, api: Api, raw: valkey.Valkey) -> None:
        api.set("key", "value", timeout=SHORT)
        assert api.touch("key") is True
        assert 290_000 < ttl_ms(raw, api, "key") <= 300_000

    def test_touch_of_a_missing_key_is_false(self, api: Api) -> None:
        assert api.touch("nonexistent") is False
        assert api.touch("nonexistent", None) is False
        assert api.has_key("nonexistent") is False

    def test_touch_none_makes_the_key_permanent(self, api: Api, raw: valkey.Valkey) -> None:
        api.set("key5", "belgian fries", timeout=SHORT)
        assert api.touch("key5", timeout=None) is True
        assert ttl_ms(raw, api, "key5") == -1
        assert api.get("key5") == "belgian fries"

    def test_touch_zero_deletes(self, api: Api) -> None:
        api.set("key5", "belgian fries", timeout=5)
        assert api.touch("key5", timeout=0) is True
        assert api.get("key5") is None


# get_or_set --------------------------------------------------------------------


class TestGetOrSet:
    def test_stores_and_returns_the_default_once(self, api: Api) -> None:
        assert api.get("projector") is None
        assert api.get_or_set("projector", 42) == 42
        assert api.get("projector") == 42
        assert api.get_or_set("projector", 43) == 42

    def test_none_default_is_stored(self, api: Api) -> None:
        assert api.get_or_set("null", None) is None
        assert api.get("null", "default") is None
        assert api.has_key("null") is True

    def test_callable_default_is_called_only_on_a_miss(self, api: Api) -> None:
        calls = []

        def produce() -> str:
            calls.append(1)
            return "value"

        assert api.get_or_set("mykey", produce) == "value"
        assert api.get_or_set("mykey", produce) == "value"
        assert api.get_or_set("mykey", "other") == "value"
        assert len(calls) == 1
        assert api.get_or_set("null", lambda: None) is None
        assert api.get("null", "default") is None

    def test_version(self, api: Api) -> None:
        assert api.get_or_set("brian", 1979, version=2) == 1979
        assert api.get("brian", version=1) is None
        assert api.get_or_set("brian", 42, version=1) == 42
        assert api.get_or_set("brian", 1979, version=2) == 1979
        assert api.get("brian", version=3) is None

    def test_default_argument_is_required(self, api: Api) -> None:
        with pytest.raises(TypeError, match="default"):
            api.get_or_set("brian")
        with pytest.raises(TypeError, match="default"):
            api.get_or_set("brian", version=1)

    def test_timeout(self, api: Api, raw: valkey.Valkey) -> None:
        api.get_or_set("key", "value", timeout=SHORT)
        assert 0 < ttl_ms(raw, api, "key") <= SHORT * 1000
        api.get_or_set("forever", "value", timeout=None)
        assert ttl_ms(raw, api, "forever") == -1

    def test_returns_the_value_a_concurrent_writer_stored(self, api: Api) -> None:
        def produce() -> str:
            # Another process fills the key between our miss and our add.
            api.cache.set("raced", "winner")
            return "loser"

        assert api.get_or_set("raced", produce) == "winner"
        assert api.get("raced") == "winner"


# Versions, prefixes and key functions -----------------------------------------


class TestVersions:
    def test_get_and_set(self, api: Api) -> None:
        v2 = api.make(VERSION=2)
        api.set("answer1", 42)
        assert api.get("answer1") == 42
        assert api.get("answer1", version=1) == 42
        assert api.get("answer1", version=2) is None
        assert v2.get("answer1") is None
        assert v2.get("answer1", version=1) == 42

        api.set("answer2", 42, version=2)
        assert api.get("answer2") is None
        assert api.get("answer2", version=2) == 42
        assert v2.get("answer2") == 42
        assert v2.get("answer2", version=1) is None

        v2.set("answer3", 42)
        assert api.get("answer3") is None
        assert api.get("answer3", version=2) == 42

        v2.set("answer4", 42, version=1)
        assert api.get("answer4") == 42
        assert v2.get("answer4") is None

    def test_add(self, api: Api) -> None:
        v2 = api.make(VERSION=2)
        assert api.add("answer1", 42, version=2) is True
        assert api.add("answer1", 37, version=2) is False
        assert api.add("answer1", 37, version=1) is True
        assert api.get("answer1", version=1) == 37
        assert api.get("answer1", version=2) == 42
        assert v2.add("answer1", 1) is False
        assert v2.add("answer2", 42) is True
        assert api.get("answer2", version=2) == 42
        assert v2.add("answer3", 42, version=1) is True
        assert api.get("answer3") == 42

    def test_has_key_and_delete(self, api: Api) -> None:
        v2 = api.make(VERSION=2)
        api.set("answer1", 42)
        assert api.has_key("answer1", version=1) is True
        assert api.has_key("answer1", version=2) is False
        assert v2.has_key("answer1") is False
        assert v2.has_key("answer1", version=1) is True

        api.set("answer2", 37, version=1)
        api.set("answer2", 42, version=2)
        assert api.delete("answer2", version=2) is True
        assert api.get("answer2", version=1) == 37
        assert v2.delete("answer2") is False
        assert v2.delete("answer2", version=1) is True
        assert api.get("answer2") is None

    def test_incr_decr(self, api: Api) -> None:
        v2 = api.make(VERSION=2)
        api.set("answer", 37, version=1)
        api.set("answer", 42, version=2)
        assert api.incr("answer") == 38
        assert api.incr("answer", version=2) == 43
        assert v2.decr("answer") == 42
        assert v2.decr("answer", version=1) == 37
        assert api.get("answer", version=1) == 37
        assert api.get("answer", version=2) == 42

    def test_many(self, api: Api) -> None:
        v2 = api.make(VERSION=2)
        api.set_many({"ford": 37, "arthur": 42})
        assert api.get_many(["ford", "arthur"], version=1) == {"ford": 37, "arthur": 42}
        assert api.get_many(["ford", "arthur"], version=2) == {}
        assert v2.get_many(["ford", "arthur"]) == {}
        assert v2.get_many(["ford", "arthur"], version=1) == {"ford": 37, "arthur": 42}

        assert api.set_many({"ford": 1, "arthur": 2}, version=2) == []
        assert v2.get_many(["ford", "arthur"]) == {"ford": 1, "arthur": 2}
        v2.delete_many(["ford", "arthur"], version=1)
        assert api.get_many(["ford", "arthur"]) == {}
        assert api.get_many(["ford", "arthur"], version=2) == {"ford": 1, "arthur": 2}

    def test_touch(self, api: Api, raw: valkey.Valkey) -> None:
        api.set("key", "value", timeout=100, version=2)
        assert api.touch("key", 10) is False
        assert api.touch("key", 10, version=2) is True
        assert 0 < ttl_ms(raw, api, "key", version=2) <= 10_000

    def test_incr_version(self, api: Api) -> None:
        v2 = api.make(VERSION=2)
        api.set("answer", 42, version=2)
        assert api.incr_version("answer", version=2) == 3
        assert api.get("answer", version=2) is None
        assert api.get("answer", version=3) == 42

        v2.set("answer2", 42)
        assert v2.incr_version("answer2") == 3
        assert v2.get("answer2") is None
        assert v2.get("answer2", version=3) == 42
        assert api.incr_version("answer2", delta=2, version=3) == 5
        assert api.get("answer2", version=5) == 42

        with pytest.raises(ValueError):
            api.incr_version("does_not_exist")
        api.set("null", None)
        assert api.incr_version("null") == 2
        assert api.has_key("null", version=2) is True

    def test_decr_version(self, api: Api) -> None:
        v2 = api.make(VERSION=2)
        api.set("answer", 42, version=2)
        assert api.decr_version("answer", version=2) == 1
        assert api.get("answer") == 42
        assert api.get("answer", version=2) is None

        v2.set("answer2", 42)
        assert v2.decr_version("answer2") == 1
        assert v2.get("answer2") is None
        assert v2.get("answer2", version=1) == 42

        with pytest.raises(ValueError):
            api.decr_version("does_not_exist", version=2)
        api.set("null", None, version=2)
        assert api.decr_version("null", version=2) == 1


class TestKeys:
    def test_default_key_layout_is_prefix_version_key(self, api: Api, raw: valkey.Valkey) -> None:
        prefixed = api.make(KEY_PREFIX="site1", VERSION=3)
        assert api.make_key("key") == ":1:key"
        assert api.make_key("key", version=4) == ":4:key"
        assert prefixed.make_key("key") == "site1:3:key"
        api.set("key", "value")
        prefixed.set("key", "value")
        assert raw.exists(":1:key", "site1:3:key") == 2

    def test_key_prefix_isolates_caches_on_one_database(self, api: Api) -> None:
        prefixed = api.make(KEY_PREFIX="cacheprefix")
        api.set("somekey", "value")
        assert prefixed.has_key("somekey") is False
        prefixed.set("somekey", "value2")
        assert api.get("somekey") == "value"
        assert prefixed.get("somekey") == "value2"
        assert prefixed.get_many(["somekey"]) == {"somekey": "value2"}
        prefixed.delete_many(["somekey"])
        assert api.get("somekey") == "value"

    @pytest.mark.parametrize(
        "key_function",
        [hash_key_func, "tests.test_django_contract.hash_key_func"],
        ids=["callable", "dotted path"],
    )
    def test_custom_key_function(self, api: Api, raw: valkey.Valkey, key_function: Any) -> None:
        custom = api.make(KEY_FUNCTION=key_function)
        custom2 = api.make(KEY_FUNCTION=hash_key_func)
        api.set("answer1", 42)
        assert api.get("answer1") == 42
        assert custom.get("answer1") is None

        custom.set("answer2", 42)
        assert api.get("answer2") is None
        assert custom.get("answer2") == 42
        assert custom2.get("answer2") == 42
        assert raw.exists("custom##1#answer2") == 1


class TestKeyValidation:
    """Keys memcached would refuse warn (CacheKeyWarning) but still work,
    as with Django's Redis backend; the warning names the full made key."""

    OPERATIONS = {
        "add": lambda api, key: api.add(key, 1),
        "get": lambda api, key: api.get(key),
        "set": lambda api, key: api.set(key, 1),
        "incr": lambda api, key: api.incr(key),
        "decr": lambda api, key: api.decr(key),
        "touch": lambda api, key: api.touch(key),
        "delete": lambda api, key: api.delete(key),
        "has_key": lambda api, key: api.has_key(key),
        "get_many": lambda api, key: api.get_many([key, "b"]),
        "set_many": lambda api, key: api.set_many({key: 1, "b": 2}),
        "delete_many": lambda api, key: api.delete_many([key, "b"]),
        "get_or_set": lambda api, key: api.get_or_set(key, 1),
        "incr_version": lambda api, key: api.incr_version(key),
        "decr_version": lambda api, key: api.decr_version(key, version=2),
    }
    KEYS = {
        "spaces": "key with spaces and 清",
        "control character": "key\twith\x7fcontrols",
        "too long": "a" * 250 + "清",
    }

    @pytest.mark.parametrize("operation", OPERATIONS)
    def test_warns_and_still_works(self, api: Api, operation: str) -> None:
        for kind, key in self.KEYS.items():
            expected = {
                *memcache_key_warnings(default_key_func(key, "", 1)),
                *memcache_key_warnings(default_key_func(key, "", 2)),
            }
            with pytest.warns(CacheKeyWarning):
                api.set(key, 10)
                api.set(key, 10, version=2)
            with pytest.warns(CacheKeyWarning) as record:
                self.OPERATIONS[operation](api, key)
            messages = set(cache_key_messages(record))
            assert messages & expected, f"{kind}: {messages}"
            with pytest.warns(CacheKeyWarning):
                api.set(key, "stored")
                assert api.get(key) == "stored", kind

    def test_warning_messages(self, api: Api) -> None:
        with pytest.warns(CacheKeyWarning) as record:
            api.set("key with spaces", 1)
        assert cache_key_messages(record)[0] == (
            "Cache key contains characters that will cause errors if used with "
            "memcached: ':1:key with spaces'"
        )
        # The limit applies to the made key, version and prefix included.
        key = "a" * 248
        with pytest.warns(CacheKeyWarning) as record:
            api.set(key, 1)
        assert cache_key_messages(record)[0] == (
            f"Cache key will cause errors if used with memcached: ':1:{key}' (longer than 250)"
        )

    def test_custom_key_function_is_validated_on_its_result(self, api: Api) -> None:
        bare = api.make(KEY_FUNCTION=identity_key_func)
        with pytest.warns(CacheKeyWarning, match="'key with spaces'"):
            bare.set("key with spaces", 1)
        bare.set("a" * 250, 1)  # exactly at the limit: no warning

    def test_make_key_builds_without_validating(self, api: Api) -> None:
        # As in BaseCache: validation belongs to the operations
        # (make_and_validate_key), so building a key alone never warns.
        assert api.make_key("key with spaces") == ":1:key with spaces"
        assert api.make_key("a" * 300) == ":1:" + "a" * 300

    def test_make_and_validate_key_warns(self, api: Api) -> None:
        with pytest.warns(CacheKeyWarning):
            assert api.make_and_validate_key("key with spaces") == ":1:key with spaces"

    def test_ordinary_keys_do_not_warn(self, api: Api) -> None:
        # The module-level filter turns any CacheKeyWarning here into an error.
        api.set("plain-key_1.2", 1)
        api.set("Iñtërnâtiônàlizætiøn", 1)
        api.get_many(["plain-key_1.2", "Iñtërnâtiônàlizætiøn"])


# The backend as Django sees it ---------------------------------------------------


class TestBackendClass:
    def test_is_a_django_base_cache(self, cache: Any) -> None:
        assert isinstance(cache, BaseCache)

    NATIVE_ASYNC = (
        "aget",
        "aset",
        "aadd",
        "adelete",
        "atouch",
        "ahas_key",
        "aincr",
        "aget_many",
        "aset_many",
        "adelete_many",
        "aclear",
        "aclose",
    )

    def test_async_methods_are_native(self, cache: Any) -> None:
        # BaseCache's versions run the sync method in a thread, read-modify-write
        # (aincr), loop one key per round trip (a*_many) or do nothing (aclose);
        # ours talk to the server directly.  unwrap(): a decorator (the
        # IGNORE_EXCEPTIONS policy) may wrap BaseCache's own function.
        inherited = [
            name
            for name in self.NATIVE_ASYNC
            if inspect.unwrap(getattr(type(cache), name)) is getattr(BaseCache, name)
        ]
        assert inherited == []

    def test_usable_through_django_caches(self, speedups: str, django_caches: Any) -> None:
        from django.core.cache import cache as default_cache
        from django.core.cache import caches

        from django_valkey.cache import ValkeyCache

        assert isinstance(caches["default"], ValkeyCache)
        caches["default"].set("key", "default")
        caches["other"].set("key", "other")
        assert default_cache.get("key") == "default"
        assert caches["other"].get("key") == "other"

    def test_request_finished_closes_and_the_cache_keeps_working(
        self, speedups: str, django_caches: Any
    ) -> None:
        from django.core import signals
        from django.db import close_old_connections

        default = django_caches["default"]
        default.set("key", "value")
        # Only the cache handler is under test; the database one would need DB access.
        signals.request_finished.disconnect(close_old_connections)
        try:
            signals.request_finished.send(sender=self.__class__)
        finally:
            signals.request_finished.connect(close_old_connections)
        assert django_caches["default"] is default
        assert default.get("key") == "value"


# Async-only behaviour, inside a running event loop ----------------------------


@pytest_asyncio.fixture
async def acache(cache: Any) -> Any:
    yield cache
    await cache.aclose()


@pytest.mark.asyncio
class TestInsideAnEventLoop:
    async def test_round_trip(self, acache: Any) -> None:
        await acache.aset("key", "value")
        assert await acache.aget("key") == "value"
        assert await acache.aget_many(k for k in ["key", "missing"]) == {"key": "value"}

    async def test_concurrent_calls_share_the_cache(self, acache: Any) -> None:
        await asyncio.gather(*(acache.aset(f"key{i}", i) for i in range(50)))
        values = await asyncio.gather(*(acache.aget(f"key{i}") for i in range(50)))
        assert values == list(range(50))
        await asyncio.gather(*(acache.aincr("key0") for _ in range(20)))
        assert await acache.aget("key0") == 20

    async def test_sync_and_async_see_the_same_data(self, acache: Any) -> None:
        acache.set("from-sync", [1, 2])
        await acache.aset("from-async", {"a": -1})
        assert await acache.aget("from-sync") == [1, 2]
        assert acache.get("from-async") == {"a": -1}

    async def test_timeouts_match_the_sync_api(self, acache: Any, raw: valkey.Valkey) -> None:
        # The reference's async backend truncated 0.5 s to 0 (deleting) and
        # stored set_many() without expiry; ours keeps the sync semantics.
        await acache.aset("key", "value", 0.5)
        assert await acache.aget("key") == "value"
        assert 0 < raw.pttl(acache.make_key("key")) <= 500
        await acache.aset_many({"many": 1})
        assert 290_000 < raw.pttl(acache.make_key("many")) <= 300_000

    async def test_key_warnings(self, acache: Any) -> None:
        with pytest.warns(CacheKeyWarning):
            await acache.aset("key with spaces", 1)
        with pytest.warns(CacheKeyWarning):
            assert await acache.aget("key with spaces") == 1
