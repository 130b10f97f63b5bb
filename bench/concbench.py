#!/usr/bin/env python3
"""Many coroutines on one event loop: ops/s, client CPU per op, server connections.

N coroutines (1, 16, 200, 1000 by default) share a fixed number of
operations on one asyncio loop, for three workloads: ``get`` (100-byte
values, 1000 keys), ``set``, and ``mix`` (90 % get, 10 % set).  Contenders:

* ``ref-async``: django-valkey 0.4.1's ``AsyncValkeyCache`` with libvalkey
  (a separate virtualenv: both packages import as ``django_valkey``);
* ``raw``: valkey-py's asyncio ``Valkey`` on its default pool (bytes in and
  out, no cache layer);
* ``ours-async``: this project's ``AsyncValkeyCache``;
* ``ours-aget``: this project's ``ValkeyCache`` through its ``a*`` methods;
* ``ours-async-nopipe``: ``AsyncValkeyCache`` with ``PIPELINING = False``.

Every contender runs in its own worker process (this file with
``--worker``), pinned to one CPU; the ``valkey-server`` is pinned to another.
While a cell runs the coordinator samples the server's ``CLIENT LIST``
every 100 ms and counts the clients whose address is one of that worker's
sockets (from ``/proc``) and whose ``tot-cmds`` grew during the cell: the
server connections it used.  Rounds are
interleaved (contender order rotated every round); the median over rounds
is reported.  Examples::

    python bench/concbench.py --python ref=/tmp/ref/bin/python
    python bench/concbench.py --python ref=/tmp/ref/bin/python --quick
    python bench/concbench.py --setup-ref /tmp/ref
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
PROJECT_ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, BENCH_DIR)

OUR_ASYNC = "django_valkey.async_cache.cache.AsyncValkeyCache"
CONTENDERS = {
    "ref-async": {
        "side": "ref",
        "backend": "django_valkey.async_cache.cache.AsyncValkeyCache",
        "options": {"PARSER_CLS": "valkey._parsers._AsyncLibvalkeyParser"},
    },
    "raw": {"side": "ours", "backend": None, "options": {}},
    "ours-async": {"side": "ours", "backend": OUR_ASYNC, "options": {}},
    "ours-aget": {"side": "ours", "backend": "django_valkey.cache.ValkeyCache", "options": {}},
    "ours-async-nopipe": {"side": "ours", "backend": OUR_ASYNC, "options": {"PIPELINING": False}},
}
DEFAULT_CONTENDERS = "ref-async,raw,ours-async,ours-aget,ours-async-nopipe"
WORKLOADS = ("get", "set", "mix")
KEYS = 1000
VALUE = "v" * 100


# ------------------------------------------------------------------ worker
def _worker_setup(cfg):
    if cfg["side"] == "ours":
        sys.path.insert(0, PROJECT_ROOT)
    else:  # never this project's tree
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != PROJECT_ROOT]
    if cfg["backend"] is None:
        import valkey.asyncio

        client = valkey.asyncio.Valkey.from_url(cfg["location"])

        class Raw:
            async def aget(self, key):
                return await client.get(key)

            async def aset(self, key, value):
                return await client.set(key, value)

        return Raw()
    import django
    from django.conf import settings

    entry = {"BACKEND": cfg["backend"], "LOCATION": cfg["location"], "OPTIONS": cfg["options"]}
    settings.configure(CACHES={"default": entry}, USE_TZ=True)
    django.setup()
    from django.core.cache import caches

    return caches["default"]


async def _run(cache, workload, coroutines, total):
    done = 0
    value = VALUE if hasattr(cache, "make_key") else VALUE.encode()

    async def one(worker):
        nonlocal done
        i = worker
        while done < total:
            done += 1
            key = f"k:{i % KEYS}"
            i += 7
            if workload == "set" or (workload == "mix" and i % 10 == 0):
                await cache.aset(key, value)
            else:
                got = await cache.aget(key)
                if got != value:
                    raise RuntimeError(f"wrong value for {key}: {got!r}")

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(w) for w in range(coroutines)))
    return time.process_time() - cpu, time.perf_counter() - wall, done


def worker_main():
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    loop = asyncio.new_event_loop()
    cache = None
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            if msg["cmd"] == "hello":
                cache = _worker_setup(msg)
                for k in range(KEYS):
                    value = VALUE if hasattr(cache, "make_key") else VALUE.encode()
                    loop.run_until_complete(cache.aset(f"k:{k}", value))
                out = {"ok": True}
            elif msg["cmd"] == "run":
                n, total = msg["n"], msg["total"]
                loop.run_until_complete(_run(cache, msg["workload"], n, max(n, total // 10)))
                cpu, wall, done = loop.run_until_complete(_run(cache, msg["workload"], n, total))
                out = {"cpu": cpu, "wall": wall, "ops": done}
            else:
                return
        except Exception as exc:  # reported to the coordinator
            out = {"error": f"{type(exc).__name__}: {exc}"}
        proto.write(json.dumps(out) + "\n")


# -------------------------------------------------------------- coordinator
class Worker:
    def __init__(self, name, python, location, pin_cpu):
        spec = CONTENDERS[name]
        cmd = [python, os.path.abspath(__file__), "--worker"]
        if pin_cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(pin_cpu), *cmd]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        self.name = name
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env
        )
        self.call({"cmd": "hello", "location": location, **spec})

    def call(self, msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.name} exited")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self.name}: {reply['error']}")
        return reply

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.write('{"cmd": "quit"}\n')
            self.proc.stdin.close()
            self.proc.wait(10)


def _client_ports(pid, server_port):
    """Local ports of ``pid``'s TCP sockets connected to ``server_port``."""
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == server_port:
                    ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


class ConnectionSampler:
    """How many server connections one worker used while active: clients in
    the server's ``CLIENT LIST`` whose address is one of the worker's
    sockets and whose ``tot-cmds`` grew, sampled every 100 ms (idle
    connections the worker's pool kept from an earlier cell do not count)."""

    def __init__(self, port):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.pid = None
        self.before = {}
        self.last = {}
        self.stop = threading.Event()

    def _client_list(self):
        self.sock.sendall(b"CLIENT LIST\r\n")
        data = b""
        while b"\r\n" not in data or len(data) < int(data[1 : data.index(b"\r\n")]) + 5:
            data += self.sock.recv(65536)
        return data.decode().splitlines()[1:]

    def _commands(self):
        """{client address: commands it ran} for the worker's connections."""
        ports = _client_ports(self.pid, self.port)
        out = {}
        for line in self._client_list():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            addr = fields.get("addr", "")
            if addr and int(addr.rsplit(":", 1)[1]) in ports:
                out[addr] = int(fields.get("tot-cmds", 0))
        return out

    def _sample(self):
        self.last.update(self._commands())

    def watch(self, pid):
        self.pid = pid
        return self

    @property
    def used(self):
        return sum(1 for a, n in self.last.items() if n > self.before.get(a, 0))

    def __enter__(self):
        self.before = self._commands()
        self.last = {}
        self.stop.clear()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def _loop(self):
        while not self.stop.wait(0.1):
            self._sample()

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self._sample()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--python", action="append", default=[], help="NAME=PATH (e.g. ref=...)")
    ap.add_argument("--setup-ref", metavar="DIR", help="create the reference venv in DIR")
    ap.add_argument("--contenders", default=DEFAULT_CONTENDERS)
    ap.add_argument("--coroutines", default="1,16,200,1000")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--ops", type=int, default=20000, help="operations per cell")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--client-cpu", type=int, default=0)
    ap.add_argument("--server-cpu", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="1 round, 5000 ops per cell")
    ap.add_argument("--json", metavar="FILE", help="also write the raw results here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker_main()
    if args.quick:
        args.rounds, args.ops = 1, 5000
    from cachebench import setup_ref, start_server

    pythons = dict(p.split("=", 1) for p in args.python)
    if args.setup_ref:
        pythons["ref"] = setup_ref(args.setup_ref)
    ours = os.path.join(PROJECT_ROOT, ".venv", "bin", "python")
    ours = ours if os.path.exists(ours) else sys.executable
    names = args.contenders.split(",")
    counts = [int(n) for n in args.coroutines.split(",")]
    workloads = args.workloads.split(",")
    binary = shutil.which("valkey-server") or "valkey-server"
    with tempfile.TemporaryDirectory() as workdir:
        server, port = start_server(binary, args.server_cpu, workdir)
        workers = {}
        try:
            location = f"valkey://127.0.0.1:{port}/0"
            for name in names:
                side = CONTENDERS[name]["side"]
                python = pythons.get("ref") if side == "ref" else pythons.get("ours", ours)
                if python is None:
                    print(f"skipping {name}: pass --python ref=PATH", file=sys.stderr)
                    continue
                workers[name] = Worker(name, python, location, args.client_cpu)
            sampler = ConnectionSampler(port)
            cells = {}
            for rnd in range(args.rounds):
                order = list(workers)
                order = order[rnd % len(order) :] + order[: rnd % len(order)]
                for n in counts:
                    for w in workloads:
                        for name in order:
                            total = args.ops if n > 1 else max(args.ops // 4, 1000)
                            with sampler.watch(workers[name].proc.pid):
                                r = workers[name].call(
                                    {"cmd": "run", "workload": w, "n": n, "total": total}
                                )
                            r["conns"] = sampler.used
                            cells.setdefault((w, n, name), []).append(r)
                            print(".", end="", file=sys.stderr, flush=True)
            print(file=sys.stderr)
        finally:
            for worker in workers.values():
                worker.close()
            server.kill()
            server.wait()
    report(cells, list(workers), counts, workloads, args)


def report(cells, names, counts, workloads, args):
    print(f"# concbench: {args.ops} ops per cell, {args.rounds} rounds (median), ", end="")
    print(f"client on CPU {args.client_cpu}, valkey-server on CPU {args.server_cpu}")
    header = f"{'workload':<8} {'N':>5} {'contender':<18} {'ops/s':>9} {'CPU us/op':>10}"
    print(header + f" {'server conns':>12} {'x ref':>6}")
    raw = []
    for w in workloads:
        for n in counts:
            ref = None
            rows = []
            for name in names:
                runs = cells.get((w, n, name))
                if not runs:
                    continue
                ops = statistics.median(r["ops"] / r["wall"] for r in runs)
                cpu = statistics.median(r["cpu"] / r["ops"] * 1e6 for r in runs)
                conns = max(r["conns"] for r in runs)
                if name == "ref-async":
                    ref = ops
                rows.append((name, ops, cpu, conns))
                raw.append({"workload": w, "n": n, "contender": name, "ops_s": ops,
                            "cpu_us": cpu, "conns": conns})  # fmt: skip
            for name, ops, cpu, conns in rows:
                ratio = f"{ops / ref:6.2f}" if ref else "     -"
                print(f"{w:<8} {n:>5} {name:<18} {ops:>9.0f} {cpu:>10.1f} {conns:>12} {ratio}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()
