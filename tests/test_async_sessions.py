"""Django's async session API (Django 5.x ``a*``) over the async backends.

The twin of test_sessions.py for ``django.contrib.sessions.backends.cache``
(and ``cached_db``) driven through ``asave``/``aload``/``aexists``/...,
with ``SESSION_CACHE_ALIAS`` pointing at an ``AsyncValkeyCache`` or at a
``ValkeyCache`` used through its native ``a*`` methods.  The cache session
backend relies on ``aadd`` returning False for a taken key (session creation
loops on it) and on the session's age becoming the cache timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
import valkey
from django.contrib.sessions.backends.base import CreateError, UpdateError
from django.contrib.sessions.backends.cache import KEY_PREFIX, SessionStore
from django.core.cache import caches
from django.test import override_settings

from tests.servers import ValkeyServer

pytestmark = [pytest.mark.server, pytest.mark.asyncio]

BACKENDS = {
    "AsyncValkeyCache": "django_valkey.async_cache.cache.AsyncValkeyCache",
    "ValkeyCache": "django_valkey.cache.ValkeyCache",
}


@pytest_asyncio.fixture(params=sorted(BACKENDS))
async def session_cache(
    request: pytest.FixtureRequest, speedups: str, valkey_server: ValkeyServer, settings: Any
) -> AsyncIterator[Any]:
    """CACHES "sessions" (db 0) and "other" (db 1) of one backend, used by the
    cache session engine; closed inside the test's loop."""
    valkey_server.flushall()
    backend = BACKENDS[request.param]
    settings_caches = {
        "default": {"BACKEND": BACKENDS["ValkeyCache"], "LOCATION": f"{valkey_server.url}/0"},
        "sessions": {"BACKEND": backend, "LOCATION": f"{valkey_server.url}/0"},
        "other": {"BACKEND": backend, "LOCATION": f"{valkey_server.url}/1"},
    }
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    settings.SESSION_CACHE_ALIAS = "sessions"
    with override_settings(CACHES=settings_caches):
        try:
            yield caches["sessions"]
        finally:
            for cache in caches.all(initialized_only=True):
                await cache.aclose()


@pytest.fixture
def raw(valkey_server: ValkeyServer) -> Iterator[valkey.Valkey]:
    with valkey_server.client() as conn:
        yield conn


def stored_key(session_key: str, prefix: str = KEY_PREFIX) -> str:
    return f":1:{prefix}{session_key}"


async def test_save_then_load_in_another_store(session_cache: Any) -> None:
    session = SessionStore()
    await session.aset("user", {"id": 7, "name": "Iñtërnâtiônàl"})
    await session.asave()
    assert session.session_key

    loaded = SessionStore(session.session_key)
    assert await loaded.aget("user") == {"id": 7, "name": "Iñtërnâtiônàl"}
    assert await loaded.aload() == {"user": {"id": 7, "name": "Iñtërnâtiônàl"}}
    assert await session_cache.aget(KEY_PREFIX + session.session_key) == {
        "user": {"id": 7, "name": "Iñtërnâtiônàl"}
    }


async def test_session_lives_in_the_cache_with_its_age_as_timeout(
    session_cache: Any, raw: valkey.Valkey, settings: Any
) -> None:
    session = SessionStore()
    await session.aset("a", 1)
    await session.asave()
    age_ms = settings.SESSION_COOKIE_AGE * 1000
    assert age_ms - 60_000 < raw.pttl(stored_key(session.session_key)) <= age_ms

    await session.aset_expiry(60)
    await session.asave()
    assert 50_000 < raw.pttl(stored_key(session.session_key)) <= 60_000


async def test_exists(session_cache: Any) -> None:
    session = SessionStore()
    await session.aset("a", 1)
    await session.asave()
    assert await session.aexists(session.session_key) is True
    assert await session.aexists("no-such-session-key") is False
    assert await session.aexists("") is False


async def test_delete(session_cache: Any) -> None:
    session = SessionStore()
    await session.aset("a", 1)
    await session.asave()
    key = session.session_key
    await session.adelete()
    assert await session.aexists(key) is False
    assert await SessionStore(key).aload() == {}

    other = SessionStore()
    await other.aset("b", 2)
    await other.asave()
    await SessionStore().adelete(other.session_key)
    assert await other.aexists(other.session_key) is False


async def test_unknown_key_loads_empty_and_gets_a_new_key(session_cache: Any) -> None:
    session = SessionStore("k" * 32)
    assert await session.aload() == {}
    assert session.session_key is None


async def test_cycle_key_keeps_the_data_under_a_new_key(session_cache: Any) -> None:
    session = SessionStore()
    await session.aset("a", 1)
    await session.asave()
    old_key = session.session_key
    await session.acycle_key()
    assert session.session_key != old_key
    assert await session.aexists(old_key) is False
    assert await SessionStore(session.session_key).aget("a") == 1


async def test_flush_removes_the_data_and_the_key(session_cache: Any) -> None:
    session = SessionStore()
    await session.aset("a", 1)
    await session.asave()
    old_key = session.session_key
    await session.aflush()
    assert session.session_key is None
    assert await session.aexists(old_key) is False
    assert await session.aitems() == {}.items()


async def test_creating_over_a_taken_key_raises_create_error(session_cache: Any) -> None:
    first = SessionStore()
    await first.aset("a", 1)
    await first.asave()
    clash = SessionStore(first.session_key)
    clash._session_cache = {"b": 2}
    with pytest.raises(CreateError):
        await clash.asave(must_create=True)
    assert await SessionStore(first.session_key).aget("a") == 1


async def test_create_picks_a_fresh_key(session_cache: Any) -> None:
    session = SessionStore()
    await session.acreate()
    assert session.session_key
    assert await session.aexists(session.session_key) is True
    other = SessionStore()
    await other.acreate()
    assert other.session_key != session.session_key


async def test_saving_a_session_that_vanished_raises_update_error(session_cache: Any) -> None:
    session = SessionStore()
    await session.aset("a", 1)
    await session.asave()
    await session_cache.adelete(KEY_PREFIX + session.session_key)
    await session.aset("a", 2)
    with pytest.raises(UpdateError):
        await session.asave()


async def test_session_cache_alias_selects_the_cache(
    session_cache: Any, settings: Any, valkey_server: ValkeyServer
) -> None:
    settings.SESSION_CACHE_ALIAS = "other"
    session = SessionStore()
    await session.aset("a", 1)
    await session.asave()
    with valkey_server.client(db=1) as db1, valkey_server.client(db=0) as db0:
        assert db1.exists(stored_key(session.session_key)) == 1
        assert db0.exists(stored_key(session.session_key)) == 0


async def test_many_sessions_at_once(session_cache: Any) -> None:
    import asyncio

    async def visit(i: int) -> tuple[str, int]:
        session = SessionStore()
        await session.aset("i", i)
        await session.asave()
        assert session.session_key is not None
        return session.session_key, i

    pairs = await asyncio.gather(*(visit(i) for i in range(100)))
    assert len({key for key, _ in pairs}) == 100
    loaded = await asyncio.gather(*(SessionStore(key).aget("i") for key, _ in pairs))
    assert loaded == [i for _, i in pairs]


@pytest.mark.django_db(transaction=True)
async def test_cached_db_backend_reads_through_the_cache(session_cache: Any) -> None:
    if getattr(session_cache, "is_async", False):
        # Django's async cached_db asks ``key in cache`` (a sync has_key),
        # which an all-coroutine backend cannot answer: it refuses clearly.
        with pytest.raises(TypeError, match="ahas_key"):
            assert "key" in session_cache
        return
    from django.contrib.sessions.backends.cached_db import KEY_PREFIX as CACHED_DB_PREFIX
    from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore

    session = CachedDBStore()
    await session.aset("a", 1)
    await session.asave()
    assert await session_cache.aget(CACHED_DB_PREFIX + session.session_key) == {"a": 1}
    assert await CachedDBStore(session.session_key).aget("a") == 1
    # Read through the cache even when the database row is gone.
    from django.contrib.sessions.models import Session

    await Session.objects.filter(session_key=session.session_key).adelete()
    assert await CachedDBStore(session.session_key).aget("a") == 1
