#!/usr/bin/env python3
"""Compare this package's cache backend with django-valkey 0.4.1, in one run.

Both packages import as ``django_valkey``, so every contender runs in its own
worker process, started with the interpreter of the virtualenv that holds it.
This script (the coordinator) needs only the standard library:

1. it starts a throwaway ``valkey-server`` on a free 127.0.0.1 port;
2. it starts one worker per contender (this same file with ``--worker``),
   which configures Django with a single cache and then answers JSON-line
   commands on stdin/stdout ("run workload W for N ops" -> client CPU seconds
   and wall seconds of the timed loop);
3. it runs every workload once per contender, untimed (each workload checks
   its results then: a wrong answer aborts the run), then ``--rounds`` rounds
   in which, for each workload, the contenders run one after another in an
   order rotated by one position every round;
4. it reports the median client CPU per op and ops/s of every contender, and
   for every contender the median over rounds of (its CPU per op / the
   reference's CPU per op in the same round).

Client CPU is ``time.process_time()`` of the worker: the worker's own user +
system time, not the server's. See bench/README.md.

Examples::

    python bench/cachebench.py --pin-cpu 0
    python bench/cachebench.py --quick
    python bench/cachebench.py --python ours=.venv/bin/python --python ref=/opt/ref/bin/python
    python bench/cachebench.py --setup-ref /tmp/dv-ref        # builds the reference venv
    python bench/cachebench.py --contenders ref,ref2=ref       # A/A test of the machinery
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import os
import platform
import random
import shutil
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import traceback

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
PROJECT_ROOT = os.path.dirname(BENCH_DIR)
REF_REQUIREMENTS = ["django-valkey==0.4.1", "libvalkey", "django>=5.2,<5.3"]

# --------------------------------------------------------------- contenders
# side: whose package the worker imports ("ours" or "ref"); needs: a module
# that must import in the worker, or the contender is skipped.
OUR_SYNC = "django_valkey.cache.ValkeyCache"
OUR_ASYNC = "django_valkey.async_cache.cache.AsyncValkeyCache"
CONTENDERS = {
    "ours": {"side": "ours", "backend": OUR_SYNC, "options": {}},
    "ours-parser": {
        "side": "ours",
        "backend": OUR_SYNC,
        "options": {"PARSER_CLASS": "django_valkey.parsers.Parser"},
        "needs": "django_valkey.parsers",
    },
    "ours-pure": {
        "side": "ours",
        "backend": OUR_SYNC,
        "options": {},
        "env": {"DJANGO_VALKEY_NO_EXTENSIONS": "1"},
    },
    "ours-async": {
        "side": "ours",
        "backend": OUR_ASYNC,
        "options": {},
        "needs": "django_valkey.async_cache.cache",
    },
    "ref": {
        "side": "ref",
        "backend": "django_valkey.cache.ValkeyCache",
        "options": {"PARSER_CLASS": "valkey.connection._LibvalkeyParser"},
    },
    "ref-async": {
        "side": "ref",
        "backend": "django_valkey.async_cache.cache.AsyncValkeyCache",
        # django-valkey 0.4.1's async pool reads PARSER_CLS, not PARSER_CLASS
        "options": {"PARSER_CLS": "valkey._parsers._AsyncLibvalkeyParser"},
    },
}
DEFAULT_CONTENDERS = "ours,ours-parser,ours-pure,ref,ours-async,ref-async"
BASELINE, ASYNC_BASELINE = "ref", "ref-async"

# ---------------------------------------------------------------- test data
# Built from a fixed seed: the same bytes go over the wire for every contender.
_rng = random.Random(4242)


def _text(k: int) -> str:
    return "".join(_rng.choices(string.ascii_letters + string.digits, k=k))


SMALL = _text(100)
MANY = {f"many:{i:03d}": _text(100) for i in range(100)}
BLOB = _rng.randbytes(100_000)
DICT_1K = {f"attr_{i:02d}": _rng.randrange(10**9) if i % 3 == 0 else _text(36) for i in range(26)}

# ---------------------------------------------------------------- workloads
# name -> (ops per round at --scale 1, is_async, prepare).  prepare(cache, n,
# check) runs untimed and returns the timed callable (or coroutine function)
# doing n ops; when check is true it also verifies results (once per worker).
WORKLOADS: dict = {}


class WrongAnswer(Exception):
    pass


def expect(got, want, what):
    if got == want:
        return
    if isinstance(got, dict) and isinstance(want, dict):
        missing, extra = want.keys() - got.keys(), got.keys() - want.keys()
        wrong = {k for k in want.keys() & got.keys() if got[k] != want[k]}
        raise WrongAnswer(
            f"{what}: {len(missing)} keys missing, {len(extra)} unexpected, {len(wrong)} "
            f"wrong values (e.g. {sorted(missing | extra | wrong, key=str)[:3]})"
        )
    raise WrongAnswer(f"{what}: got {got!r:.80}, expected {want!r:.80}")


def workload(n, is_async=False):
    def register(prepare):
        WORKLOADS[prepare.__name__.rstrip("_")] = (n, is_async, prepare)
        return prepare

    return register


@workload(3000)
def get(c, n, check):
    c.set("small", SMALL)
    if check:
        expect(c.get("small"), SMALL, "get")

    def run():
        for _ in range(n):
            c.get("small")

    return run


@workload(3000)
def get_miss(c, n, check):
    c.delete("absent")
    if check:
        expect(c.get("absent"), None, "get of a missing key")
        expect(c.get("absent", "dflt"), "dflt", "get of a missing key with a default")

    def run():
        for _ in range(n):
            c.get("absent")

    return run


@workload(3000)
def set_(c, n, check):
    c.delete("small_set")

    def run():
        for _ in range(n):
            c.set("small_set", SMALL)
        if check:
            expect(c.get("small_set"), SMALL, "get after set")

    return run


@workload(3000)
def incr(c, n, check):
    c.set("counter", 0)
    if check:
        expect(c.incr("counter"), 1, "incr of 0")

    def run():
        for _ in range(n):
            c.incr("counter")
        if check:
            expect(c.get("counter"), n + 1, f"counter after {n + 1} incr")

    return run


@workload(300)
def get_many_100(c, n, check):
    c.set_many(MANY)
    keys = list(MANY)
    if check:
        expect(c.get_many(keys), MANY, "get_many of 100 keys")

    def run():
        for _ in range(n):
            c.get_many(keys)

    return run


@workload(200)
def set_many_100(c, n, check):
    c.delete_many(list(MANY))

    def run():
        for _ in range(n):
            c.set_many(MANY)
        if check:
            expect(c.get_many(list(MANY)), MANY, "get_many after set_many")

    return run


@workload(200)
def delete_many_100(c, n, check):
    # every timed call deletes 100 keys that exist: seed n groups first
    groups = [[f"del:{j:04d}:{i:03d}" for i in range(100)] for j in range(n)]
    for keys in groups:
        c.set_many(dict.fromkeys(keys, SMALL))
    if check:
        expect(c.get(groups[-1][-1]), SMALL, "get of a seeded key")

    def run():
        for keys in groups:
            c.delete_many(keys)
        if check:
            expect(c.get_many(groups[-1]), {}, "get_many after delete_many")

    return run


@workload(300)
def get_100k(c, n, check):
    c.set("blob", BLOB)
    if check:
        expect(c.get("blob"), BLOB, "get of 100 KB bytes")

    def run():
        for _ in range(n):
            c.get("blob")

    return run


@workload(1000)
def set_100k(c, n, check):
    c.delete("blob_set")

    def run():
        for _ in range(n):
            c.set("blob_set", BLOB)
        if check:
            expect(c.get("blob_set"), BLOB, "get after set of 100 KB bytes")

    return run


@workload(3000)
def get_dict_1k(c, n, check):
    c.set("dict", DICT_1K)
    if check:
        expect(c.get("dict"), DICT_1K, "get of a 1 KB dict")

    def run():
        for _ in range(n):
            c.get("dict")

    return run


@workload(1500, is_async=True)
async def aget(c, n, check):
    await c.aset("small", SMALL)
    if check:
        expect(await c.aget("small"), SMALL, "aget")

    async def run():
        for _ in range(n):
            await c.aget("small")

    return run


@workload(150, is_async=True)
async def aget_many_100(c, n, check):
    await c.aset_many(MANY)
    keys = list(MANY)
    if check:
        expect(await c.aget_many(keys), MANY, "aget_many of 100 keys")

    async def run():
        for _ in range(n):
            await c.aget_many(keys)

    return run


@workload(1500, is_async=True)
async def aset(c, n, check):
    await c.adelete("small_set")

    async def run():
        for _ in range(n):
            await c.aset("small_set", SMALL)
        if check:
            expect(await c.aget("small_set"), SMALL, "aget after aset")

    return run


# Speed targets: (workload, contenders it applies to, max CPU-per-op ratio vs
# ref, or ref-async for async workloads).  The async targets hold for our
# AsyncValkeyCache and for our sync ValkeyCache's native aget, when they exist.
TARGETS = [
    ("get_many_100", ["ours"], 0.25),
    ("get_100k", ["ours"], 0.15),
    ("set_many_100", ["ours"], 0.8),
    ("get", ["ours"], 0.95),
    ("incr", ["ours"], 0.95),
    ("set", ["ours"], 1.0),
    ("aget", ["ours-async", "ours"], 0.8),
    ("aget_many_100", ["ours-async", "ours"], 0.25),
    # The fast-path targets, with our parser (PARSER_CLASS = django_valkey.parsers.Parser).
    ("get", ["ours-parser"], 0.75),
    ("set", ["ours-parser"], 0.75),
    ("incr", ["ours-parser"], 0.75),
    ("get_many_100", ["ours-parser"], 0.15),
    ("set_many_100", ["ours-parser"], 0.5),
    ("get_100k", ["ours-parser"], 0.10),
    ("aget", ["ours-async", "ours"], 0.7),
    ("aget_many_100", ["ours-async", "ours"], 0.3),
]
PURE_LIMIT = 1.0  # ours-pure: no sync workload slower than ref


# ------------------------------------------------------------------- worker
def _import_our_package():
    """Import our django_valkey: the installed one, else the source tree."""
    import importlib.util

    if importlib.util.find_spec("django_valkey") is None:
        sys.path.insert(0, PROJECT_ROOT)
    if importlib.util.find_spec("django_valkey._speedups") is None:
        import django_valkey

        raise RuntimeError(
            f"this interpreter's django_valkey ({django_valkey.__file__}) is not this "
            "project's package: pass --python ours=/path/to/python"
        )


def _native_async(cache):
    """(bool, why): does cache have its own coroutine aget (not Django's
    sync_to_async fallback)?"""
    if getattr(cache, "is_async", False):
        return True, "async backend"
    from django.core.cache.backends.base import BaseCache

    meth = getattr(type(cache), "aget", None)
    if meth is None:
        return False, "it has no aget"
    inner = inspect.unwrap(meth)
    if inner is BaseCache.aget:
        return False, "its aget is Django's sync_to_async fallback"
    if not (inspect.iscoroutinefunction(meth) or inspect.iscoroutinefunction(inner)):
        return False, "its aget is not a coroutine function"
    if not inner.__module__.startswith("django_valkey"):
        return False, f"its aget comes from {inner.__module__}"
    return True, f"native aget ({inner.__module__})"


def _parser_in_use(cache, loop):
    """Best effort: the reply parser class of a pooled connection."""
    try:
        client = cache.client.get_client(write=True)
        if inspect.isawaitable(client):
            client = loop.run_until_complete(client)
        conn = client.connection_pool._available_connections[-1]
        return type(conn._parser).__name__
    except Exception:
        return "?"


def _versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("Django", "valkey", "libvalkey", "django-valkey"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def worker_hello(cfg, loop):
    if cfg["side"] == "ours":
        _import_our_package()
    import django
    from django.conf import settings

    entry = {
        "BACKEND": cfg["backend"],
        "LOCATION": cfg["location"],
        "KEY_PREFIX": cfg["prefix"],
        "OPTIONS": cfg["options"],
    }
    settings.configure(CACHES={"default": entry}, USE_TZ=True)
    django.setup()
    import importlib
    import importlib.util

    try:
        import django_valkey
    except ImportError:
        raise RuntimeError(
            "this interpreter has no django_valkey: pass --python ref=/path/to/python "
            "or --setup-ref DIR"
        ) from None

    ours_tree = importlib.util.find_spec("django_valkey._speedups") is not None
    if cfg["side"] == "ref" and ours_tree:
        raise RuntimeError(
            f"the reference worker imported this project's django_valkey "
            f"({django_valkey.__file__}): pass --python ref=/path/to/reference/python"
        )
    info = {"versions": _versions(), "module": os.path.dirname(django_valkey.__file__)}
    info["affinity"] = sorted(os.sched_getaffinity(0))
    if ours_tree:
        from django_valkey import _speedups

        info["compiled"] = bool(_speedups.COMPILED)
    if cfg.get("needs"):
        try:
            importlib.import_module(cfg["needs"])
        except ImportError as e:
            return None, {**info, "unavailable": f"{cfg['needs']} does not import ({e})"}
    from django.core.cache import caches

    cache = caches["default"]
    info["sync"] = not getattr(cache, "is_async", False)
    info["async"], info["async_why"] = _native_async(cache)
    if info["sync"]:
        cache.get("probe")
    else:
        loop.run_until_complete(cache.aget("probe"))
    info["parser"] = _parser_in_use(cache, loop)
    return cache, info


def worker_main():
    # The protocol owns the real stdout; anything printed goes to stderr.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(obj):
        proto.write(json.dumps(obj) + "\n")

    loop = asyncio.new_event_loop()
    cache, checked = None, set()
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            if msg["cmd"] == "hello":
                cache, info = worker_hello(msg, loop)
                reply(info)
            elif msg["cmd"] == "run":
                reply(measure(cache, loop, msg["workload"], msg["n"], checked))
            elif msg["cmd"] == "quit":
                break
        except Exception as e:
            reply(
                {
                    "error": f"{type(e).__name__}: {e}",
                    "wrong_answer": isinstance(e, WrongAnswer),
                    "traceback": traceback.format_exc(),
                }
            )
    loop.close()


def measure(cache, loop, name, n, checked):
    _, is_async, prepare = WORKLOADS[name]
    check = name not in checked
    if is_async:
        run = loop.run_until_complete(prepare(cache, n, check))
    else:
        run = prepare(cache, n, check)
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if is_async:
        loop.run_until_complete(run())
    else:
        run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    checked.add(name)
    return {"cpu": cpu, "wall": wall}


# -------------------------------------------------------------- coordinator
class BenchError(Exception):
    pass


class Worker:
    def __init__(self, name, kind, python, location, prefix):
        spec = CONTENDERS[kind]
        env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
        env.pop("DJANGO_VALKEY_NO_EXTENSIONS", None)
        env.update(spec.get("env", {}))
        self.name, self.kind, self.python = name, kind, python
        self.proc = subprocess.Popen(
            [python, os.path.abspath(__file__), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            env=env,
        )
        hello = {"cmd": "hello", "location": location, "prefix": prefix}
        hello.update({k: spec.get(k) for k in ("side", "backend", "options", "needs")})
        try:
            self.info = self.call(hello)
        except BenchError:
            self.close()
            raise

    def call(self, msg):
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self.proc.stdout.readline()
        if not line:
            raise BenchError(f"worker {self.name} ({self.python}) exited unexpectedly")
        reply = json.loads(line)
        if "error" in reply:
            err = BenchError(f"{self.name}: {reply['error']}")
            err.reply = reply
            raise err
        return reply

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"cmd": "quit"}\n')
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except Exception:
                self.proc.kill()
                self.proc.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pong(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_server(binary, pin_cpu, workdir):
    cmd = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    cmd += ["--dir", workdir, "--loglevel", "warning", "--daemonize", "no"]
    if pin_cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(pin_cpu), *cmd]
    for _ in range(3):  # the free port may be taken in between: retry
        port = free_port()
        proc = subprocess.Popen(
            [*cmd, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            if _pong(port):
                return proc, port
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    raise BenchError(f"could not start {binary}")


def setup_ref(path):
    """Create (once) a venv at path holding django-valkey 0.4.1 + libvalkey."""
    python = os.path.join(path, "bin", "python")
    if not os.path.exists(python):
        print(f"creating {path} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
    probe = "import importlib.metadata as m; print(m.version('django-valkey'))"
    have = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    if have.stdout.strip() != "0.4.1":
        print(f"installing {' '.join(REF_REQUIREMENTS)} into {path} ...", file=sys.stderr)
        subprocess.run([python, "-m", "pip", "install", "-q", *REF_REQUIREMENTS], check=True)
    return python


def parse_contenders(text):
    """'ours,ref,ref2=ref' -> [(name, kind)]"""
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, kind = item.partition("=")
        kind = kind or name
        if kind not in CONTENDERS:
            raise SystemExit(f"unknown contender {kind!r}; known: {', '.join(CONTENDERS)}")
        if name in dict(out):
            raise SystemExit(f"contender {name!r} given twice (rename one: {name}2={kind})")
        out.append((name, kind))
    return out


def run_bench(args, workers, counts, log):
    """Warm-up (checks results), then interleaved rounds.  Returns
    ({workload: {contender: [{"cpu", "wall", "n"}, ...]}}, {cell: error})."""
    plan = {}
    for w, (_, is_async, _) in WORKLOADS.items():
        plan[w] = [n for n, wk in workers.items() if wk.info["async" if is_async else "sync"]]
    errors, results = {}, {w: {n: [] for n in names} for w, names in plan.items()}

    def one(w, name, n):
        try:
            return workers[name].call({"cmd": "run", "workload": w, "n": n})
        except BenchError as e:
            reply = getattr(e, "reply", {})
            if reply.get("wrong_answer"):
                raise BenchError(f"wrong answer in {w}: {e}") from None
            errors[f"{w}/{name}"] = reply.get("traceback") or str(e)
            log(f"  ! {w}/{name} failed, dropped:\n{errors[f'{w}/{name}']}")
            plan[w].remove(name)
            return None

    for w, names in plan.items():  # untimed: checks results, warms caches
        for name in list(names):
            one(w, name, max(1, counts[w] // 5))
    for r in range(args.rounds):
        t0 = time.perf_counter()
        for w, names in plan.items():
            k = r % len(names) if names else 0
            for name in names[k:] + names[:k]:
                m = one(w, name, counts[w])
                if m:
                    results[w][name].append({**m, "n": counts[w]})
        log(f"round {r + 1}/{args.rounds}: {time.perf_counter() - t0:.1f} s")
    return results, errors


def summarize(results, names):
    """Medians of CPU µs/op and ops/s; paired per-round CPU ratios vs baseline."""
    out = {}
    for w, per in results.items():
        base = ASYNC_BASELINE if WORKLOADS[w][1] else BASELINE
        out[w] = {}
        for name in names:
            rounds = per.get(name) or []
            if not rounds:
                continue
            cpu = [1e6 * m["cpu"] / m["n"] for m in rounds]
            ops = [m["n"] / m["wall"] for m in rounds]
            cell = {"cpu_us": statistics.median(cpu), "ops_s": statistics.median(ops)}
            cell["rounds_cpu_us"] = cpu
            brounds = per.get(base) or []
            if name != base and len(brounds) == len(rounds):
                bcpu = [1e6 * m["cpu"] / m["n"] for m in brounds]
                cell["vs"] = base
                cell["cpu_ratio"] = statistics.median(a / b for a, b in zip(cpu, bcpu, strict=True))
            out[w][name] = cell
    return out


def _fmt(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def render_table(summary, names, counts):
    ratio_names = [
        n
        for n in names
        if n not in (BASELINE, ASYNC_BASELINE)
        and any("cpu_ratio" in cells.get(n, {}) for cells in summary.values())
    ]
    col = max([9, *(len(n) + 1 for n in names)])
    rcol = [max(11, len(n) + 6) for n in ratio_names]

    def header():
        return f"{'workload':<15}{'n':>6}" + "".join(f"{n:>{col}}" for n in names)

    def cells(w, key):
        return "".join(
            f"{_fmt(summary[w][n][key]) if n in summary[w] else '-':>{col}}" for n in names
        )

    def ratios(w):
        out = ""
        for n, width in zip(ratio_names, rcol, strict=True):
            r = summary[w].get(n, {}).get("cpu_ratio")
            out += f"{'-' if r is None else f'{r:.2f}':>{width}}"
        return out

    sep = "  |" if ratio_names else ""
    lines = [
        "Client CPU per op, µs (median over rounds), and CPU ratios: median over rounds of",
        "(contender's CPU per op / ref's in the same round), async rows vs ref-async;",
        "< 1 means cheaper than django-valkey 0.4.1.",
        "",
        header()
        + sep
        + "".join(f"{n + '/ref':>{w}}" for n, w in zip(ratio_names, rcol, strict=True)),
    ]
    lines += [f"{w:<15}{counts[w]:>6}" + cells(w, "cpu_us") + sep + ratios(w) for w in summary]
    lines += ["", "Throughput, ops/s (median over rounds; *_100: one op = one call on 100 keys)"]
    lines += ["", header()]
    lines += [f"{w:<15}{counts[w]:>6}" + cells(w, "ops_s") for w in summary]
    return "\n".join(lines)


def check_targets(summary):
    """[(target, measured, verdict)] for the speed targets."""
    out = []
    for w, candidates, limit in TARGETS:
        if w not in WORKLOADS:  # not selected with --workloads
            continue
        vs = ASYNC_BASELINE if WORKLOADS[w][1] else BASELINE
        hits = [(n, summary.get(w, {}).get(n, {}).get("cpu_ratio")) for n in candidates]
        hits = [(n, r) for n, r in hits if r is not None]
        if not hits:
            out.append((f"{w}: {'/'.join(candidates)} <= {limit:.2f}x {vs}", "", "not measured"))
        for n, r in hits:
            verdict = "met" if r <= limit else "NOT met"
            out.append((f"{w}: {n} <= {limit:.2f}x {vs}", f"{r:.2f}x", verdict))
    rs = {w: cells.get("ours-pure", {}).get("cpu_ratio") for w, cells in summary.items()}
    rs = {w: r for w, r in rs.items() if r is not None and not WORKLOADS[w][1]}
    if all(WORKLOADS[w][1] for w in WORKLOADS):  # no sync workload selected
        return out
    target = f"every sync workload: ours-pure <= {PURE_LIMIT:.2f}x {BASELINE}"
    if rs:
        worst = max(rs, key=rs.__getitem__)
        verdict = "met" if rs[worst] <= PURE_LIMIT else "NOT met"
        out.append((target, f"worst {worst} {rs[worst]:.2f}x", verdict))
    else:
        out.append((target, "", "not measured"))
    return out


def main():
    if sys.argv[1:2] == ["--worker"]:
        return worker_main()
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="See bench/README.md for how to read the results.",
    )
    ap.add_argument(
        "--contenders",
        default=DEFAULT_CONTENDERS,
        help=f"comma list of {', '.join(CONTENDERS)}; NAME=KIND adds another copy of a "
        f"kind (e.g. ref,ref2=ref); unavailable ones are skipped (default: {DEFAULT_CONTENDERS})",
    )
    ap.add_argument(
        "--python",
        action="append",
        default=[],
        metavar="WHO=PATH",
        help="interpreter for a side (ours, ref) or one contender name; defaults: ours = this "
        "interpreter, ref = $DJANGO_VALKEY_REF_PYTHON or /opt/ref/bin/python",
    )
    ap.add_argument(
        "--setup-ref",
        metavar="DIR",
        help="create a venv at DIR with django-valkey 0.4.1 + libvalkey + Django 5.2 "
        "(if not there yet) and use it as the reference",
    )
    ap.add_argument("--rounds", type=int, help="measured rounds (default 7)")
    ap.add_argument("--scale", type=float, help="multiplier on ops per round (default 1)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 1 round, 1/10 the ops")
    ap.add_argument("--workloads", help=f"comma list (default all): {', '.join(WORKLOADS)}")
    ap.add_argument(
        "--pin-cpu",
        type=int,
        metavar="N",
        help="pin the server, the workers and this process to CPU N (recommended)",
    )
    ap.add_argument("--valkey-server", default="valkey-server", help="server binary")
    ap.add_argument("--json", metavar="PATH", help="also write all results as JSON")
    args = ap.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 7)
    args.scale = args.scale or (0.1 if args.quick else 1.0)
    if args.workloads:
        unknown = set(args.workloads.split(",")) - set(WORKLOADS)
        if unknown:
            raise SystemExit(f"unknown workloads: {', '.join(sorted(unknown))}")
        for w in set(WORKLOADS) - set(args.workloads.split(",")):
            del WORKLOADS[w]
    counts = {w: max(1, round(n * args.scale)) for w, (n, _, _) in WORKLOADS.items()}
    contenders = parse_contenders(args.contenders)
    pythons = {"ours": sys.executable}
    pythons["ref"] = os.environ.get("DJANGO_VALKEY_REF_PYTHON") or "/opt/ref/bin/python"
    if args.setup_ref:
        try:
            pythons["ref"] = setup_ref(os.path.abspath(args.setup_ref))
        except subprocess.CalledProcessError as e:
            raise SystemExit(
                f"--setup-ref failed: {' '.join(e.cmd)} exited with {e.returncode}"
            ) from None
    for item in args.python:
        who, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"--python wants WHO=PATH, got {item!r}")
        pythons[who] = path
    binary = shutil.which(args.valkey_server)
    if not binary:
        raise SystemExit(f"{args.valkey_server} not found (--valkey-server PATH)")
    if args.pin_cpu is not None:
        os.sched_setaffinity(0, {args.pin_cpu})  # inherited by the workers

    def log(text):
        print(text, file=sys.stderr, flush=True)

    workers, skipped, server = {}, {}, None
    workdir = tempfile.mkdtemp(prefix="cachebench-")
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    try:
        server, port = start_server(binary, args.pin_cpu, workdir)
        location = f"valkey://127.0.0.1:{port}/0"
        for i, (name, kind) in enumerate(contenders):
            python = pythons.get(name) or pythons[CONTENDERS[kind]["side"]]
            try:
                wk = Worker(name, kind, python, location, prefix=f"cb{i:02d}")
            except BenchError as e:
                skipped[name] = f"worker failed to start ({e})"
                tb = getattr(e, "reply", {}).get("traceback", e)
                log(f"  ! {name}: worker failed to start\n{tb}")
                continue
            info = wk.info
            why = info.get("unavailable")
            runs = {WORKLOADS[w][1] for w in WORKLOADS}  # False: sync, True: async
            if not why and not any(info["async" if a else "sync"] for a in runs):
                why = "none of the selected workloads applies"
                if True in runs and not info["async"]:
                    why += f" ({info['async_why']})"
            if why:
                skipped[name] = why
                wk.close()
                continue
            workers[name] = wk
            if True in runs and not info["async"]:
                info["notes"] = [f"no async workloads: {info['async_why']}"]
            pure = "DJANGO_VALKEY_NO_EXTENSIONS" in CONTENDERS[kind].get("env", {})
            if info.get("compiled") is pure:  # None for the reference
                info.setdefault("notes", []).append(
                    "WARNING: compiled modules in use despite DJANGO_VALKEY_NO_EXTENSIONS=1"
                    if pure
                    else "WARNING: compiled modules not in use (not built?): pure-Python twins"
                )
        for name, why in skipped.items():
            log(f"note: {name} skipped: {why}")
        if not workers:
            raise BenchError("no contender left to measure")
        if BASELINE not in workers and ASYNC_BASELINE not in workers:
            log("note: neither ref nor ref-async measured: no ratios")
        results, errors = run_bench(args, workers, counts, log)
    except BenchError as e:
        log(f"\nABORTED: {e}")
        tb = getattr(e, "reply", {}).get("traceback")
        if tb:
            log(tb)
        return 2
    finally:
        for wk in workers.values():
            wk.close()
        if server is not None:
            server.terminate()
            server.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    names = list(workers)
    summary = summarize(results, names)
    summary = {w: cells for w, cells in summary.items() if cells}
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout

    print(
        f"cachebench: {args.rounds} rounds, scale {args.scale:g}, {elapsed:.0f} s; "
        f"{version.split()[2] if version else binary}, "
        f"{'pinned to CPU ' + str(args.pin_cpu) if args.pin_cpu is not None else 'unpinned'}"
        f" ({os.cpu_count()} CPUs); load avg {load0:.2f} -> {os.getloadavg()[0]:.2f}"
    )
    for name, wk in workers.items():
        info, v = wk.info, wk.info["versions"]
        impl = {True: "compiled", False: "pure Python"}.get(info.get("compiled"), "0.4.1")
        print(
            f"  {name:<12} {impl:<11} parser {info['parser']:<22} Python {v['python']}, "
            f"Django {v['Django']}, valkey {v['valkey']}, libvalkey {v['libvalkey']}"
            f"  [{wk.python}: {info['module']}]"
        )
        for note in info.get("notes", []):
            print(f"  {'':<12} {note}")
    for name, why in skipped.items():
        print(f"  {name:<12} skipped: {why}")
    print()
    print(render_table(summary, names, counts))
    targets = check_targets(summary)
    print("\nTargets (client CPU per op vs django-valkey 0.4.1 + libvalkey, median ratio):")
    for target, measured, verdict in targets:
        print(f"  {target:<50} {measured:>22}  {verdict}")
    if errors:
        print("\nFailed cells (dropped; tracebacks above):")
        for cell, tb in errors.items():
            print(f"  {cell}: {tb.strip().splitlines()[-1]}")
    if args.json:
        doc = {
            "argv": sys.argv[1:],
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "rounds": args.rounds,
            "scale": args.scale,
            "pin_cpu": args.pin_cpu,
            "server": version.strip(),
            "contenders": {
                n: {"kind": k, "python": workers[n].python, **workers[n].info}
                for n, k in contenders
                if n in workers
            },
            "skipped": skipped,
            "ops_per_round": counts,
            "summary": summary,
            "targets": [dict(zip(("target", "ratio", "verdict"), t, strict=True)) for t in targets],
            "raw": results,
            "errors": errors,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
