"""Client CPU per cache call with the operations/observability options off
and on (issue 16): RETRY, STATISTICS, OPENTELEMETRY (the API's no-op
providers, and the SDK recording every span and metric).

    PYTHONPATH=. .venv/bin/python bench/obsbench.py [--ops 20000] [--rounds 7]

Starts a throwaway valkey-server on a free loopback port (tests/servers.py),
runs ``get`` (a hit) and ``aget`` for each configuration, interleaved round
by round, and prints the median client CPU (``time.process_time``) per call
in microseconds and the difference to "off".

Timings on a shared machine wobble by a few µs; for small differences count
instructions instead (the server runs outside valgrind)::

    for n in 0 4000; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python bench/obsbench.py --only statistics --op get --rounds 1 --ops $n; done
    # (Ir at 4000 - Ir at 0) / 4000 = instructions per get
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def _sdk_options() -> dict[str, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Dropping(SpanExporter):
        # Export costs what the exporter costs: measure the recording only.
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer = TracerProvider()
    # What production uses: spans are queued and exported by a thread.
    tracer.add_span_processor(BatchSpanProcessor(Dropping()))
    meter = MeterProvider(metric_readers=[InMemoryMetricReader()])
    return {"TRACER_PROVIDER": tracer, "METER_PROVIDER": meter}


def configurations() -> dict[str, dict[str, Any]]:
    return {
        "off": {},
        "retry": {"RETRY": {"ATTEMPTS": 3, "BACKOFF": 0.05}},
        "statistics": {"STATISTICS": True},
        "otel-noop": {"OPENTELEMETRY": True},
        "otel-sdk": {"OPENTELEMETRY": _sdk_options()},
        "all-sdk": {
            "RETRY": {"ATTEMPTS": 3},
            "STATISTICS": True,
            "OPENTELEMETRY": _sdk_options(),
        },
    }


def cpu_per_call(fn: Any, ops: int) -> float:
    start = time.process_time()
    fn(ops)
    return (time.process_time() - start) / max(ops, 1) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated configuration names")
    parser.add_argument("--op", choices=("get", "aget", "both"), default="both")
    args = parser.parse_args()

    import django

    django.setup()
    import django_valkey._speedups as speedups
    from django_valkey.cache import ValkeyCache
    from tests.servers import ValkeyServer

    server = ValkeyServer(name="obsbench", workdir=Path(tempfile.mkdtemp(prefix="obsbench-")))
    server.start()
    try:
        configs = configurations()
        if args.only:
            configs = {k: v for k, v in configs.items() if k in args.only.split(",")}
        caches = {
            name: ValkeyCache(f"{server.url}/0", {"OPTIONS": options, "KEY_PREFIX": name})
            for name, options in configs.items()
        }
        for cache in caches.values():
            cache.set("key", "value")
        loop = asyncio.new_event_loop()

        def sync_gets(cache: Any) -> Any:
            def run(n: int) -> None:
                get = cache.get
                for _ in range(n):
                    get("key")

            return run

        def async_gets(cache: Any) -> Any:
            async def many(n: int) -> None:
                aget = cache.aget
                for _ in range(n):
                    await aget("key")

            return lambda n: loop.run_until_complete(many(n))

        results: dict[tuple[str, str], list[float]] = {}
        ops = ("get", "aget") if args.op == "both" else (args.op,)
        runners = {"get": sync_gets, "aget": async_gets}
        for cache in caches.values():  # warm up
            for op in ops:
                runners[op](cache)(500)
        for _ in range(args.rounds):
            for name, cache in caches.items():
                for op in ops:
                    results.setdefault((op, name), []).append(
                        cpu_per_call(runners[op](cache), args.ops)
                    )
        print(f"speedups: {speedups.IMPLEMENTATION}; ops {args.ops}, rounds {args.rounds}")
        print(f"{'op':6} {'configuration':14} {'µs/call':>9} {'vs off':>8}")
        for op in ops:
            base = statistics.median(results[(op, "off")]) if (op, "off") in results else None
            for name in caches:
                median = statistics.median(results[(op, name)])
                delta = f"{median - base:+.2f}" if base is not None else "-"
                print(f"{op:6} {name:14} {median:9.2f} {delta:>8}")
        loop.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
