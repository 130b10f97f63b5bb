"""The Sentinel client: one service URL, writes to the primary, reads to replicas."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

from django.core.exceptions import ImproperlyConfigured
from valkey import Valkey

from django_valkey.client.default import DefaultClient

__all__ = ["SentinelClient", "replace_query"]


def replace_query(url: Any, query: dict[str, Any]) -> str:
    """``url`` (a string or a ``urlparse`` result) with its query replaced."""
    parsed = urlparse(url) if isinstance(url, str) else url
    return urlunparse(parsed._replace(query=urlencode(query, doseq=True)))


def primary_and_replica(url: str) -> list[str]:
    """``[url?is_master=1, url?is_master=0]`` (each with its own query dict)."""
    parsed = urlparse(url)
    primary = parse_qs(parsed.query)
    replica = dict(primary)  # a copy: the reference aliased the two
    primary["is_master"] = ["1"]
    replica["is_master"] = ["0"]
    return [replace_query(parsed, primary), replace_query(parsed, replica)]


def check_sentinel_pool(raw: Any) -> Any:
    from valkey.sentinel import SentinelConnectionPool

    if not isinstance(raw.connection_pool, SentinelConnectionPool):
        raise ImproperlyConfigured(
            "Settings DJANGO_VALKEY_CONNECTION_FACTORY or CACHE[].OPTIONS.CONNECTION_POOL_CLASS "
            "is not configured correctly: SentinelClient needs a SentinelConnectionPool."
        )
    return raw


class SentinelClient(DefaultClient):
    """LOCATION is the service URL (``valkey://mymaster/0``); with one URL it is
    expanded to a primary pool and a replica pool, so reads reach replicas."""

    CONNECTION_FACTORY_PATH = "django_valkey.pool.SentinelConnectionFactory"

    def __init__(self, server: Any, params: dict[str, Any], backend: Any) -> None:
        if isinstance(server, str) and "," not in server:
            server = primary_and_replica(server)
        super().__init__(server, params, backend)

    def connect(self, index: int = 0) -> Valkey:
        return check_sentinel_pool(super().connect(index))
