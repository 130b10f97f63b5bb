"""zlib compressor (standard library)."""

from __future__ import annotations

import sys
import zlib
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_valkey.compressors.base import BaseCompressor, read_stream


class ZlibCompressor(BaseCompressor):
    """Compresses with :mod:`zlib`.

    ``CACHE_COMPRESS_LEVEL``: -1 to 9 (default 6).  ``COMPRESS_ZLIB_WBITS``
    (15), used to compress and to decompress: 9..15 for a zlib header,
    -9..-15 for raw deflate, 25..31 for a gzip header.
    """

    level_range = (-1, 9)
    wbits: int = 15

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        wbits = self.int_setting("COMPRESS_ZLIB_WBITS", self.wbits)
        if not (9 <= abs(wbits) <= 15 or 25 <= wbits <= 31):
            raise ImproperlyConfigured(
                f"COMPRESS_ZLIB_WBITS must be 9..15, -9..-15 or 25..31, got {wbits!r}"
            )
        self.wbits = wbits

    def _compress(self, value: bytes) -> bytes:
        level = self.level or 6
        if sys.version_info >= (3, 11):
            return zlib.compress(value, level=level, wbits=self.wbits)
        # zlib.compress() has no wbits before 3.11; a compressobj with the
        # same parameters writes the same bytes.
        compressor = zlib.compressobj(level, zlib.DEFLATED, self.wbits)
        return compressor.compress(value) + compressor.flush()

    def _decompress(self, value: bytes) -> bytes:
        return zlib.decompress(value, wbits=self.wbits)

    def _decompress_limited(self, value: bytes, limit: int) -> bytes:
        # One stream; like zlib.decompress, anything after its end is ignored.
        return read_stream(zlib.decompressobj(wbits=self.wbits), value, limit, limit)
