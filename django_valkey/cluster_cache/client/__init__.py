"""Cluster clients (``OPTIONS["CLIENT_CLASS"]`` of the cluster backends)."""

from django_valkey.cluster_cache.client.default import (
    AsyncDefaultClusterClient,
    DefaultClusterClient,
)

__all__ = ["AsyncDefaultClusterClient", "DefaultClusterClient"]
