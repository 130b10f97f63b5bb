"""LZMA / xz compressor (standard library)."""

from __future__ import annotations

import lzma
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_valkey.compressors.base import BaseCompressor, read_streams

_COMPRESS_FORMATS = (lzma.FORMAT_XZ, lzma.FORMAT_ALONE, lzma.FORMAT_RAW)
_DECOMPRESS_FORMATS = (lzma.FORMAT_AUTO, *_COMPRESS_FORMATS)
_CHECKS = (-1, lzma.CHECK_NONE, lzma.CHECK_CRC32, lzma.CHECK_CRC64, lzma.CHECK_SHA256)


class LzmaCompressor(BaseCompressor):
    """Compresses with :mod:`lzma`.

    ``CACHE_COMPRESS_LEVEL`` is the preset, 0 to 9, optionally
    ``| lzma.PRESET_EXTREME`` (default 4).  Compression: ``COMPRESS_LZMA_FORMAT``
    (``FORMAT_XZ``), ``COMPRESS_LZMA_CHECK`` (-1), ``COMPRESS_LZMA_FILTERS``
    (None; when set, the preset is not used: put it in the filter chain).
    Decompression: ``DECOMPRESS_LZMA_MEMLIMIT`` (None), ``DECOMPRESS_LZMA_FORMAT``
    (``FORMAT_AUTO``), ``DECOMPRESS_LZMA_FILTERS`` (None, ``FORMAT_RAW`` only).
    """

    format: int = lzma.FORMAT_XZ
    check: int = -1
    filters: Sequence[Mapping[str, Any]] | None = None
    memlimit: int | None = None
    decomp_format: int = lzma.FORMAT_AUTO
    decomp_filters: Sequence[Mapping[str, Any]] | None = None

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        if self.level is not None and not 0 <= self.level & ~lzma.PRESET_EXTREME <= 9:
            raise ImproperlyConfigured(
                "CACHE_COMPRESS_LEVEL must be a preset 0..9 (optionally "
                f"| lzma.PRESET_EXTREME) for {self._name}, got {self.level!r}"
            )
        self.format = self.choice_setting("COMPRESS_LZMA_FORMAT", self.format, _COMPRESS_FORMATS)
        self.check = self.choice_setting("COMPRESS_LZMA_CHECK", self.check, _CHECKS)
        self.filters = self._filters_setting("COMPRESS_LZMA_FILTERS", self.filters)
        self.memlimit = self.int_setting(
            "DECOMPRESS_LZMA_MEMLIMIT", self.memlimit, low=1, optional=True
        )
        self.decomp_format = self.choice_setting(
            "DECOMPRESS_LZMA_FORMAT", self.decomp_format, _DECOMPRESS_FORMATS
        )
        self.decomp_filters = self._filters_setting("DECOMPRESS_LZMA_FILTERS", self.decomp_filters)
        self._check_combinations()

    def _filters_setting(self, name: str, default: Any) -> Any:
        value = self.setting(name, default)
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(spec, Mapping) and "id" in spec for spec in value
        ):
            raise ImproperlyConfigured(
                f"{name} must be None or a list of filter dicts with an 'id', got {value!r}"
            )
        return value

    def _check_combinations(self) -> None:
        # lzma only says so when a value is first compressed; say it now.
        if self.format == lzma.FORMAT_RAW and self.filters is None:
            raise ImproperlyConfigured(
                "COMPRESS_LZMA_FORMAT = FORMAT_RAW needs COMPRESS_LZMA_FILTERS"
            )
        if self.format != lzma.FORMAT_XZ and self.check not in (-1, lzma.CHECK_NONE):
            raise ImproperlyConfigured("COMPRESS_LZMA_CHECK can only be set with FORMAT_XZ")
        raw = self.decomp_format == lzma.FORMAT_RAW
        if raw != (self.decomp_filters is not None):
            raise ImproperlyConfigured(
                "DECOMPRESS_LZMA_FILTERS is needed with, and only with, "
                "DECOMPRESS_LZMA_FORMAT = FORMAT_RAW"
            )
        if raw and self.memlimit is not None:
            raise ImproperlyConfigured("DECOMPRESS_LZMA_MEMLIMIT cannot be used with FORMAT_RAW")

    def _compress(self, value: bytes) -> bytes:
        # The reference passed the preset even with filters, which lzma
        # refuses: a filter chain carries its own presets.
        preset = None if self.filters is not None else self.level or 4
        return lzma.compress(
            value, format=self.format, check=self.check, preset=preset, filters=self.filters
        )

    def _decompress(self, value: bytes) -> bytes:
        return lzma.decompress(
            value, format=self.decomp_format, memlimit=self.memlimit, filters=self.decomp_filters
        )

    def _new_decompressor(self) -> lzma.LZMADecompressor:
        return lzma.LZMADecompressor(self.decomp_format, self.memlimit, self.decomp_filters)

    def _decompress_limited(self, value: bytes, limit: int) -> bytes:
        # As lzma.decompress: streams in a row, trailing garbage ignored.
        return read_streams(self._new_decompressor, value, limit, tolerate=(lzma.LZMAError,))
