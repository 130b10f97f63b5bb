"""The customizing guide's examples, written as the guide writes them.

The guide (docs: "Customizing django-valkey") tells users to build a cache on
``BaseValkeyCache[Client, Backend]`` plus ``BackendCommands`` (or
``AsyncBackendCommands``), a client on ``BaseClient`` plus ``ClientCommands``
(or ``AsyncClientCommands``), and a connection factory on
``BaseConnectionFactory``.  Such classes must behave as the package's own:
``IGNORE_EXCEPTIONS`` applies to every method with its fallback value, an
asyncio factory keeps its pools per event loop (a second ``asyncio.run``
works), and the system checks look at the custom backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import valkey.exceptions
from django.core import checks as django_checks
from django.test import override_settings
from valkey import Valkey
from valkey.asyncio import Valkey as AValkey
from valkey.asyncio.connection import ConnectionPool as AsyncConnectionPool
from valkey.connection import ConnectionPool

from django_valkey import checks
from django_valkey.base import AsyncBackendCommands, BackendCommands, BaseValkeyCache
from django_valkey.base_client import AsyncClientCommands, BaseClient, ClientCommands
from django_valkey.base_pool import BaseConnectionFactory
from tests.servers import free_port

pytestmark = pytest.mark.server

HERE = __name__
DEAD = {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2}


# The guide's classes, sync ------------------------------------------------------


class MyConnectionFactory(BaseConnectionFactory[Valkey, ConnectionPool]):
    path_pool_cls = "valkey.connection.ConnectionPool"
    path_base_cls = "valkey.client.Valkey"

    def connect(self, url: str) -> Valkey:
        return self.get_connection(self.make_connection_params(url))

    def get_connection(self, params: dict[str, Any]) -> Valkey:
        pool = self.get_or_create_connection_pool(params)
        return self.base_client_cls(connection_pool=pool, **self.base_client_cls_kwargs)

    def disconnect(self, connection: Any) -> None:
        connection.connection_pool.disconnect()

    def get_parser_cls(self) -> type:
        from valkey.connection import DefaultParser

        return DefaultParser


class MyClient(BaseClient[Valkey], ClientCommands[Valkey]):
    CONNECTION_FACTORY_PATH = f"{HERE}.MyConnectionFactory"


class MyCache(BaseValkeyCache[MyClient, Valkey], BackendCommands):
    DEFAULT_CLIENT_CLASS = f"{HERE}.MyClient"


class MyCacheWithOverride(MyCache):
    """A method defined by the user's subclass gets the policy too."""

    def get_many(self, keys: Any, version: Any = None) -> Any:
        return super().get_many(keys, version=version)


# The guide's classes, async -----------------------------------------------------


class MyAsyncConnectionFactory(BaseConnectionFactory[AValkey, AsyncConnectionPool]):
    path_pool_cls = "valkey.asyncio.connection.ConnectionPool"
    path_base_cls = "valkey.asyncio.client.Valkey"

    async def connect(self, url: str) -> AValkey:
        return await self.get_connection(self.make_connection_params(url))

    async def get_connection(self, params: dict[str, Any]) -> AValkey:
        pool = self.get_or_create_connection_pool(params)
        return self.base_client_cls(connection_pool=pool, **self.base_client_cls_kwargs)

    async def disconnect(self, connection: Any) -> None:
        await connection.connection_pool.disconnect()

    def get_parser_cls(self) -> type:
        from valkey.asyncio.connection import DefaultParser

        return DefaultParser


class MyAsyncClient(BaseClient[AValkey], AsyncClientCommands[AValkey]):
    CONNECTION_FACTORY_PATH = f"{HERE}.MyAsyncConnectionFactory"


class MyAsyncCache(BaseValkeyCache[MyAsyncClient, AValkey], AsyncBackendCommands):
    DEFAULT_CLIENT_CLASS = f"{HERE}.MyAsyncClient"


@pytest.fixture
def dead_location() -> str:
    # A free loopback port nobody listens on: connections are refused at once.
    return f"valkey://127.0.0.1:{free_port()}/0"


# End to end on a real server ---------------------------------------------------


def test_sync_cache_end_to_end(make_cache: Callable[..., Any], speedups: str) -> None:
    cache = make_cache(backend=f"{HERE}.MyCache")
    assert type(cache.client) is MyClient
    assert type(cache.client.connection_factory) is MyConnectionFactory
    assert cache.set("a", {"x": 1}, timeout=100) is True
    assert cache.get("a") == {"x": 1}
    assert cache.get("missing", "default") == "default"
    cache.set_many({"b": 2, "c": 3})
    assert cache.get_many(["a", "b", "c", "z"]) == {"a": {"x": 1}, "b": 2, "c": 3}
    assert cache.incr("b") == 3
    assert 0 < cache.ttl("a") <= 100
    assert sorted(cache.keys("*")) == ["a", "b", "c"]
    assert cache.delete("a") is True
    assert cache.has_key("a") is False
    # The sync backend's native coroutines run through an asyncio twin.
    assert asyncio.run(cache.aget("b")) == 3


def test_async_cache_end_to_end_in_two_event_loops(
    make_cache: Callable[..., Any], speedups: str
) -> None:
    cache = make_cache(backend=f"{HERE}.MyAsyncCache")

    async def use(round_: int) -> None:
        assert type(cache.client.connection_factory) is MyAsyncConnectionFactory
        assert await cache.set("k", round_) is True
        assert await cache.get("k") == round_
        assert await cache.aget_many(["k", "none"]) == {"k": round_}
        assert await cache.incr("k") == round_ + 1
        assert await cache.ttl("k") == 300
        assert [key async for key in cache.iter_keys("k*")] == ["k"]
        assert await cache.delete("k") is True

    # Each asyncio.run has its own event loop: the second must get pools of
    # its own, never the first loop's (whose futures belong to a closed loop).
    asyncio.run(use(1))
    asyncio.run(use(2))


def test_async_factory_keys_pools_by_event_loop() -> None:
    factory = MyAsyncConnectionFactory({})
    params = factory.make_connection_params("valkey://127.0.0.1:1/0")

    async def pools() -> tuple[Any, Any]:
        return factory.get_or_create_connection_pool(params), factory.get_or_create_connection_pool(
            dict(params)
        )

    first, again = asyncio.run(pools())
    second, _ = asyncio.run(pools())
    assert first is again  # shared within a loop
    assert first is not second  # never across loops


# IGNORE_EXCEPTIONS ---------------------------------------------------------------


def test_sync_cache_applies_ignore_exceptions(
    make_cache: Callable[..., Any], dead_location: str, speedups: str
) -> None:
    for backend in ("MyCache", "MyCacheWithOverride"):
        cache = make_cache(
            backend=f"{HERE}.{backend}",
            location=dead_location,
            OPTIONS={**DEAD, "IGNORE_EXCEPTIONS": True},
        )
        assert cache.get("k") is None
        assert cache.get("k", "fallback") == "fallback"
        assert cache.set("k", 1) is None
        assert cache.get_many(["a", "b"]) == {}
        assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
        assert cache.has_key("k") is False
        assert cache.get_or_set("k", lambda: "computed") == "computed"
        assert cache.delete("k") is None
        assert list(cache.iter_keys("*")) == []
        assert cache.ttl("k") is None
        assert asyncio.run(cache.aget("k", "fallback")) == "fallback"
        assert asyncio.run(cache.aget_many(["a"])) == {}

        strict = make_cache(backend=f"{HERE}.{backend}", location=dead_location, OPTIONS=DEAD)
        with pytest.raises(valkey.exceptions.ConnectionError):
            strict.get("k")
        with pytest.raises(valkey.exceptions.ConnectionError):
            strict.get_many(["k"])


def test_async_cache_applies_ignore_exceptions(
    make_cache: Callable[..., Any], dead_location: str, speedups: str
) -> None:
    cache = make_cache(
        backend=f"{HERE}.MyAsyncCache",
        location=dead_location,
        OPTIONS={**DEAD, "IGNORE_EXCEPTIONS": True},
    )
    strict = make_cache(backend=f"{HERE}.MyAsyncCache", location=dead_location, OPTIONS=DEAD)

    async def scenario() -> None:
        assert await cache.get("k") is None
        assert await cache.aget("k", "fallback") == "fallback"
        assert await cache.set("k", 1) is None
        assert await cache.get_many(["a", "b"]) == {}
        assert await cache.aset_many({"a": 1, "b": 2}) == ["a", "b"]
        assert await cache.has_key("k") is False
        assert await cache.get_or_set("k", lambda: "computed") == "computed"
        assert [key async for key in cache.iter_keys("*")] == []
        assert await cache.ttl("k") is None
        with pytest.raises(valkey.exceptions.ConnectionError):
            await strict.get("k")

    asyncio.run(scenario())


# System checks ---------------------------------------------------------------------


def _ids(messages: list[django_checks.CheckMessage]) -> list[str]:
    return sorted(str(message.id) for message in messages)


def test_system_checks_look_at_custom_backends() -> None:
    caches = {
        "default": {
            "BACKEND": f"{HERE}.MyCache",
            "LOCATION": "valkey://127.0.0.1:6379/0",
            "OPTIONS": {"IGNORE_EXCEPTION": True},
        },
        "async": {
            "BACKEND": f"{HERE}.MyAsyncCache",
            "LOCATION": "ftp://127.0.0.1/0",
            "OPTIONS": {"SERIALIZER": "django_valkey.serializers.json.JSONSerializer"},
        },
        "other": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    with override_settings(CACHES=caches):
        assert _ids(checks.check_caches()) == ["django_valkey.W001"]
        messages = checks.check_cache_settings()
    by_alias = {alias: [m.id for m in messages if repr(alias) in m.msg] for alias in caches}
    assert by_alias == {
        "default": ["django_valkey.W010"],
        "async": ["django_valkey.E011"],
        "other": [],
    }
