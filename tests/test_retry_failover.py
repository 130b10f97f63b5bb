"""OPTIONS["RETRY"] rides out a Sentinel failover: the primary is killed and
the very next calls, made while the sentinel is still promoting the replica,
return normally (sync and async)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from django_valkey.stats import statistics
from tests.sentinels import SERVICE, sentinel_topology
from tests.servers import wait_replicated

pytestmark = [pytest.mark.server, pytest.mark.slow]

# Enough attempts to outlast down-after (0.4 s) plus the promotion, many times over.
RIDE_OUT = {"ATTEMPTS": 200, "BACKOFF": 0.02, "MAX_BACKOFF": 0.2}


def _options(client_class: str, sentinels: Any) -> dict[str, Any]:
    return {
        "CLIENT_CLASS": client_class,
        "SENTINELS": sentinels,
        "SOCKET_TIMEOUT": 0.5,
        "SOCKET_CONNECT_TIMEOUT": 0.5,
        "RETRY": RIDE_OUT,
        "STATISTICS": True,
    }


@pytest.mark.parametrize(
    "client_class",
    ["django_valkey.client.SentinelClient", "django_valkey.async_cache.client.AsyncSentinelClient"],
)
def test_failover_reaches_no_caller(make_cache: Any, client_class: str) -> None:
    location = f"valkey://{SERVICE}/0"
    with sentinel_topology() as topology:
        stats = statistics(location)
        stats.reset()
        options = _options(client_class, topology.sentinels)
        is_async = "async_cache" in client_class
        cache = make_cache(
            backend="django_valkey.async_cache.cache.AsyncValkeyCache"
            if is_async
            else "django_valkey.cache.ValkeyCache",
            location=location,
            OPTIONS=options,
        )

        async def async_scenario() -> None:
            await cache.set("before", 1)
            wait_replicated(topology.primary)
            topology.primary.kill()
            # No waiting for the promotion: the retries do it.
            await cache.set("after", 2)
            assert await cache.get("after") == 2
            assert await cache.get("before") == 1
            await cache.client._close()

        if is_async:
            asyncio.run(async_scenario())
        else:
            cache.set("before", 1)
            wait_replicated(topology.primary)
            topology.primary.kill()
            cache.set("after", 2)
            assert cache.get("after") == 2
            assert cache.get("before") == 1
        assert stats.errors > 0  # the primary really was gone under the calls
        assert topology.replica is not None
        assert topology.replica.client().info("replication")["role"] == "master"
