"""Soak test: a long verified mixed workload on one cache, threads and coroutines.

Runs the workload of ``tests/test_load.py`` for minutes: ``--threads`` sync
workers on a ``ValkeyCache`` and ``--coroutines`` workers on an
``AsyncValkeyCache`` (one event loop in a thread of its own), all at once.
Each worker owns its keys and checks that every read returns exactly what it
last wrote; all of them ``INCR`` one shared counter, checked at the end.

Prints ops/s, errors, the most connections seen in ``CLIENT LIST`` for this
run's client name, and this process's file descriptors at start and end.
Exits 1 on any lost or stale write, a counter mismatch, or a leaked
connection; 0 otherwise.

    python bench/soak.py --seconds 300 --threads 16 --coroutines 500
    python bench/soak.py --location valkey://127.0.0.1:6379/0

Without ``--location`` a throwaway ``valkey-server`` (found on PATH) is started
on a free loopback port and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import django  # noqa: E402
from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(USE_TZ=True)
django.setup()

import valkey  # noqa: E402
from django.utils.module_loading import import_string  # noqa: E402

COUNTER = "soak:counter"


class StaleRead(AssertionError):
    """A read did not return what its owner last wrote."""


class Ledger:
    def __init__(self, owner: str, keys: int = 6) -> None:
        self.owner = owner
        self.keys = [f"soak:{owner}:k{i}" for i in range(keys)]
        self.expected: dict[str, Any] = {}
        self.seq = 0
        self.incrs = 0
        self.ops = 0
        self.errors = 0
        self.rng = random.Random(owner)

    def next_value(self) -> Any:
        self.seq += 1
        kind = self.seq % 4
        if kind == 0:
            return (self.owner, self.seq, "x" * self.rng.randrange(0, 64))
        if kind == 1:
            return self.seq
        if kind == 2:
            return f"{self.owner}-s{self.seq}"
        return {"o": self.owner, "s": self.seq, "blob": b"\x00\xff" * 600}

    def check(self, key: str, got: Any) -> None:
        want = self.expected.get(key)
        if got != want:
            raise StaleRead(f"{self.owner} {key}: read {got!r}, last wrote {want!r}")


def sync_step(cache: Any, ledger: Ledger) -> None:
    rng = ledger.rng
    key = rng.choice(ledger.keys)
    roll = rng.random()
    if roll < 0.35:
        value = ledger.next_value()
        cache.set(key, value, timeout=3600)
        ledger.expected[key] = value
        ledger.check(key, cache.get(key))
    elif roll < 0.55:
        ledger.check(key, cache.get(key))
    elif roll < 0.70:
        values = {k: ledger.next_value() for k in rng.sample(ledger.keys, 3)}
        cache.set_many(values, timeout=3600)
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


async def async_step(cache: Any, ledger: Ledger) -> None:
    rng = ledger.rng
    key = rng.choice(ledger.keys)
    roll = rng.random()
    if roll < 0.35:
        value = ledger.next_value()
        await cache.aset(key, value, timeout=3600)
        ledger.expected[key] = value
        ledger.check(key, await cache.aget(key))
    elif roll < 0.55:
        ledger.check(key, await cache.aget(key))
    elif roll < 0.70:
        values = {k: ledger.next_value() for k in rng.sample(ledger.keys, 3)}
        await cache.aset_many(values, timeout=3600)
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


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server() -> tuple[subprocess.Popen[bytes], str, str]:
    binary = shutil.which("valkey-server")
    if binary is None:
        sys.exit("valkey-server is not on PATH: install it or pass --location")
    workdir = tempfile.mkdtemp(prefix="soak-valkey-")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", workdir, "--logfile", "soak.log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            with valkey.Valkey(host="127.0.0.1", port=port, socket_timeout=0.5) as conn:
                conn.ping()
            break
        except valkey.exceptions.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                sys.exit("the throwaway valkey-server did not start")
            time.sleep(0.02)
    return process, f"valkey://127.0.0.1:{port}/0", workdir


def named_clients(conn: valkey.Valkey, name: str) -> int:
    return sum(1 for entry in conn.client_list() if entry.get("name") == name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--coroutines", type=int, default=200)
    parser.add_argument("--location", default=None, help="default: a throwaway valkey-server")
    parser.add_argument("--max-connections", type=int, default=8, help="sync pool size")
    args = parser.parse_args(argv)

    process = None
    workdir = None
    location = args.location
    if location is None:
        process, location, workdir = start_server()
    name = f"soak-{uuid.uuid4().hex[:8]}"
    admin = valkey.Valkey.from_url(location)
    try:
        return run(args, location, name, admin)
    finally:
        admin.close()
        if process is not None:
            process.terminate()
            process.wait(10)
            shutil.rmtree(workdir or "", ignore_errors=True)


def run(args: argparse.Namespace, location: str, name: str, admin: valkey.Valkey) -> int:
    admin.ping()  # its connection is open before the count
    fds_start = fd_count()
    sync_cache = import_string("django_valkey.cache.ValkeyCache")(
        location,
        {
            "KEY_PREFIX": name,
            "OPTIONS": {
                "CONNECTION_POOL_CLASS": "valkey.BlockingConnectionPool",
                "CONNECTION_POOL_KWARGS": {
                    "max_connections": args.max_connections,
                    "timeout": 30,
                    "client_name": name,
                },
            },
        },
    )
    async_cache = import_string("django_valkey.async_cache.cache.AsyncValkeyCache")(
        location,
        {
            "KEY_PREFIX": name,
            "OPTIONS": {"CONNECTION_POOL_KWARGS": {"client_name": name + "-async"}},
        },
    )
    sync_cache.set(COUNTER, 0, timeout=None)
    deadline = time.monotonic() + args.seconds
    thread_ledgers = [Ledger(f"t{i}") for i in range(args.threads)]
    coro_ledgers = [Ledger(f"c{i}") for i in range(args.coroutines)]
    failures: list[str] = []
    stop = threading.Event()
    seen = {"sync": 0, "async": 0}

    def thread_worker(ledger: Ledger) -> None:
        while time.monotonic() < deadline:
            try:
                sync_step(sync_cache, ledger)
            except StaleRead as exc:
                failures.append(str(exc))
                return
            except Exception as exc:  # counted; the run goes on
                ledger.errors += 1
                if ledger.errors <= 3:
                    print(f"error in {ledger.owner}: {exc!r}", file=sys.stderr)

    async def coro_worker(ledger: Ledger) -> None:
        while time.monotonic() < deadline:
            try:
                await async_step(async_cache, ledger)
            except StaleRead as exc:
                failures.append(str(exc))
                return
            except Exception as exc:
                ledger.errors += 1
                if ledger.errors <= 3:
                    print(f"error in {ledger.owner}: {exc!r}", file=sys.stderr)

    async def coroutines() -> None:
        await asyncio.gather(*(coro_worker(ledger) for ledger in coro_ledgers))
        await async_cache.aclose()

    def watch() -> None:
        while not stop.wait(0.1):
            entries = admin.client_list()
            seen["sync"] = max(seen["sync"], sum(1 for e in entries if e.get("name") == name))
            seen["async"] = max(
                seen["async"], sum(1 for e in entries if e.get("name") == name + "-async")
            )

    started = time.monotonic()
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    loop_thread = threading.Thread(target=asyncio.run, args=(coroutines(),))
    threads = [threading.Thread(target=thread_worker, args=(ledger,)) for ledger in thread_ledgers]
    loop_thread.start()
    for thread in threads:
        thread.start()
    last = started
    while any(thread.is_alive() for thread in [*threads, loop_thread]):
        time.sleep(0.2)
        now = time.monotonic()
        if now - last >= 10:
            ops = sum(ledger.ops for ledger in thread_ledgers + coro_ledgers)
            print(f"[{now - started:6.0f} s] {ops / (now - started):10.0f} ops/s", flush=True)
            last = now
    elapsed = time.monotonic() - started
    stop.set()
    watcher.join(5)

    ledgers = thread_ledgers + coro_ledgers
    total_incrs = sum(ledger.incrs for ledger in ledgers)
    counter = sync_cache.get(COUNTER)
    errors = sum(ledger.errors for ledger in ledgers)
    if errors == 0 and counter != total_incrs:
        failures.append(f"counter is {counter}, {total_incrs} increments were made")
    elif counter is None or counter > total_incrs:
        # After errors an INCR may have landed without its reply: only more is wrong.
        failures.append(f"counter is {counter}, at most {total_incrs} increments were made")
    for ledger in ledgers:
        if ledger.errors:
            continue  # a failed write may or may not have landed
        for key in ledger.keys:
            try:
                ledger.check(key, sync_cache.get(key))
            except StaleRead as exc:
                failures.append(f"final check: {exc}")

    sync_cache.client.get_client().connection_pool.disconnect()
    leftover = 0
    for _ in range(100):
        leftover = named_clients(admin, name) + named_clients(admin, name + "-async")
        if leftover == 0:
            break
        time.sleep(0.05)
    if leftover:
        failures.append(f"{leftover} connections still open on the server after closing")
    fds_end = fd_count()

    ops = sum(ledger.ops for ledger in ledgers)
    print(f"seconds:            {elapsed:.1f}")
    print(f"workers:            {args.threads} threads, {args.coroutines} coroutines")
    print(f"operations:         {ops} ({ops / elapsed:.0f} ops/s)")
    print(f"errors:             {errors}")
    print(f"max connections:    sync {seen['sync']} (pool {args.max_connections}), "
          f"async {seen['async']}")  # fmt: skip
    print(f"file descriptors:   {fds_start} at start, {fds_end} at end")
    print(f"lost/stale writes:  {len(failures)}")
    for failure in failures[:20]:
        print(f"  {failure}")
    if seen["sync"] > args.max_connections:
        print("FAIL: more sync connections than the pool allows")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
