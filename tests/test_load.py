"""Sustained concurrent load with every read verified, bounded and leak-free.

8 threads, then 200 coroutines on one loop (``AsyncValkeyCache`` and
``ValkeyCache.a*``), hammer one cache for about two seconds.  Each worker owns
its keys and checks it reads back exactly what it last wrote (no lost or stale
write, no reply meant for another caller); all of them ``incr`` one shared
counter, whose final value must be the exact sum.  The sync test runs on a
blocking pool of 4 and watches ``CLIENT LIST`` for the connections carrying
this cache's client name; after ``close()`` with ``CLOSE_CONNECTION`` the
server-side connections and this process's file descriptors return to their
baselines.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.utils.module_loading import import_string

from tests.servers import ValkeyServer

pytestmark = pytest.mark.server

DURATION = 2.0
THREADS = 8
COROUTINES = 200
MAX_CONNECTIONS = 4
FD_SLACK = 3
COUNTER = "load:counter"


def _fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def _named_clients(server: ValkeyServer, name: str) -> int:
    with server.client() as conn:
        return sum(1 for entry in conn.client_list() if entry.get("name") == name)


def _wait_for_clients(server: ValkeyServer, name: str, expected: int, timeout: float = 5.0) -> int:
    # The server notices a closed socket on its next event-loop turn.
    deadline = time.monotonic() + timeout
    while True:
        count = _named_clients(server, name)
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.02)


class Ledger:
    """What one worker wrote last, per key it owns, and its verified reads."""

    def __init__(self, worker: int, keys: int = 6) -> None:
        self.worker = worker
        self.keys = [f"load:w{worker}:k{i}" for i in range(keys)]
        self.expected: dict[str, Any] = {}
        self.seq = 0
        self.incrs = 0
        self.ops = 0
        self.rng = random.Random(worker)

    def next_value(self) -> Any:
        self.seq += 1
        # Mixed shapes: pickled tuples, raw ints, strings, a larger blob.
        kind = self.seq % 4
        if kind == 0:
            return (self.worker, self.seq, "x" * self.rng.randrange(0, 64))
        if kind == 1:
            return self.worker * 1_000_000 + self.seq
        if kind == 2:
            return f"w{self.worker}-s{self.seq}"
        return {"w": self.worker, "s": self.seq, "blob": b"\x00\xff" * 600}

    def check(self, key: str, got: Any) -> None:
        want = self.expected.get(key)
        assert got == want, f"worker {self.worker} {key}: read {got!r}, last wrote {want!r}"


def _sync_step(cache: Any, ledger: Ledger) -> None:
    rng = ledger.rng
    key = rng.choice(ledger.keys)
    roll = rng.random()
    if roll < 0.35:
        value = ledger.next_value()
        assert cache.set(key, value, timeout=60) is not False
        ledger.expected[key] = value
        ledger.check(key, cache.get(key))
    elif roll < 0.55:
        ledger.check(key, cache.get(key))
    elif roll < 0.70:
        values = {k: ledger.next_value() for k in rng.sample(ledger.keys, 3)}
        cache.set_many(values, timeout=60)
        ledger.expected.update(values)
        got = cache.get_many(ledger.keys)
        for k in ledger.keys:
            ledger.check(k, got.get(k))
    elif roll < 0.80:
        cache.delete(key)
        ledger.expected.pop(key, None)
        ledger.check(key, cache.get(key))
    else:
        cache.incr(COUNTER)
        ledger.incrs += 1
    ledger.ops += 1


async def _async_step(cache: Any, ledger: Ledger) -> None:
    rng = ledger.rng
    key = rng.choice(ledger.keys)
    roll = rng.random()
    if roll < 0.35:
        value = ledger.next_value()
        await cache.aset(key, value, timeout=60)
        ledger.expected[key] = value
        ledger.check(key, await cache.aget(key))
    elif roll < 0.55:
        ledger.check(key, await cache.aget(key))
    elif roll < 0.70:
        values = {k: ledger.next_value() for k in rng.sample(ledger.keys, 3)}
        await cache.aset_many(values, timeout=60)
        ledger.expected.update(values)
        got = await cache.aget_many(ledger.keys)
        for k in ledger.keys:
            ledger.check(k, got.get(k))
    elif roll < 0.80:
        await cache.adelete(key)
        ledger.expected.pop(key, None)
        ledger.check(key, await cache.aget(key))
    else:
        await cache.aincr(COUNTER)
        ledger.incrs += 1
    ledger.ops += 1


def _final_check(read: Callable[[str], Any], ledgers: list[Ledger]) -> None:
    """Every key holds the last value its owner wrote (nothing lost at the end)."""
    for ledger in ledgers:
        for key in ledger.keys:
            ledger.check(key, read(key))


def _run_threads(
    cache: Any, server: ValkeyServer, name: str, duration: float
) -> tuple[list[Ledger], list[int]]:
    """THREADS workers on ``cache`` for ``duration`` s; (ledgers, connections seen)."""
    cache.set(COUNTER, 0, timeout=None)
    ledgers = [Ledger(worker) for worker in range(THREADS)]
    errors: list[BaseException] = []
    seen: list[int] = []
    stop = threading.Event()
    deadline = time.monotonic() + duration

    def work(ledger: Ledger) -> None:
        try:
            while time.monotonic() < deadline:
                _sync_step(cache, ledger)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def watch() -> None:
        with server.client() as conn:
            while not stop.is_set():
                entries = conn.client_list()
                seen.append(sum(1 for entry in entries if entry.get("name") == name))
                time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    workers = [threading.Thread(target=work, args=(ledger,)) for ledger in ledgers]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(duration + 30)
    stop.set()
    watcher.join(5)
    assert not any(thread.is_alive() for thread in workers), "a worker hung"
    if errors:
        raise errors[0]
    # Every worker got through (a blocking pool need not be fair, so no
    # per-worker minimum beyond one whole step), and the total is real load.
    assert all(ledger.ops >= 1 for ledger in ledgers), [ledger.ops for ledger in ledgers]
    assert sum(ledger.ops for ledger in ledgers) > 200
    assert cache.get(COUNTER) == sum(ledger.incrs for ledger in ledgers)
    _final_check(cache.get, ledgers)
    return ledgers, seen


def _blocking_options(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "CONNECTION_POOL_CLASS": "valkey.BlockingConnectionPool",
        "CONNECTION_POOL_KWARGS": {
            "max_connections": MAX_CONNECTIONS,
            "timeout": 5,
            # Names this cache's connections in CLIENT LIST (and gives the
            # test a pool of its own: the pool key includes these kwargs).
            "client_name": name,
        },
        **extra,
    }


def test_threads_verified_and_bounded(valkey_server, speedups):
    name = f"load-{uuid.uuid4().hex[:8]}"
    valkey_server.flushall()
    fds_before = _fd_count()
    # Built by hand: this test checks the pool itself, then disconnects it.
    cache = import_string("django_valkey.cache.ValkeyCache")(
        f"{valkey_server.url}/0", {"OPTIONS": _blocking_options(name)}
    )
    pool = cache.client.get_client().connection_pool
    try:
        _ledgers, seen = _run_threads(cache, valkey_server, name, DURATION)
        assert len(pool._connections) <= MAX_CONNECTIONS
        assert seen and 1 <= max(seen) <= MAX_CONNECTIONS, f"connections seen: {max(seen)}"
    finally:
        pool.disconnect()
    assert _wait_for_clients(valkey_server, name, 0) == 0
    assert _fd_count() <= fds_before + FD_SLACK, (fds_before, _fd_count())


def test_threads_close_releases_everything(valkey_server, make_cache, speedups):
    """``close()`` with ``CLOSE_CONNECTION`` after load: no socket left anywhere."""
    name = f"close-{uuid.uuid4().hex[:8]}"
    valkey_server.flushall()
    fds_before = _fd_count()
    cache = make_cache(
        OPTIONS={"CONNECTION_POOL_KWARGS": {"client_name": name}, "CLOSE_CONNECTION": True}
    )
    _ledgers, seen = _run_threads(cache, valkey_server, name, DURATION / 2)
    # A plain pool opens at most one connection per thread.
    assert seen and max(seen) <= THREADS
    cache.close()
    assert _wait_for_clients(valkey_server, name, 0) == 0
    assert _fd_count() <= fds_before + FD_SLACK, (fds_before, _fd_count())


def test_close_closes_a_blocking_pool(valkey_server):
    name = f"bclose-{uuid.uuid4().hex[:8]}"
    cache = import_string("django_valkey.cache.ValkeyCache")(
        f"{valkey_server.url}/0", {"OPTIONS": _blocking_options(name, CLOSE_CONNECTION=True)}
    )
    pool = cache.client.get_client().connection_pool
    try:
        cache.set("k", 1)
        cache.close()
        assert _wait_for_clients(valkey_server, name, 0) == 0
    finally:
        pool.disconnect()


BACKENDS = {
    "AsyncValkeyCache": "django_valkey.async_cache.cache.AsyncValkeyCache",
    "ValkeyCache": "django_valkey.cache.ValkeyCache",
}


@pytest.mark.asyncio
@pytest.mark.parametrize("backend", sorted(BACKENDS))
async def test_coroutines_verified_and_leak_free(backend, valkey_server, make_cache, speedups):
    name = f"aload-{uuid.uuid4().hex[:8]}"
    valkey_server.flushall()
    fds_before = _fd_count()
    clients_before = _named_clients(valkey_server, name)
    cache = make_cache(
        backend=BACKENDS[backend],
        OPTIONS={"CONNECTION_POOL_KWARGS": {"client_name": name}, "CLOSE_CONNECTION": True},
    )
    await cache.aset(COUNTER, 0, timeout=None)
    ledgers = [Ledger(worker) for worker in range(COROUTINES)]
    deadline = time.monotonic() + DURATION

    async def work(ledger: Ledger) -> None:
        while time.monotonic() < deadline:
            await _async_step(cache, ledger)

    await asyncio.wait_for(asyncio.gather(*(work(ledger) for ledger in ledgers)), DURATION + 60)

    assert all(ledger.ops > 0 for ledger in ledgers)
    assert await cache.aget(COUNTER) == sum(ledger.incrs for ledger in ledgers)
    for ledger in ledgers:
        for key in ledger.keys:
            ledger.check(key, await cache.aget(key))
    connected = _named_clients(valkey_server, name)
    # A plain pool grows with demand, one connection per waiting coroutine at most.
    assert 1 <= connected <= COROUTINES

    await cache.aclose()
    assert _wait_for_clients(valkey_server, name, clients_before) == clients_before
    assert _fd_count() <= fds_before + FD_SLACK, (fds_before, _fd_count())
