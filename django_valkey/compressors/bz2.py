"""bzip2 compressor (standard library)."""

from __future__ import annotations

import bz2

from django_valkey.compressors.base import BaseCompressor, read_streams


class Bz2Compressor(BaseCompressor):
    """Compresses with :mod:`bz2`; ``CACHE_COMPRESS_LEVEL``: 1 to 9 (default 9)."""

    level_range = (1, 9)

    def _compress(self, value: bytes) -> bytes:
        return bz2.compress(value, compresslevel=self.level or 9)

    def _decompress(self, value: bytes) -> bytes:
        return bz2.decompress(value)

    def _decompress_limited(self, value: bytes, limit: int) -> bytes:
        # As bz2.decompress: streams in a row, trailing garbage after the
        # first stream ignored.
        return read_streams(bz2.BZ2Decompressor, value, limit, empty_ok=True, tolerate=(OSError,))
