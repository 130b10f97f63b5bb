"""The compressor interface, how compressors read their settings, and the
size-limited decompression helpers they share.

A compressor reads its settings when it is built (once per cache): a key of
the cache's OPTIONS dict first, then the Django setting of the same name,
then the class default.  So ``override_settings`` and per-cache OPTIONS both
work, which they did not in the reference (it read settings at import).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from types import ModuleType
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from django_valkey.exceptions import CompressorError, DecompressedSizeError


class BaseCompressor:
    """Compresses serialized values (``compress``) and restores them (``decompress``).

    A cache builds its compressor once, as ``cls(options=OPTIONS)``.  Subclasses
    implement ``_compress`` and ``_decompress``, and ``_decompress_limited``
    when their library can stop early (see ``DECOMPRESS_MAX_SIZE``).

    Settings (OPTIONS key or Django setting):

    * ``CACHE_COMPRESS_MIN_LENGTH`` (15): values of this length or shorter are
      stored uncompressed.
    * ``CACHE_COMPRESS_LEVEL`` (None): the library's level; ``None`` or ``0``
      means the compressor's own default, as in the reference.
    * ``DECOMPRESS_MAX_SIZE`` (None): refuse, with ``DecompressedSizeError``,
      a value that would decompress to more bytes than this.
    """

    min_length: int = 15
    level: int | None = None
    max_size: int | None = None
    #: Inclusive range of ``CACHE_COMPRESS_LEVEL`` that the library accepts.
    level_range: tuple[int, int] | None = None

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self._options: Mapping[str, Any] = options if options is not None else {}
        self.min_length = self.int_setting("CACHE_COMPRESS_MIN_LENGTH", self.min_length)
        low, high = self.level_range or (None, None)
        self.level = self.int_setting(
            "CACHE_COMPRESS_LEVEL", self.level, low=low, high=high, optional=True
        )
        self.max_size = self.int_setting("DECOMPRESS_MAX_SIZE", self.max_size, low=0, optional=True)

    # Settings ------------------------------------------------------------------

    def setting(self, name: str, default: Any) -> Any:
        """``name`` from the cache's OPTIONS, else from Django's settings, else ``default``."""
        if name in self._options:
            return self._options[name]
        return getattr(settings, name, default)

    def int_setting(
        self,
        name: str,
        default: int | None,
        *,
        low: int | None = None,
        high: int | None = None,
        optional: bool = False,
    ) -> Any:
        """An integer setting within ``[low, high]`` (or ``None`` when ``optional``)."""
        value = self.setting(name, default)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            kind = "an integer or None" if optional else "an integer"
            raise ImproperlyConfigured(f"{name} must be {kind}, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            raise ImproperlyConfigured(f"{name} must be {bounds} for {self._name}, got {value!r}")
        return value

    def bool_setting(self, name: str, default: bool) -> bool:
        """A flag; ``0`` and ``1`` are accepted as the reference's defaults use them."""
        value = self.setting(name, default)
        if value not in (True, False) or not isinstance(value, int):
            raise ImproperlyConfigured(f"{name} must be True or False, got {value!r}")
        return bool(value)

    def choice_setting(self, name: str, default: Any, choices: Collection[Any]) -> Any:
        """A setting that must be one of ``choices``."""
        value = self.setting(name, default)
        if isinstance(value, bool) or value not in choices:
            raise ImproperlyConfigured(
                f"{name} must be one of {sorted(choices)!r} for {self._name}, got {value!r}"
            )
        return value

    @property
    def _name(self) -> str:
        return type(self).__name__

    # Compression ---------------------------------------------------------------

    def compress(self, value: bytes) -> bytes:
        """``value`` compressed, or unchanged when not longer than ``min_length``."""
        if len(value) > self.min_length:
            return self._compress(value)
        return value

    def decompress(self, value: bytes) -> bytes:
        """``value`` decompressed.

        Raises ``DecompressedSizeError`` past ``DECOMPRESS_MAX_SIZE``, and
        ``CompressorError`` for anything else that goes wrong (the codec takes
        that to mean "stored uncompressed", as short values are).
        """
        try:
            if self.max_size is None:
                return self._decompress(value)
            return self._decompress_limited(value, self.max_size)
        except DecompressedSizeError:
            raise
        except Exception as exc:
            raise CompressorError(
                f"{self._name} could not decompress the value ({type(exc).__name__}: {exc})"
            ) from exc

    def _compress(self, value: bytes) -> bytes:
        raise NotImplementedError

    def _decompress(self, value: bytes) -> bytes:
        raise NotImplementedError

    def _decompress_limited(self, value: bytes, limit: int) -> bytes:
        """Decompress at most ``limit`` bytes.  This fallback checks afterwards;
        subclasses whose library can stop early override it."""
        out = self._decompress(value)
        if len(out) > limit:
            raise too_big(limit)
        return out


def import_optional(module: str, extra: str, user: str) -> ModuleType:
    """Import a library that only some compressors need, when the compressor is
    built, so that importing the package never fails for a missing extra."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{user} needs the {extra!r} package: install the {extra!r} extra "
            f"of django-valkey-compiled (pip install 'django-valkey-compiled[{extra}]')"
        ) from exc


# Size-limited decompression -----------------------------------------------------
#
# zlib, bz2, lzma, lz4 and zstd decompressor objects share one interface:
# decompress(data, max_length=N) returns at most N bytes, with .eof and
# .unused_data.  Asking for one byte more than the budget tells "too big"
# apart from "exactly the limit" without ever producing more than that.


def too_big(limit: int) -> DecompressedSizeError:
    """The error for a value that decompresses past ``limit`` bytes."""
    return DecompressedSizeError(
        f"the decompressed value is larger than DECOMPRESS_MAX_SIZE ({limit} bytes)"
    )


def read_stream(decompressor: Any, data: bytes, budget: int, limit: int) -> bytes:
    """Decompress one complete stream of ``data`` into at most ``budget`` bytes
    (``limit`` is the configured total, for the message)."""
    out = decompressor.decompress(data, max_length=budget + 1)
    if len(out) > budget:
        raise too_big(limit)
    if not decompressor.eof:
        raise EOFError("compressed data ended before the end-of-stream marker was reached")
    return out


def read_streams(
    new_decompressor: Callable[[], Any],
    data: bytes,
    limit: int,
    *,
    empty_ok: bool = False,
    strip_zeros: bool = False,
    tolerate: tuple[type[Exception], ...] = (),
) -> bytes:
    """Decompress concatenated streams the way the library's one-shot function
    does, within ``limit`` bytes in total.

    ``empty_ok``: empty input gives ``b""``; ``strip_zeros``: zero padding
    between streams is skipped (gzip); ``tolerate``: these errors in a stream
    after the first end the data instead of failing (bz2, lzma).
    """
    if empty_ok and not data:
        return b""
    parts: list[bytes] = []
    budget = limit
    while True:
        decompressor = new_decompressor()
        try:
            part = read_stream(decompressor, data, budget, limit)
        except tolerate:
            if not parts:
                raise
            break
        parts.append(part)
        budget -= len(part)
        data = decompressor.unused_data
        if strip_zeros:
            data = data.lstrip(b"\x00")
        if not data:
            break
    return b"".join(parts)
