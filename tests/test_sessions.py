"""Django's cache session backend (and cached_db) over ValkeyCache.

``django.contrib.sessions.backends.cache`` relies on the cache contract in
ways user code rarely does: ``add()`` must return False for a taken key
(session creation loops on it), ``has_key`` backs ``exists()``, and the
session's age becomes the cache timeout.  Both the sync and the async
(Django 5.x ``a*``) session APIs are exercised.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import valkey
from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.contrib.sessions.backends.cache import KEY_PREFIX, SessionStore
from django.core.cache import caches
from django.http import HttpResponse
from django.test import RequestFactory

pytestmark = pytest.mark.server


@pytest.fixture
def session_caches(speedups: str, django_caches: Any, settings: Any) -> Any:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.SESSION_CACHE_ALIAS = "default"
    return django_caches


@pytest.fixture
def raw(valkey_server: Any) -> Iterator[valkey.Valkey]:
    with valkey_server.client() as conn:
        yield conn


def stored_key(session_key: str) -> str:
    """Where the cache session backend puts a session, with the default key function."""
    return f":1:{KEY_PREFIX}{session_key}"


@contextlib.asynccontextmanager
async def closing_caches() -> AsyncIterator[None]:
    # Async connections belong to the test's loop: close them before it ends.
    try:
        yield
    finally:
        for cache in caches.all(initialized_only=True):
            await cache.aclose()


# Sync API ------------------------------------------------------------------------


def test_save_then_load_in_another_store(session_caches: Any) -> None:
    session = SessionStore()
    session["user"] = {"id": 7, "name": "Iñtërnâtiônàl"}
    session.save()
    assert session.session_key

    loaded = SessionStore(session.session_key)
    assert loaded["user"] == {"id": 7, "name": "Iñtërnâtiônàl"}
    assert loaded.load() == {"user": {"id": 7, "name": "Iñtërnâtiônàl"}}


def test_session_lives_in_the_cache_with_its_age_as_timeout(
    session_caches: Any, raw: valkey.Valkey, settings: Any
) -> None:
    session = SessionStore()
    session["a"] = 1
    session.save()
    age_ms = settings.SESSION_COOKIE_AGE * 1000
    assert age_ms - 60_000 < raw.pttl(stored_key(session.session_key)) <= age_ms

    session.set_expiry(60)
    session.save()
    assert 50_000 < raw.pttl(stored_key(session.session_key)) <= 60_000


def test_exists(session_caches: Any) -> None:
    session = SessionStore()
    session["a"] = 1
    session.save()
    assert session.exists(session.session_key) is True
    assert session.exists("no-such-session-key") is False
    assert session.exists("") is False


def test_delete(session_caches: Any) -> None:
    session = SessionStore()
    session["a"] = 1
    session.save()
    key = session.session_key
    session.delete()
    assert session.exists(key) is False
    assert SessionStore(key).load() == {}

    other = SessionStore()
    other["b"] = 2
    other.save()
    SessionStore().delete(other.session_key)
    assert other.exists(other.session_key) is False


def test_unknown_key_loads_empty_and_gets_a_new_key(session_caches: Any) -> None:
    session = SessionStore("k" * 32)
    assert session.load() == {}
    assert session.session_key is None


def test_cycle_key_keeps_the_data_under_a_new_key(session_caches: Any) -> None:
    session = SessionStore()
    session["a"] = 1
    session.save()
    old_key = session.session_key
    session.cycle_key()
    assert session.session_key != old_key
    assert session.exists(old_key) is False
    assert SessionStore(session.session_key)["a"] == 1


def test_flush_removes_the_data_and_the_key(session_caches: Any) -> None:
    session = SessionStore()
    session["a"] = 1
    session.save()
    old_key = session.session_key
    session.flush()
    assert session.session_key is None
    assert session.exists(old_key) is False
    assert dict(session.items()) == {}


def test_creating_over_a_taken_key_raises_create_error(session_caches: Any) -> None:
    # Session creation relies on add() returning False when the key exists.
    first = SessionStore()
    first["a"] = 1
    first.save()
    clash = SessionStore(first.session_key)
    clash._session_cache = {"b": 2}
    with pytest.raises(CreateError):
        clash.save(must_create=True)
    assert SessionStore(first.session_key)["a"] == 1


def test_create_picks_a_fresh_key(session_caches: Any) -> None:
    session = SessionStore()
    session.create()
    assert session.session_key
    assert session.exists(session.session_key) is True


def test_saving_a_session_that_vanished_raises_update_error(session_caches: Any) -> None:
    session = SessionStore()
    session["a"] = 1
    session.save()
    caches["default"].delete(KEY_PREFIX + session.session_key)
    session["a"] = 2
    with pytest.raises(UpdateError):
        session.save()


def test_session_cache_alias_selects_the_cache(
    session_caches: Any, settings: Any, valkey_server: Any
) -> None:
    settings.SESSION_CACHE_ALIAS = "other"
    session = SessionStore()
    session["a"] = 1
    session.save()
    with valkey_server.client(db=1) as db1, valkey_server.client(db=0) as db0:
        assert db1.exists(stored_key(session.session_key)) == 1
        assert db0.exists(stored_key(session.session_key)) == 0


def test_middleware_round_trip(session_caches: Any) -> None:
    from django.contrib.sessions.middleware import SessionMiddleware

    def view(request: Any) -> HttpResponse:
        request.session["visits"] = request.session.get("visits", 0) + 1
        return HttpResponse(str(request.session["visits"]))

    middleware = SessionMiddleware(view)
    factory = RequestFactory()
    first = middleware(factory.get("/"))
    assert first.content == b"1"
    cookie = first.cookies["sessionid"].value

    second_request = factory.get("/")
    second_request.COOKIES["sessionid"] = cookie
    second = middleware(second_request)
    assert second.content == b"2"


@pytest.mark.django_db
def test_cached_db_backend_reads_through_the_cache(session_caches: Any) -> None:
    from django.contrib.sessions.backends.cached_db import KEY_PREFIX as CACHED_DB_PREFIX
    from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

    session = CachedDBStore()
    session["a"] = 1
    session.save()
    cached = caches["default"].get(CACHED_DB_PREFIX + session.session_key)
    assert cached == {"a": 1}
    assert CachedDBStore(session.session_key)["a"] == 1


# Async API (Django 5.x) --------------------------------------------------------


@pytest.mark.asyncio
async def test_async_save_load_exists_delete(session_caches: Any) -> None:
    async with closing_caches():
        session = SessionStore()
        await session.aset("user", 7)
        await session.asave()
        key = session.session_key
        assert key
        assert await session.aexists(key) is True

        loaded = SessionStore(key)
        assert await loaded.aload() == {"user": 7}
        assert await loaded.aget("user") == 7

        await session.adelete()
        assert await session.aexists(key) is False
        assert await SessionStore(key).aload() == {}


@pytest.mark.asyncio
async def test_async_cycle_key_and_flush(session_caches: Any) -> None:
    async with closing_caches():
        session = SessionStore()
        await session.aset("a", 1)
        await session.asave()
        old_key = session.session_key
        await session.acycle_key()
        assert session.session_key != old_key
        assert await session.aexists(old_key) is False
        assert await SessionStore(session.session_key).aget("a") == 1

        key = session.session_key
        await session.aflush()
        assert session.session_key is None
        assert await session.aexists(key) is False


@pytest.mark.asyncio
async def test_async_create_over_a_taken_key_raises_create_error(session_caches: Any) -> None:
    async with closing_caches():
        first = SessionStore()
        await first.aset("a", 1)
        await first.asave()
        clash = SessionStore(first.session_key)
        clash._session_cache = {"b": 2}
        with pytest.raises(CreateError):
            await clash.asave(must_create=True)
        fresh = SessionStore()
        await fresh.acreate()
        assert fresh.session_key != first.session_key
        assert await fresh.aexists(fresh.session_key) is True


@pytest.mark.asyncio
async def test_async_and_sync_share_sessions(session_caches: Any) -> None:
    async with closing_caches():
        session = SessionStore()
        session["from"] = "sync"
        session.save()
        assert await SessionStore(session.session_key).aget("from") == "sync"

        async_session = SessionStore()
        await async_session.aset("from", "async")
        await async_session.asave()
        assert SessionStore(async_session.session_key)["from"] == "async"
