"""Connections that say who they are (CLIENT SETINFO) and credential
providers (OPTIONS["CREDENTIAL_PROVIDER"]): an ACL user, then a password
rotation, sync and async, on a real server."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from valkey.credentials import CredentialProvider
from valkey.exceptions import AuthenticationError

from django_valkey import __version__
from tests.servers import ValkeyServer

pytestmark = pytest.mark.server

#: The current password of each test user, as a secrets store would hold it.
PASSWORDS: dict[str, str] = {}
_users = itertools.count()


class StoreProvider(CredentialProvider):
    """Reads the user's password from ``PASSWORDS`` each time it is asked."""

    asked = 0

    def __init__(self, username: str) -> None:
        self.username = username

    def get_credentials(self) -> tuple[str, str]:
        StoreProvider.asked += 1
        return self.username, PASSWORDS[self.username]


@pytest.fixture
def acl_user(valkey_server: ValkeyServer) -> Iterator[str]:
    name = f"cache-user-{next(_users)}"
    PASSWORDS[name] = "first-secret"
    with valkey_server.client() as admin:
        admin.execute_command("ACL", "SETUSER", name, "on", ">first-secret", "~*", "+@all")
    try:
        yield name
    finally:
        with valkey_server.client() as admin:
            admin.execute_command("ACL", "DELUSER", name)
        PASSWORDS.pop(name, None)


def _options(user: str) -> dict[str, Any]:
    return {
        "CREDENTIAL_PROVIDER": "tests.test_credential_provider.StoreProvider",
        "CREDENTIAL_PROVIDER_KWARGS": {"username": user},
    }


def _rotate(server: ValkeyServer, user: str, new: str) -> None:
    # Server side and in the store; existing connections stay logged in.
    with server.client() as admin:
        admin.execute_command("ACL", "SETUSER", user, "resetpass", f">{new}")
    PASSWORDS[user] = new


def _whoami(raw: Any) -> str:
    reply = raw.execute_command("ACL", "WHOAMI")
    return reply.decode() if isinstance(reply, bytes) else reply


def _lib_names(server: ValkeyServer) -> set[tuple[str, str]]:
    with server.client() as admin:
        return {(c.get("lib-name", ""), c.get("lib-ver", "")) for c in admin.client_list()}


def test_connections_say_who_they_are(make_cache: Any, valkey_server: ValkeyServer) -> None:
    cache = make_cache()
    cache.set("k", 1)
    assert ("django-valkey", __version__) in _lib_names(valkey_server)


def test_async_connections_say_who_they_are(make_cache: Any, valkey_server: ValkeyServer) -> None:
    cache = make_cache()

    async def scenario() -> set[tuple[str, str]]:
        await cache.aset("k", 1)
        seen = _lib_names(valkey_server)
        await cache.async_client._close()
        return seen

    assert ("django-valkey", __version__) in asyncio.run(scenario())


def test_lib_name_can_be_overridden(make_cache: Any, valkey_server: ValkeyServer) -> None:
    cache = make_cache(OPTIONS={"CONNECTION_POOL_KWARGS": {"lib_name": "my-site"}})
    cache.set("k", 1)
    assert ("my-site", __version__) in _lib_names(valkey_server)


def test_acl_user_and_rotation_sync(
    make_cache: Any, valkey_server: ValkeyServer, acl_user: str
) -> None:
    cache = make_cache(OPTIONS=_options(acl_user))
    cache.set("k", "v")
    assert cache.get("k") == "v"
    raw = cache.client.get_client()
    assert _whoami(raw) == acl_user

    _rotate(valkey_server, acl_user, "second-secret")
    raw.connection_pool.disconnect()  # only new connections from here on
    asked = StoreProvider.asked
    assert cache.get("k") == "v"
    assert StoreProvider.asked > asked  # the provider was asked again
    assert _whoami(raw) == acl_user

    # The old password no longer opens a connection: the rotation was real.
    PASSWORDS[acl_user] = "first-secret"
    raw.connection_pool.disconnect()
    with pytest.raises(AuthenticationError):
        cache.get("k")


async def _drop_connections(raw: Any) -> None:
    """Close every connection of the pool, the shared pipelined one too (it
    is not one of the pool's: only new connections ask the provider again)."""
    mux = getattr(raw.connection_pool, "_dv_mux", None)
    if mux is not None:
        mux.close_idle()
    await raw.connection_pool.disconnect()


def test_acl_user_and_rotation_async(
    make_cache: Any, valkey_server: ValkeyServer, acl_user: str
) -> None:
    cache = make_cache(OPTIONS=_options(acl_user))

    async def scenario() -> None:
        await cache.aset("k", "v")
        raw = await cache.async_client.get_client()
        assert (await raw.execute_command("ACL", "WHOAMI")) in (acl_user, acl_user.encode())
        _rotate(valkey_server, acl_user, "second-secret")
        await _drop_connections(raw)
        assert await cache.aget("k") == "v"
        PASSWORDS[acl_user] = "first-secret"
        await _drop_connections(raw)
        with pytest.raises(AuthenticationError):
            await cache.aget("k")
        await cache.async_client._close()

    asyncio.run(scenario())


def test_one_provider_per_configuration(make_cache: Any, acl_user: str) -> None:
    # The provider is part of the pool key: backends built from the same
    # settings (one per thread in Django) must share one pool.
    one = make_cache(OPTIONS=_options(acl_user))
    two = make_cache(OPTIONS=_options(acl_user))
    one.set("k", 1)
    assert two.get("k") == 1
    assert one.client.get_client().connection_pool is two.client.get_client().connection_pool


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"CREDENTIAL_PROVIDER": "tests.nowhere.Provider"}, "cannot import"),
        ({"CREDENTIAL_PROVIDER": "collections.OrderedDict"}, "get_credentials"),
        (
            {
                "CREDENTIAL_PROVIDER": "tests.test_credential_provider.StoreProvider",
                "CREDENTIAL_PROVIDER_KWARGS": ["x"],
            },
            "must be a dict",
        ),
    ],
)
def test_bad_provider_settings(make_cache: Any, options: dict[str, Any], message: str) -> None:
    cache = make_cache(OPTIONS=options)
    with pytest.raises(ImproperlyConfigured, match=message):
        cache.get("k")
