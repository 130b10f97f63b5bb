"""Brotli compressor (needs the ``brotli`` extra)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_valkey.compressors.base import BaseCompressor, import_optional, too_big

_MODES = ("GENERIC", "TEXT", "FONT")


class BrotliCompressor(BaseCompressor):
    """Compresses with ``brotli``.

    ``CACHE_COMPRESS_LEVEL`` is the quality, 0 to 11 (default 11);
    ``COMPRESS_BROTLI_MODE`` "GENERIC" (default), "TEXT" or "FONT" (an
    unknown mode is an error, where the reference silently used GENERIC);
    ``COMPRESS_BROTLI_LGWIN`` 10..24 (22); ``COMPRESS_BROTLI_LGBLOCK`` 0 or
    16..24 (0).
    """

    level_range = (0, 11)
    mode: Any = "GENERIC"
    lgwin: int = 22
    lgblock: int = 0

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self._brotli = import_optional("brotli", "brotli", type(self).__name__)
        super().__init__(options)
        self.mode = self._mode_setting()
        self.lgwin = self.int_setting("COMPRESS_BROTLI_LGWIN", self.lgwin, low=10, high=24)
        self.lgblock = self.int_setting("COMPRESS_BROTLI_LGBLOCK", self.lgblock, low=0, high=24)
        if 0 < self.lgblock < 16:
            raise ImproperlyConfigured(
                f"COMPRESS_BROTLI_LGBLOCK must be 0 or 16..24, got {self.lgblock!r}"
            )
        # output_buffer_limit came with brotli 1.2; older versions can only
        # check the size after decompressing everything.
        self._can_limit = hasattr(self._brotli.Decompressor, "can_accept_more_data")

    def _mode_setting(self) -> int:
        value = self.setting("COMPRESS_BROTLI_MODE", self.mode)
        modes = {name: getattr(self._brotli, f"MODE_{name}") for name in _MODES}
        if isinstance(value, str) and value.upper() in modes:
            return modes[value.upper()]
        if not isinstance(value, bool) and value in modes.values():
            return value
        raise ImproperlyConfigured(
            f"COMPRESS_BROTLI_MODE must be one of {', '.join(_MODES)}, got {value!r}"
        )

    def _compress(self, value: bytes) -> bytes:
        return self._brotli.compress(
            value,
            quality=self.level or 11,
            lgwin=self.lgwin,
            lgblock=self.lgblock,
            mode=self.mode,
        )

    def _decompress(self, value: bytes) -> bytes:
        return self._brotli.decompress(value)

    def _decompress_limited(self, value: bytes, limit: int) -> bytes:
        if not self._can_limit:
            return super()._decompress_limited(value, limit)
        decompressor = self._brotli.Decompressor()
        # The output buffer stops growing once it reaches the limit: at most
        # one buffer step past it is ever produced.
        out = decompressor.process(value, output_buffer_limit=limit + 1)
        if len(out) > limit:
            raise too_big(limit)
        if not decompressor.is_finished():
            raise EOFError("brotli data ended before the end of the stream")
        return out
