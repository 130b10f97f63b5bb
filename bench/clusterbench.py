#!/usr/bin/env python3
"""Cluster backends: this package's ``ClusterValkeyCache`` against django-valkey 0.4.1's.

Starts a throwaway Valkey Cluster (three primaries on free 127.0.0.1 ports,
joined with ``valkey-cli --cluster create``), then one worker process per
contender, each with its own interpreter (both packages import as
``django_valkey``).  Each worker stores 100 keys spread over many hash slots
and times ``get_many`` of those 100 keys: client CPU per op
(``time.process_time()``, the worker's own user + system time).  Rounds
alternate the contenders; the result is the median over rounds of
ours / reference.  Only the standard library is needed here.

    python bench/clusterbench.py
    python bench/clusterbench.py --python ref=/opt/ref/bin/python --rounds 7 --ops 2000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
PROJECT_ROOT = os.path.dirname(BENCH_DIR)

BACKENDS = {
    "ours": "django_valkey.cluster_cache.cache.ClusterValkeyCache",
    "ref": "django_valkey.cluster_cache.cache.ClusterValkeyCache",
}

WORKER = r"""
import json, sys, time
side, location, root = sys.argv[1], sys.argv[2], sys.argv[3]
# ``python -c`` puts the working directory first on sys.path: the reference
# worker must not import the source tree from there.
sys.path[:] = [p for p in sys.path if p not in ("", root)]
if side == "ours":
    sys.path.insert(0, root)
import django
from django.conf import settings
settings.configure(CACHES={"default": {
    "BACKEND": "django_valkey.cluster_cache.cache.ClusterValkeyCache",
    "LOCATION": location, "KEY_PREFIX": side,
}})
django.setup()
from django.core.cache import cache
keys = [f"key:{i}" for i in range(100)]
for k in keys:
    cache.set(k, f"value {k}", timeout=None)
assert cache.get_many(keys) == {k: f"value {k}" for k in keys}, "wrong get_many result"
slots = len({cache.client.get_client().keyslot(cache.make_key(k)) for k in keys})
import django_valkey
print(json.dumps({"slots": slots, "package": django_valkey.__file__}), flush=True)
for line in sys.stdin:
    n = int(line)
    cpu = time.process_time()
    for _ in range(n):
        cache.get_many(keys)
    print(json.dumps({"cpu": time.process_time() - cpu}), flush=True)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def cli(port: int, *args: str) -> str:
    out = subprocess.run(
        ["valkey-cli", "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout


def start_cluster(workdir: str, primaries: int = 3) -> tuple[list[subprocess.Popen], int]:
    procs, ports = [], []
    for i in range(primaries):
        port, bus = free_port(), free_port()
        node_dir = os.path.join(workdir, f"node{i}")
        os.makedirs(node_dir)
        procs.append(
            subprocess.Popen(
                [
                    "valkey-server",
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    str(bus),
                    "--cluster-config-file",
                    "nodes.conf",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    node_dir,
                    "--logfile",
                    os.path.join(node_dir, "log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        ports.append(port)
    for port in ports:
        wait_for(lambda p=port: "PONG" in cli(p, "PING"), 10, f"node {port}")
    subprocess.run(
        [
            "valkey-cli",
            "--cluster",
            "create",
            *[f"127.0.0.1:{p}" for p in ports],
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ],
        capture_output=True,
        check=True,
    )
    for port in ports:
        wait_for(lambda p=port: "cluster_state:ok" in cli(p, "CLUSTER", "INFO"), 20, "the cluster")
    return procs, ports[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", action="append", default=[], metavar="SIDE=PATH")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--ops", type=int, default=1000, help="get_many calls per round")
    args = parser.parse_args()
    pythons = {
        "ours": sys.executable,
        "ref": os.environ.get("DJANGO_VALKEY_REF_PYTHON", "/opt/ref/bin/python"),
    }
    for item in args.python:
        side, _, path = item.partition("=")
        pythons[side] = path
    if shutil.which("valkey-server") is None or shutil.which("valkey-cli") is None:
        raise SystemExit("valkey-server and valkey-cli must be on PATH")

    workdir = tempfile.mkdtemp(prefix="clusterbench-")
    procs, port = start_cluster(workdir)
    workers = {}
    try:
        location = f"valkey://127.0.0.1:{port}"
        for side, python in pythons.items():
            worker = subprocess.Popen(
                [python, "-c", WORKER, side, location, PROJECT_ROOT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=workdir,
            )
            hello = json.loads(worker.stdout.readline())  # type: ignore[union-attr]
            print(f"{side}: {python}, {hello['package']} ({hello['slots']} slots for 100 keys)")
            workers[side] = worker

        def run(side: str, n: int) -> float:
            worker = workers[side]
            worker.stdin.write(f"{n}\n")  # type: ignore[union-attr]
            worker.stdin.flush()  # type: ignore[union-attr]
            return float(json.loads(worker.stdout.readline())["cpu"]) / n  # type: ignore[union-attr]

        for side in workers:
            run(side, max(args.ops // 10, 1))  # warm up
        per_op: dict[str, list[float]] = {side: [] for side in workers}
        ratios = []
        order = list(workers)
        for round_ in range(args.rounds):
            for side in order[round_ % len(order) :] + order[: round_ % len(order)]:
                per_op[side].append(run(side, args.ops))
            if "ref" in workers and "ours" in workers:
                ratios.append(per_op["ours"][-1] / per_op["ref"][-1])
        print("\nget_many of 100 keys, client CPU per op (median of rounds):")
        for side, values in per_op.items():
            print(f"  {side:5} {statistics.median(values) * 1e6:9.1f} µs")
        if ratios:
            print(f"  ours / ref = {statistics.median(ratios):.3f} (target <= 0.3)")
    finally:
        for worker in workers.values():
            worker.kill()
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
