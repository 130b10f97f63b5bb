"""Fixtures shared by the asyncio concurrency and pipelining tests: each
test runs on both async entry points, with caches closed in the test's own
loop, and may have a server of its own to kill, freeze or restart."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import pytest_asyncio

from tests.servers import ValkeyServer

BACKENDS = {
    "AsyncValkeyCache": "django_valkey.async_cache.cache.AsyncValkeyCache",
    "ValkeyCache": "django_valkey.cache.ValkeyCache",
}


# Registered under their short names by tests/conftest.py (function names
# differ so that the conftest's own ``backend=`` arguments do not clash).
@pytest.fixture(params=sorted(BACKENDS), name="backend")
def backend_fixture(request: pytest.FixtureRequest) -> str:
    return BACKENDS[request.param]


@pytest_asyncio.fixture(name="amake")
async def amake_fixture(backend: str, make_cache: Callable[..., Any]) -> AsyncIterator[Any]:
    made: list[Any] = []

    def factory(**params: Any) -> Any:
        cache = make_cache(backend=backend, **params)
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        await cache.aclose()


@pytest.fixture(name="own_server")
def own_server_fixture(tmp_path: Any) -> Iterator[ValkeyServer]:
    """A server of the test's own, which the test may kill or freeze."""
    server = ValkeyServer(workdir=tmp_path).start()
    try:
        yield server
    finally:
        if server.running:
            server.resume()
            server.stop()
