"""gzip compressor (standard library)."""

from __future__ import annotations

import gzip
import zlib

from django_valkey.compressors.base import BaseCompressor, read_streams

# zlib's window bits for "a gzip header and trailer, checked".
_GZIP_WBITS = 16 + zlib.MAX_WBITS


def _member_decompressor() -> zlib._Decompress:
    return zlib.decompressobj(wbits=_GZIP_WBITS)


class GzipCompressor(BaseCompressor):
    """Compresses with :mod:`gzip`; ``CACHE_COMPRESS_LEVEL``: 0 to 9 (default 9).

    Like the reference, the gzip header records the time of compression, so
    the same value compressed twice differs in those four bytes.
    """

    level_range = (0, 9)

    def _compress(self, value: bytes) -> bytes:
        return gzip.compress(value, compresslevel=self.level or 9)

    def _decompress(self, value: bytes) -> bytes:
        return gzip.decompress(value)

    def _decompress_limited(self, value: bytes, limit: int) -> bytes:
        # Members in a row, zero padding between them skipped: what
        # gzip.decompress accepts, but through zlib so output can be capped.
        return read_streams(_member_decompressor, value, limit, empty_ok=True, strip_zeros=True)
