"""LZ4 frame compressor (needs the ``lz4`` extra)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django_valkey.compressors.base import BaseCompressor, import_optional, read_stream, too_big

# lz4.frame.BLOCKSIZE_DEFAULT, _MAX64KB, _MAX256KB, _MAX1MB, _MAX4MB
_BLOCK_SIZES = (0, 4, 5, 6, 7)


class Lz4Compressor(BaseCompressor):
    """Compresses LZ4 frames with ``lz4.frame``.

    ``CACHE_COMPRESS_LEVEL`` (default 0, the fast mode; up to 16),
    ``COMPRESS_LZ4_BLOCK_SIZE`` (0), ``COMPRESS_LZ4_CONTENT_CHECKSUM`` (False),
    ``COMPRESS_LZ4_BLOCK_LINKED`` (True), ``COMPRESS_LZ4_STORE_SIZE`` (True).
    """

    block_size: int = 0
    content_checksum: bool = False
    block_linked: bool = True
    store_size: bool = True

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self._frame = import_optional("lz4.frame", "lz4", type(self).__name__)
        super().__init__(options)
        self.block_size = self.choice_setting(
            "COMPRESS_LZ4_BLOCK_SIZE", self.block_size, _BLOCK_SIZES
        )
        self.content_checksum = self.bool_setting(
            "COMPRESS_LZ4_CONTENT_CHECKSUM", self.content_checksum
        )
        self.block_linked = self.bool_setting("COMPRESS_LZ4_BLOCK_LINKED", self.block_linked)
        self.store_size = self.bool_setting("COMPRESS_LZ4_STORE_SIZE", self.store_size)

    def _compress(self, value: bytes) -> bytes:
        return self._frame.compress(
            value,
            compression_level=self.level or 0,
            block_size=self.block_size,
            content_checksum=self.content_checksum,
            block_linked=self.block_linked,
            store_size=self.store_size,
        )

    def _decompress(self, value: bytes) -> bytes:
        return self._frame.decompress(value)

    def _decompress_limited(self, value: bytes, limit: int) -> bytes:
        # A frame that states its size is refused before any work; the
        # others are cut off by the streaming decompressor.
        if self._frame.get_frame_info(value)["content_size"] > limit:
            raise too_big(limit)
        return read_stream(self._frame.LZ4FrameDecompressor(), value, limit, limit)
