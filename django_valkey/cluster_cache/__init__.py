"""Valkey Cluster backends, sync and async.

``ClusterValkeyCache`` (``cluster_cache.cache``) and ``AsyncClusterValkeyCache``
(``cluster_cache.async_cache``), their clients (``cluster_cache.client``) and
connection factories (``cluster_cache.pool``).  Importing this package loads
none of them; the names below are resolved on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AsyncClusterConnectionFactory",
    "AsyncClusterValkeyCache",
    "AsyncDefaultClusterClient",
    "ClusterConnectionFactory",
    "ClusterValkeyCache",
    "DefaultClusterClient",
]

_WHERE = {
    "ClusterValkeyCache": "cache",
    "AsyncClusterValkeyCache": "async_cache",
    "DefaultClusterClient": "client",
    "AsyncDefaultClusterClient": "client",
    "ClusterConnectionFactory": "pool",
    "AsyncClusterConnectionFactory": "pool",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
