"""Near cache benchmark: hot ``get`` client CPU with and without the near
cache (same backend, same server, same run), and a page-like workload with an
outside writer measuring the staleness window.

    .venv/bin/python bench/nearbench.py [--quick] [--rounds N] [--ops N]

It starts its own ``valkey-server`` (``--save "" --appendonly no``) on a free
loopback port, pinned with ``taskset`` to one CPU, and pins itself (and the
outside writer process) to other CPUs when the machine has them.

Figures:

* ``hot get``: ``time.process_time()`` per ``cache.get`` of one small dict,
  median over rounds, for ``ValkeyCache`` without and with ``NEAR_CACHE``;
  the ratio is near/plain (the target is <= 0.15).
* ``page``: 50 ``get``s over 20 hot keys per page; after every 100 gets
  (1% of them) the outside writer process rewrites a random hot key.  The
  staleness of a rewrite is the time from the writer's ``SET`` returning to
  the first read in this process that sees the new value (CLOCK_MONOTONIC is
  system-wide, so both processes share it); p50/p99 over all rewrites.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HOT_KEYS = [f"hot{i}" for i in range(20)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(0, {cpu})


def start_server(binary: str, cpu: int) -> tuple[subprocess.Popen[bytes], int, str]:
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="nearbench-")
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    cmd += ["--dir", workdir]
    if shutil.which("taskset") and (os.cpu_count() or 1) > cpu:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > end:
            proc.kill()
            raise SystemExit("valkey-server did not start")
        time.sleep(0.02)
    return proc, port, workdir


def setup_django(port: int) -> None:
    from django.conf import settings

    location = f"valkey://127.0.0.1:{port}/0"
    near = {"MAX_ENTRIES": 10_000, "MAX_BYTES": 64 * 2**20, "MAX_VALUE_BYTES": 64 * 2**10}
    settings.configure(
        CACHES={
            "plain": {
                "BACKEND": "django_valkey.cache.ValkeyCache",
                "LOCATION": location,
                "KEY_PREFIX": "bench",
            },
            "near": {
                "BACKEND": "django_valkey.cache.ValkeyCache",
                "LOCATION": location,
                "KEY_PREFIX": "bench",
                "OPTIONS": {"NEAR_CACHE": near},
            },
        }
    )
    import django

    django.setup()


def wait_tracking(cache: Any) -> None:
    near = cache.client._near
    end = time.monotonic() + 10
    while not near.store.active:
        if time.monotonic() > end:
            raise SystemExit("the invalidation channel did not come up")
        time.sleep(0.005)


def hot_get(cache: Any, ops: int) -> float:
    get = cache.get
    start = time.process_time()
    for _ in range(ops):
        get("menu")
    return (time.process_time() - start) / ops


def writer(port: int, cpu: int, conn: Any) -> None:
    """The outside writer: on each request rewrites one key, replies when
    its SET has returned (a raw socket client: no Django, no near cache)."""
    pin(cpu)
    import valkey

    raw = valkey.Valkey(host="127.0.0.1", port=port)
    while True:
        request = conn.recv()
        if request is None:
            break
        made, payload = request
        raw.set(made, payload)
        conn.send(time.monotonic())
    raw.close()


def page_workload(cache: Any, pages: int, port: int, writer_cpu: int) -> dict[str, Any]:
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("fork").Process(
        target=writer, args=(port, writer_cpu, child), daemon=True
    )
    proc.start()
    for key in HOT_KEYS:
        cache.set(key, {"key": key, "seq": 0, "pad": "x" * 200})
    seen = dict.fromkeys(HOT_KEYS, 0)
    pending: dict[tuple[str, int], float | None] = {}  # (key, seq) -> first seen
    returned: dict[tuple[str, int], float] = {}
    rng = random.Random(7)
    seq = 0
    gets = 0
    cpu_start = time.process_time()
    for _ in range(pages):
        for _ in range(50):
            key = HOT_KEYS[rng.randrange(20)]
            value = cache.get(key)
            now = time.monotonic()
            gets += 1
            if value["seq"] > seen[key]:
                seen[key] = value["seq"]
                for (k, s), first in list(pending.items()):
                    if k == key and s <= value["seq"] and first is None:
                        pending[(k, s)] = now
            if gets % 100 == 0:
                seq += 1
                target = HOT_KEYS[rng.randrange(20)]
                payload = cache.client.encode({"key": target, "seq": seq, "pad": "x" * 200})
                pending[(target, seq)] = None
                parent.send((cache.make_key(target), payload))
            while parent.poll():
                returned[(next(k for k, v in pending.items() if k not in returned))] = parent.recv()
    cpu = time.process_time() - cpu_start
    # Drain: keep reading until every rewrite was seen.
    end = time.monotonic() + 10
    while any(first is None for first in pending.values()) and time.monotonic() < end:
        for key in HOT_KEYS:
            value = cache.get(key)
            now = time.monotonic()
            if value["seq"] > seen[key]:
                seen[key] = value["seq"]
            for (k, s), first in list(pending.items()):
                if k == key and s <= seen[key] and first is None:
                    pending[(k, s)] = now
        while parent.poll():
            returned[(next(k for k in pending if k not in returned))] = parent.recv()
    while len(returned) < len(pending):
        returned[(next(k for k in pending if k not in returned))] = parent.recv()
    parent.send(None)
    proc.join(5)
    windows = sorted(
        max(0.0, first - returned[k]) for k, first in pending.items() if first is not None
    )
    if not windows:
        return {"pages": pages, "cpu_per_page_us": cpu / pages * 1e6, "rewrites": 0}
    p = lambda q: windows[min(len(windows) - 1, int(q * len(windows)))]  # noqa: E731
    return {
        "pages": pages,
        "cpu_per_page_us": cpu / pages * 1e6,
        "rewrites": len(windows),
        "never_seen": sum(1 for first in pending.values() if first is None),
        "staleness_p50_ms": p(0.50) * 1e3,
        "staleness_p99_ms": p(0.99) * 1e3,
        "staleness_max_ms": windows[-1] * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--valkey-server", default=shutil.which("valkey-server") or "valkey-server")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--pages", type=int, default=4_000)
    parser.add_argument(
        "--quick", action="store_true", help="a smoke test (numbers not meaningful)"
    )
    parser.add_argument("--client-cpu", type=int, default=0)
    parser.add_argument("--server-cpu", type=int, default=1)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.ops, args.pages = 1, 2_000, 200
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc, port, workdir = start_server(args.valkey_server, args.server_cpu)
    try:
        pin(args.client_cpu)
        setup_django(port)
        from django.core.cache import caches

        from django_valkey import _speedups

        plain, near = caches["plain"], caches["near"]
        plain.set("menu", {"items": list(range(10)), "title": "menu"})
        wait_tracking(near)
        while near.near_cache_info()["entries"] == 0:  # the first fills race our own SET
            near.get("menu")
        plain_us, near_us = [], []
        for _ in range(args.rounds):
            plain_us.append(hot_get(plain, args.ops) * 1e6)
            near_us.append(hot_get(near, args.ops) * 1e6)
        p, n = statistics.median(plain_us), statistics.median(near_us)
        print(
            f"speedups: {_speedups.IMPLEMENTATION}; server pinned to CPU {args.server_cpu}, "
            f"client to CPU {args.client_cpu}; {args.rounds} rounds x {args.ops} gets"
        )
        print(
            f"hot get   plain {p:7.2f} us/op   near {n:6.2f} us/op   ratio {n / p:.3f}"
            f"  (target <= 0.15)"
        )
        for name, cache in (("plain", plain), ("near", near)):
            result = page_workload(cache, args.pages, port, args.server_cpu)
            print(
                f"page      {name:5s} "
                + "  ".join(
                    f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in result.items()
                )
            )
        info = near.near_cache_info()
        print(
            "near cache info: "
            + ", ".join(
                f"{k}={info[k]}" for k in ("entries", "bytes", "hits", "misses", "invalidations")
            )
        )
    finally:
        from django_valkey import near as near_module

        near_module.shutdown_all()
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
