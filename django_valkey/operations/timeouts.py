"""Timeout arithmetic shared by the commands (Django's semantics)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT


def to_milliseconds(client: Any, timeout: Any) -> int | None:
    """Django timeout -> milliseconds for ``PX``; ``None`` means "never expire".

    ``DEFAULT_TIMEOUT`` is the cache's ``TIMEOUT``; zero, negative and
    sub-millisecond timeouts give ``<= 0``, which callers treat as "do not
    store" (Django's contract), never as an error.
    """
    if timeout is DEFAULT_TIMEOUT:
        timeout = client._backend.default_timeout
    if timeout is None:
        return None
    if isinstance(timeout, timedelta):
        timeout = timeout.total_seconds()
    return int(timeout * 1000)


def to_seconds(client: Any, timeout: Any) -> int:
    """Django timeout -> whole seconds for ``EXPIRE``."""
    if timeout is DEFAULT_TIMEOUT:
        timeout = client._backend.default_timeout
    if isinstance(timeout, timedelta):
        return int(timeout.total_seconds())
    return int(timeout)
