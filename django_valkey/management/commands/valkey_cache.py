"""``manage.py valkey_cache``: look at a Valkey cache from the command line.

Subcommands: ``info``, ``ping``, ``keys PATTERN``, ``delete-pattern PATTERN
[--dry-run]`` and ``clear [--yes]``; ``--alias`` picks the cache (default
``default``).  Patterns are cache keys as the application writes them
(``user:*``): the cache's KEY_PREFIX and VERSION are applied.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from django.core.cache import caches
from django.core.management.base import BaseCommand, CommandError, CommandParser

PROGRESS_WIDTH = 30


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class Command(BaseCommand):
    help = "Inspect or clean a django_valkey cache: info, ping, keys, delete-pattern, clear."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--alias", default="default", help='the CACHES alias (default: "default")'
        )
        sub = parser.add_subparsers(dest="subcommand", required=True)
        sub.add_parser("info", help="server, pools, implementation, breaker, statistics")
        ping = sub.add_parser("ping", help="round-trip latency")
        ping.add_argument("--count", type=int, default=5)
        keys = sub.add_parser("keys", help="keys matching a pattern (SCAN, bounded output)")
        keys.add_argument("pattern")
        keys.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
        delete = sub.add_parser("delete-pattern", help="delete the keys matching a pattern")
        delete.add_argument("pattern")
        delete.add_argument("--dry-run", action="store_true", help="only count the matches")
        clear = sub.add_parser("clear", help="FLUSHDB: delete every key in the cache's database")
        clear.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    def handle(self, *args: Any, **options: Any) -> None:
        alias = options["alias"]
        try:
            cache = caches[alias]
        except Exception as exc:
            raise CommandError(f"no cache {alias!r}: {exc}") from exc
        if not hasattr(cache, "client"):
            raise CommandError(f"cache {alias!r} is not a django_valkey cache")
        name = options["subcommand"].replace("-", "_")
        getattr(self, f"do_{name}")(cache, alias, options)

    # Helpers -------------------------------------------------------------

    def _raw(self, cache: Any) -> Any:
        return cache.client.get_client(write=True)

    def _where(self, raw: Any) -> str:
        kwargs = getattr(getattr(raw, "connection_pool", None), "connection_kwargs", {})
        place = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        return f"{place} db {kwargs.get('db', 0)}"

    def _progress(self, done: int, total: int, label: str) -> None:
        if not self.stdout.isatty():
            return
        total = max(total, done, 1)
        filled = int(PROGRESS_WIDTH * done / total)
        bar = "#" * filled + "." * (PROGRESS_WIDTH - filled)
        self.stdout.write(f"\r[{bar}] {done}/{total} {label}", ending="")
        self.stdout.flush()

    # Subcommands ---------------------------------------------------------

    def do_info(self, cache: Any, alias: str, options: Any) -> None:
        from django_valkey import __version__, _speedups

        raw = self._raw(cache)
        server = raw.info("server")
        replication = raw.info("replication")
        memory = raw.info("memory")
        pool = raw.connection_pool
        lines = [
            ("cache", f"{alias} ({type(cache).__module__}.{type(cache).__qualname__})"),
            ("server", self._where(raw)),
            (
                "version",
                server.get("valkey_version") or server.get("redis_version", "?"),
            ),
            ("role", replication.get("role", "?")),
            ("memory", memory.get("used_memory_human", "?")),
            ("keys in db", raw.dbsize()),
            ("django_valkey", __version__),
            ("speedups", _speedups.IMPLEMENTATION),
        ]
        parser = getattr(pool, "connection_kwargs", {}).get("parser_class")
        if parser is not None:
            lines.append(("parser", f"{parser.__module__}.{parser.__qualname__}"))
        created = getattr(pool, "_created_connections", None)
        if created is not None:
            idle = len(getattr(pool, "_available_connections", ()))
            limit = getattr(pool, "max_connections", None)
            lines.append(("pool", f"{created} connections ({idle} idle), max {limit}"))
        breaker = getattr(cache.client, "_breaker", None)
        lines.append(("circuit breaker", breaker.state if breaker is not None else "off"))
        guard = getattr(cache.client, "_guard", None)
        stats = getattr(guard, "stats", None)
        if stats is not None:
            snap = stats.snapshot()
            lines.append(
                (
                    "statistics",
                    f"{snap['hits']} hits, {snap['misses']} misses, {snap['errors']} errors, "
                    f"{snap['commands']} commands, mean {snap['mean_seconds'] * 1e6:.0f} µs",
                )
            )
        near = getattr(cache, "near_cache_info", None)
        if callable(near):
            info = near()
            lines.append(("near cache", "off" if info is None else info))
        width = max(len(label) for label, _ in lines)
        for label, value in lines:
            self.stdout.write(f"{label.ljust(width)}  {value}")

    def do_ping(self, cache: Any, alias: str, options: Any) -> None:
        raw = self._raw(cache)
        count = max(1, options["count"])
        times = []
        for _ in range(count):
            start = time.perf_counter()
            raw.ping()
            times.append((time.perf_counter() - start) * 1000)
        self.stdout.write(
            f"PONG from {self._where(raw)}: {count} pings, min {min(times):.3f} ms, "
            f"avg {sum(times) / count:.3f} ms, max {max(times):.3f} ms"
        )

    def do_keys(self, cache: Any, alias: str, options: Any) -> None:
        limit = max(0, options["limit"])
        found = list(itertools.islice(cache.iter_keys(options["pattern"]), limit + 1))
        for key in found[:limit]:
            self.stdout.write(_text(key))
        if len(found) > limit:
            self.stdout.write(f"... more than {limit} keys match (use --limit)")
        else:
            self.stdout.write(f"{len(found)} keys")

    def do_delete_pattern(self, cache: Any, alias: str, options: Any) -> None:
        raw = self._raw(cache)
        match = cache.client.make_pattern(options["pattern"])
        itersize = getattr(cache, "_default_scan_itersize", 10) or 10
        total = raw.dbsize()
        dry_run = options["dry_run"]
        cursor, seen, deleted = 0, 0, 0
        while True:
            cursor, names = raw.scan(cursor, match=match, count=max(itersize, 100))
            seen += len(names)
            if names and not dry_run:
                deleted += raw.unlink(*names)
            self._progress(seen, total, "matched" if dry_run else "deleted")
            if not cursor:
                break
        if self.stdout.isatty():
            self.stdout.write("")
        if dry_run:
            self.stdout.write(f"{seen} keys match {options['pattern']!r} (dry run: none deleted)")
        else:
            self.stdout.write(f"deleted {deleted} keys matching {options['pattern']!r}")

    def do_clear(self, cache: Any, alias: str, options: Any) -> None:
        raw = self._raw(cache)
        where = self._where(raw)
        warning = (
            f"This runs FLUSHDB on {where}: it deletes EVERY key in that database, "
            "whatever the cache's KEY_PREFIX (other applications' keys too)."
        )
        if not options["yes"]:
            self.stdout.write(warning)
            answer = input("Type 'yes' to continue: ")
            if answer.strip().lower() != "yes":
                raise CommandError("cancelled: nothing deleted")
        cache.clear()
        self.stdout.write(f"FLUSHDB done on {where}")
