"""Key helpers shared by every client: the made-key marker, patterns, reverse keys."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = [
    "CacheKey",
    "decode",
    "default_reverse_key",
    "encode",
    "glob_escape",
    "make_key",
    "make_pattern",
    "redact_url",
    "special_re",
]


class CacheKey(str):
    """A key that has already been through the key function.

    Client methods pass a ``CacheKey`` through unchanged, so a key made once
    (``cache.make_key("k")``) can be handed to any method without being
    prefixed twice.
    """

    def original_key(self) -> str:
        # The default key layout is "<prefix>:<version>:<key>"; the user key
        # may itself contain ":", so split from the left, twice.
        parts = self.split(":", 2)
        return parts[2] if len(parts) == 3 else str(self)


special_re = re.compile(r"([*?[])")


def glob_escape(s: str) -> str:
    """Escape the glob characters ``*``, ``?`` and ``[`` for MATCH / KEYS."""
    return special_re.sub(r"[\1]", s)


def default_reverse_key(key: str) -> str:
    """Undo Django's default key function: ``"prefix:1:key"`` -> ``"key"``."""
    return key.split(":", 2)[2]


def make_key(
    key: Any, key_func: Callable[..., str], version: Any = None, prefix: Any = None
) -> CacheKey:
    """Apply ``key_func`` unless ``key`` is already a :class:`CacheKey`."""
    if isinstance(key, CacheKey):
        return key
    return CacheKey(key_func(key, prefix, version))


def make_pattern(
    pattern: str, key_func: Callable[..., str], version: Any = None, prefix: Any = None
) -> CacheKey:
    """Like :func:`make_key`, but the prefix and version are glob-escaped so
    that they match literally while ``pattern`` keeps its glob meaning."""
    if isinstance(pattern, CacheKey):
        return pattern
    return CacheKey(key_func(pattern, glob_escape(str(prefix)), glob_escape(str(version))))


def encode(value: Any, serializer: Any, compressor: Any) -> bytes:
    """Encode a value as the cache stores it (raw ints/floats, else serialized)."""
    from django_valkey import _speedups

    return _speedups.Codec(serializer, compressor).encode(value)


def decode(value: bytes, serializer: Any, compressor: Any) -> Any:
    """Decode a value stored by :func:`encode` (or by django-valkey 0.4.x)."""
    from django_valkey import _speedups

    return _speedups.Codec(serializer, compressor).decode(value)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
