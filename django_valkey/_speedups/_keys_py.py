"""Cache key maker, pure-Python twin of ``_keys.pyx`` (the readable specification).

One ``KeyMaker`` per cache: the key function, prefix and default version are
resolved once; ``make`` is then called per key.  Nothing here knows about
servers; Django is only used for the identity of its default key function.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache.backends.base import default_key_func

from django_valkey.util import CacheKey

# Django's memcached-compatibility rule: keys longer than this warn.
MAX_KEY_LENGTH = 250


# Characters memcached refuses: controls, space and DEL.
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f]")


def is_suspect(key: str) -> bool:
    """True when Django's ``validate_key`` would warn about ``key``: too long,
    or a control character / space (``\\x00``-``\\x20``, ``\\x7f``)."""
    return len(key) > MAX_KEY_LENGTH or _BAD_CHARS.search(key) is not None


class KeyMaker:
    """Makes the server-side keys of one cache.

    ``validate`` is called with a made key that Django's rules flag (or with
    every made key when ``validate_all`` is true, for a backend that
    overrides ``validate_key``); ``None`` disables validation.
    """

    __slots__ = (
        "_default_head",
        "_fast",
        "key_func",
        "prefix",
        "validate",
        "validate_all",
        "version",
    )

    def __init__(
        self,
        key_func: Callable[[Any, str, Any], str],
        prefix: str,
        version: Any,
        validate: Callable[[str], None] | None = None,
        validate_all: bool = False,
    ) -> None:
        self.key_func = key_func
        self.prefix = prefix
        self.version = version
        self.validate = validate
        self.validate_all = validate_all
        # Django's default layout is "prefix:version:key": for str keys at the
        # default version that is one concatenation with a precomputed head.
        self._fast = key_func is default_key_func
        self._default_head = f"{prefix}:{version}:"

    def make(self, key: Any, version: Any = None) -> str:
        """The server-side key for ``key`` (a ``CacheKey`` passes unchanged)."""
        if type(key) is CacheKey:
            return key
        if version is None:
            version = self.version
            if self._fast and type(key) is str:
                made = self._default_head + key
            else:
                made = self.key_func(key, self.prefix, version)
        else:
            made = self.key_func(key, self.prefix, version)
        if self.validate is not None and (self.validate_all or is_suspect(made)):
            self.validate(made)
        return made

    def make_many(self, keys: Iterable[Any], version: Any = None) -> list[str]:
        """``make`` for each key, in order."""
        make = self.make
        return [make(key, version) for key in keys]

    def make_cache_key(self, key: Any, version: Any = None, prefix: Any = None) -> CacheKey:
        """The public ``make_key``: a :class:`CacheKey`, for any prefix."""
        if isinstance(key, CacheKey):
            return key
        if prefix is None or prefix == self.prefix:
            return CacheKey(self.make(key, version))
        if version is None:
            version = self.version
        made = self.key_func(key, prefix, version)
        if self.validate is not None and (self.validate_all or is_suspect(made)):
            self.validate(made)
        return CacheKey(made)
