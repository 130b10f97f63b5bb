"""Model-based coherence check (hypothesis stateful) of the near cache.

This process reads and writes through a near-cached ``ValkeyCache`` while an
outside writer (a second, raw valkey-py client) sets, deletes, increments,
expires, rewrites from Lua and flushes.  After each outside change the test
waits until the change's invalidation was applied (a barrier, see
``tests.nearhelp.Barrier``: polled with a deadline); then every near-cache
read (``get``, ``get_many``, ``has_key``) must equal a direct server read.
This process's own writes need no wait: they are read back at once.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from django_valkey import near as near_module
from tests.nearhelp import Barrier, wait_for, wait_tracking
from tests.servers import ValkeyServer

KEYS = [f"k{i}" for i in range(5)]
VALUES = st.one_of(st.integers(-5, 5), st.text(max_size=5), st.lists(st.integers(), max_size=3))


@pytest.fixture
def server(tmp_path: Any) -> Any:
    srv = ValkeyServer(name="near-model", workdir=tmp_path)
    srv.start()
    try:
        yield srv
    finally:
        near_module.shutdown_all()
        srv.stop()


def test_near_cache_matches_the_server(
    speedups: str, make_cache: Any, server: ValkeyServer
) -> None:
    cache = make_cache(
        location=f"{server.url}/0",
        KEY_PREFIX="model",
        OPTIONS={"NEAR_CACHE": {"MAX_ENTRIES": 4, "MAX_BYTES": 4096, "MAX_VALUE_BYTES": 64}},
    )
    wait_tracking(cache)
    raw = server.client()
    barrier = Barrier(cache, raw)

    def server_value(key: str) -> Any:
        stored = raw.get(cache.make_key(key))
        return None if stored is None else cache.client.decode(stored)

    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            raw.flushall()
            barrier.cross()

        # This process ------------------------------------------------------

        @rule(key=st.sampled_from(KEYS), value=VALUES)
        def own_set(self, key: str, value: Any) -> None:
            cache.set(key, value)
            assert cache.get(key) == value

        @rule(key=st.sampled_from(KEYS))
        def own_delete(self, key: str) -> None:
            cache.delete(key)
            assert cache.get(key) is None

        @rule(key=st.sampled_from(KEYS))
        def own_incr(self, key: str) -> None:
            current = server_value(key)
            if isinstance(current, int) and not isinstance(current, bool):
                assert cache.incr(key) == current + 1
                assert cache.get(key) == current + 1

        @rule(data=st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=3))
        def own_set_many(self, data: dict[str, Any]) -> None:
            cache.set_many(data)
            assert cache.get_many(list(data)) == data

        @rule(key=st.sampled_from(KEYS))
        def own_touch_zero(self, key: str) -> None:
            cache.touch(key, 0)
            assert cache.get(key) is None

        @rule()
        def own_clear(self) -> None:
            cache.clear()
            barrier.arm()  # the barrier key went too
            assert cache.get_many(KEYS) == {}

        # The outside writer ----------------------------------------------------

        @rule(key=st.sampled_from(KEYS), value=VALUES)
        def outside_set(self, key: str, value: Any) -> None:
            barrier.arm()  # cached now, so that its invalidation is the proof
            raw.set(cache.make_key(key), cache.client.encode(value))
            barrier.cross()

        @rule(key=st.sampled_from(KEYS))
        def outside_delete(self, key: str) -> None:
            barrier.arm()  # cached now, so that its invalidation is the proof
            raw.delete(cache.make_key(key))
            barrier.cross()

        @rule(key=st.sampled_from(KEYS))
        def outside_incr(self, key: str) -> None:
            if isinstance(server_value(key), int):
                barrier.arm()
                raw.incr(cache.make_key(key))
                barrier.cross()

        @rule(key=st.sampled_from(KEYS), value=VALUES)
        def outside_lua(self, key: str, value: Any) -> None:
            barrier.arm()  # cached now, so that its invalidation is the proof
            raw.eval(
                "redis.call('SET', KEYS[1], ARGV[1])",
                1,
                cache.make_key(key),
                cache.client.encode(value),
            )
            barrier.cross()

        @rule(key=st.sampled_from(KEYS))
        def outside_expiry(self, key: str) -> None:
            barrier.arm()  # cached now, so that its invalidation is the proof
            made = cache.make_key(key)
            if raw.pexpire(made, 20):
                # EXISTS deletes the key once its time is up (the deletion is
                # what Valkey reports); the local copy has the TTL anyway.
                wait_for(lambda: not raw.exists(made), "the key to expire")
            barrier.cross()

        @rule()
        def outside_flush(self) -> None:
            raw.flushdb()
            barrier.cross()

        # Reads that fill the near cache --------------------------------------

        @rule(key=st.sampled_from(KEYS))
        def read(self, key: str) -> None:
            assert cache.get(key) == server_value(key)

        @invariant()
        def near_equals_server(self) -> None:
            expected = {key: server_value(key) for key in KEYS}
            for key in KEYS:
                assert cache.get(key) == expected[key], key
                assert cache.has_key(key) is (expected[key] is not None)
            present = {k: v for k, v in expected.items() if v is not None}
            assert cache.get_many(KEYS) == present
            info = cache.near_cache_info()
            assert info["entries"] <= 4 and info["bytes"] <= 4096

    try:
        run_state_machine_as_test(
            Machine,
            settings=settings(
                max_examples=int(os.environ.get("NEAR_MODEL_EXAMPLES", "15")),
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=list(HealthCheck),
            ),
        )
        assert cache.near_cache_info()["hits"] > 0
    finally:
        raw.close()
