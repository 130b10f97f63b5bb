"""The explicit command methods (``django_valkey/generated/``) are current,
and they are what the clients and backends run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django_valkey.async_cache.cache import AsyncValkeyCache
from django_valkey.base import AsyncBackendCommands, BackendCommands
from django_valkey.base_client import AsyncClientCommands, ClientCommands
from django_valkey.cache import ValkeyCache

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "generate_api.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_commands_are_the_generated_functions() -> None:
    assert ClientCommands.ttl.__qualname__ == "ClientAPI.ttl"
    assert AsyncClientCommands.ttl.__qualname__ == "AsyncClientAPI.ttl"
    assert BackendCommands.ttl.__qualname__ == "BackendAPI.ttl"
    assert BackendCommands.attl.__qualname__ == "BackendTwinAPI.attl"
    assert AsyncBackendCommands.attl is AsyncBackendCommands.ttl
    # The concrete backends wrap them with the IGNORE_EXCEPTIONS policy.
    assert ValkeyCache.ttl.__wrapped__ is BackendCommands.ttl  # type: ignore[attr-defined]
    assert AsyncValkeyCache.ttl.__wrapped__ is AsyncBackendCommands.ttl  # type: ignore[attr-defined]
    assert AsyncValkeyCache.attl is AsyncValkeyCache.ttl
