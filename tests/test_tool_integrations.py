"""The tools people already use record our calls: django-debug-toolbar's
cache panel and Sentry's cache spans patch the cache instance's methods;
with the real packages, nothing breaks and the calls (sync and ``a*``) show up."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ValkeyServer

pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parent.parent


def test_debug_toolbar_cache_panel(django_caches: Any, speedups: str) -> None:
    from debug_toolbar.panels.cache import CachePanel

    cache = django_caches["default"]
    cache.set("warm", 0)  # initialized: the panel patches it
    panel = CachePanel(toolbar=None, get_response=lambda request: None)
    panel.enable_instrumentation()
    try:
        cache.set("a", 1)
        assert cache.get("a") == 1
        assert cache.get("missing") is None
        assert cache.get_many(["a", "missing"]) == {"a": 1}
        assert cache.incr("a") == 2

        async def scenario() -> None:
            assert await cache.aget("a") == 2
            await cache.aset("b", 3)
            assert await cache.aget("nope") is None
            assert await cache.aget_many(["a", "b"]) == {"a": 2, "b": 3}

        asyncio.run(scenario())
    finally:
        panel.disable_instrumentation()
    names = [call["name"] for call in panel.calls]
    assert names == ["set", "get", "get", "get_many", "incr", "get", "set", "get", "get_many"]
    assert panel.hits == 1 + 1 + 1 + 2
    assert panel.misses == 1 + 1 + 1
    # Disabled: the wrappers stay but record nothing, and calls still work.
    cache.set("c", 4)
    assert asyncio.run(cache.aget("c")) == 4
    assert len(panel.calls) == len(names)


def test_sentry_cache_spans(valkey_server: ValkeyServer) -> None:
    # A process of its own: Sentry's Django integration patches Django globally.
    valkey_server.flushall()
    result = subprocess.run(
        [sys.executable, "-m", "tests.tools.sentry_cache_spans", f"{valkey_server.url}/0"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["results"] == ["v", None, {"sentry-key": "v"}, "v"]
    spans = [(span["op"], span["description"]) for span in report["spans"]]
    assert ("cache.put", "sentry-key") in spans
    assert ("cache.get", "sentry-key") in spans
    assert ("cache.get", "sentry-missing") in spans
    gets = [s for s in report["spans"] if s["op"] == "cache.get"]
    # get, get, get_many, and aget through the patched get.
    assert len(gets) == 4
    hits = [s["data"].get("cache.hit") for s in gets]
    assert hits.count(True) == 3 and hits.count(False) == 1
