"""Settings: LOCATION forms, OPTIONS, pools, and clear errors for bad values."""

from __future__ import annotations

import asyncio
import pickle

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_valkey.base_pool import BaseConnectionFactory
from django_valkey.pool import ConnectionFactory, get_connection_factory

pytestmark = pytest.mark.server


@pytest.mark.parametrize("scheme", ["valkey", "redis"])
def test_tcp_schemes(make_cache, valkey_server, scheme, speedups):
    cache = make_cache(location=f"{scheme}://127.0.0.1:{valkey_server.port}/3")
    cache.set("k", "v")
    assert cache.get("k") == "v"
    assert valkey_server.client(db=3).exists(":1:k") == 1


def test_unix_socket(make_cache, valkey_unix_server, speedups):
    cache = make_cache(location=f"unix://{valkey_unix_server.unixsocket}?db=2")
    cache.set("k", [1, 2])
    assert cache.get("k") == [1, 2]


@pytest.mark.parametrize("form", ["comma", "list", "tuple"])
def test_location_lists(make_cache, valkey_server, form):
    url = f"{valkey_server.url}/0"
    location = {"comma": f"{url}, {url}", "list": [url, url], "tuple": (url, url)}[form]
    cache = make_cache(location=location)
    assert cache.client._server == [url, url]
    cache.set("k", 1)
    assert cache.get("k") == 1
    assert cache.client.get_client_with_index(write=True)[1] == 0
    assert cache.client.get_client_with_index(write=False)[1] == 1


@pytest.mark.parametrize(
    ("location", "message"),
    [("", "LOCATION"), ("http://localhost", "LOCATION"), ([], "LOCATION"), (42, "LOCATION")],
)
def test_bad_locations(make_cache, location, message):
    cache = make_cache(location=location)
    with pytest.raises(ImproperlyConfigured, match=message):
        cache.get("k")


@pytest.mark.parametrize(
    ("options", "setting"),
    [
        ({"SERIALIZER": "no.such.Serializer"}, "SERIALIZER"),
        ({"COMPRESSOR": "no.such.Compressor"}, "COMPRESSOR"),
        ({"CLIENT_CLASS": "no.such.Client"}, "CLIENT_CLASS"),
        ({"CONNECTION_FACTORY": "no.such.Factory"}, "CONNECTION_FACTORY"),
        ({"CONNECTION_POOL_CLASS": "no.such.Pool"}, "CONNECTION_POOL_CLASS"),
        ({"SOCKET_TIMEOUT": "5"}, "SOCKET_TIMEOUT"),
        ({"SOCKET_CONNECT_TIMEOUT": [1]}, "SOCKET_CONNECT_TIMEOUT"),
        ({"PICKLE_VERSION": "high"}, "PICKLE_VERSION"),
        ({"PICKLE_VERSION": pickle.HIGHEST_PROTOCOL + 1}, "PICKLE_VERSION"),
        ({"PARSER_CLASS": "no.such.Parser"}, "PARSER_CLASS"),
    ],
)
def test_bad_options_name_the_setting(make_cache, options, setting):
    with pytest.raises(ImproperlyConfigured, match=setting):
        cache = make_cache(OPTIONS=options)
        cache.set("k", 1)


def test_bad_timeout_and_options_types(make_cache):
    # Raised on first use, not when built: Django's system checks build
    # every cache and must report django_valkey.E0xx instead of a traceback.
    with pytest.raises(ImproperlyConfigured, match="TIMEOUT"):
        make_cache(TIMEOUT="soon").get("k")
    with pytest.raises(ImproperlyConfigured, match="OPTIONS"):
        make_cache(OPTIONS=["not", "a", "dict"]).get("k")
    with pytest.raises(ImproperlyConfigured, match="OPTIONS"):
        asyncio.run(make_cache(OPTIONS=["not", "a", "dict"]).aget("k"))


def test_timeout_setting(make_cache, speedups):
    cache = make_cache(TIMEOUT=60)
    cache.set("k", 1)
    assert 59 <= cache.ttl("k") <= 60
    forever = make_cache(TIMEOUT=None)
    forever.set("f", 1)
    assert forever.ttl("f") is None


def test_socket_options_reach_the_pool(make_cache):
    cache = make_cache(
        OPTIONS={
            "SOCKET_TIMEOUT": 2.5,
            "SOCKET_CONNECT_TIMEOUT": 1,
            "CONNECTION_POOL_KWARGS": {"max_connections": 7},
        }
    )
    cache.set("k", 1)
    pool = cache.client.get_client().connection_pool
    assert pool.connection_kwargs["socket_timeout"] == 2.5
    assert pool.connection_kwargs["socket_connect_timeout"] == 1
    assert pool.max_connections == 7


def test_password_option(make_cache, valkey_server):
    valkey_server.client().config_set("requirepass", "s3cret")
    try:
        cache = make_cache(OPTIONS={"PASSWORD": "s3cret"})
        cache.set("k", 1)
        assert cache.get("k") == 1
    finally:
        valkey_server.client(password="s3cret").config_set("requirepass", "")


def test_pools_keyed_by_every_parameter(make_cache, valkey_server):
    url = f"{valkey_server.url}/0"
    a = make_cache(location=url, OPTIONS={"CONNECTION_POOL_KWARGS": {"max_connections": 5}})
    b = make_cache(location=url, OPTIONS={"CONNECTION_POOL_KWARGS": {"max_connections": 9}})
    c = make_cache(location=url, OPTIONS={"CONNECTION_POOL_KWARGS": {"max_connections": 5}})
    pool_a = a.client.get_client().connection_pool
    pool_b = b.client.get_client().connection_pool
    pool_c = c.client.get_client().connection_pool
    assert pool_a is not pool_b
    assert pool_a is pool_c  # same parameters: one shared pool
    assert (pool_a.max_connections, pool_b.max_connections) == (5, 9)


def test_parser_class_both_spellings(make_cache):
    from valkey._parsers import _RESP2Parser

    for option in ("PARSER_CLASS", "PARSER_CLS"):
        cache = make_cache(OPTIONS={option: "valkey._parsers._RESP2Parser"})
        assert cache.client.connection_factory.get_parser_cls() is _RESP2Parser
        cache.set("k", option)
        assert cache.get("k") == option


def test_connection_factory_resolution():
    assert isinstance(
        get_connection_factory(path="django_valkey.pool.ConnectionFactory"), ConnectionFactory
    )

    class Custom(ConnectionFactory):
        pass

    factory = get_connection_factory(options={"CONNECTION_FACTORY": Custom})
    assert type(factory) is Custom
    with override_settings(DJANGO_VALKEY_CONNECTION_FACTORY="django_valkey.pool.ConnectionFactory"):
        assert type(get_connection_factory(path="x.y")) is ConnectionFactory


def test_base_factory_methods_are_abstract():
    class Bare(BaseConnectionFactory):
        path_pool_cls = "valkey.connection.ConnectionPool"
        path_base_cls = "valkey.client.Valkey"

    factory = Bare({})
    for call in (
        lambda: factory.connect("valkey://x"),
        lambda: factory.disconnect(None),
        lambda: factory.get_connection({}),
        factory.get_parser_cls,
    ):
        with pytest.raises(NotImplementedError):
            call()


def test_settings_dict_not_mutated(make_cache):
    options = {"SERIALIZER": "django_valkey.serializers.json.JSONSerializer"}
    snapshot = dict(options)
    cache = make_cache(OPTIONS=options)
    cache.set("k", {"a": 1})
    assert cache.get("k") == {"a": 1}
    assert options == snapshot


def test_close_connection_option(make_cache, speedups):
    cache = make_cache(OPTIONS={"CLOSE_CONNECTION": True})
    cache.set("k", 1)
    assert cache.client._clients[0] is not None
    cache.close()
    assert cache.client._clients[0] is None
    assert cache.get("k") == 1
    keep = make_cache()
    keep.set("k", 2)
    keep.close()
    assert keep.client._clients[0] is not None


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "backend",
    ["django_valkey.cache.ValkeyCache", "django_valkey.async_cache.cache.AsyncValkeyCache"],
)
async def test_unix_socket_async(make_cache, valkey_unix_server, backend):
    cache = make_cache(backend, location=f"unix://{valkey_unix_server.unixsocket}?db=3")
    try:
        await cache.aset("k", {"unix": True})
        assert await cache.aget("k") == {"unix": True}
    finally:
        await cache.aclose()
