"""The default compressor, which stores values as they are."""

from __future__ import annotations

from django_valkey.compressors.base import BaseCompressor


class IdentityCompressor(BaseCompressor):
    """Leaves values unchanged (the default).

    The codec skips this exact class altogether; it exists so that switching
    compressors is a one-line change of ``OPTIONS["COMPRESSOR"]``.
    """

    def _compress(self, value: bytes) -> bytes:
        return value

    def _decompress(self, value: bytes) -> bytes:
        return value

    def _decompress_limited(self, value: bytes, limit: int) -> bytes:
        # Nothing is expanded: the stored value is already in memory, so
        # DECOMPRESS_MAX_SIZE has nothing to protect against here.
        return value
