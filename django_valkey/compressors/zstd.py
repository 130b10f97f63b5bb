"""Zstandard compressor: ``compression.zstd`` on Python 3.14+, ``backports.zstd``
before (the ``zstd`` extra)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_valkey.compressors.base import (
    BaseCompressor,
    import_optional,
    read_streams,
    too_big,
)

_MODULE = "compression.zstd" if sys.version_info >= (3, 14) else "backports.zstd"


class ZStdCompressor(BaseCompressor):
    """Compresses with the standard Zstandard API.

    ``CACHE_COMPRESS_LEVEL`` (default 1), or ``COMPRESS_ZSTD_OPTIONS``, a dict
    of ``CompressionParameter`` (then the level goes in there, as
    ``compression_level``: the library takes one or the other).
    ``DECOMPRESS_ZSTD_OPTIONS``: a dict of ``DecompressionParameter``.
    ``COMPRESS_ZSTD_DICT`` / ``DECOMPRESS_ZSTD_DICT``: a ``ZstdDict`` (or the
    raw dictionary bytes); decompression falls back to the compression one.
    """

    options: Mapping[Any, int] | None = None
    decomp_options: Mapping[Any, int] | None = None
    zstd_dict: Any = None
    decomp_zstd_dict: Any = None

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        zstd = self._zstd = import_optional(_MODULE, "zstd", type(self).__name__)
        self.level_range = zstd.CompressionParameter.compression_level.bounds()
        super().__init__(options)
        self.options = self._options_setting("COMPRESS_ZSTD_OPTIONS", self.options)
        self.decomp_options = self._options_setting("DECOMPRESS_ZSTD_OPTIONS", self.decomp_options)
        self.zstd_dict = self._dict_setting("COMPRESS_ZSTD_DICT", self.zstd_dict)
        self.decomp_zstd_dict = self._dict_setting("DECOMPRESS_ZSTD_DICT", self.decomp_zstd_dict)
        # Build each side once so that a bad parameter is reported now, with
        # the setting's name, instead of on the first set() or get().
        try:
            zstd.ZstdCompressor(**self._compress_kwargs())
        except (TypeError, ValueError, zstd.ZstdError) as exc:
            raise ImproperlyConfigured(
                f"COMPRESS_ZSTD_OPTIONS / COMPRESS_ZSTD_DICT: {exc}"
            ) from exc
        try:
            zstd.ZstdDecompressor(**self._decompress_kwargs())
        except (TypeError, ValueError, zstd.ZstdError) as exc:
            raise ImproperlyConfigured(
                f"DECOMPRESS_ZSTD_OPTIONS / DECOMPRESS_ZSTD_DICT: {exc}"
            ) from exc

    def _options_setting(self, name: str, default: Any) -> Any:
        value = self.setting(name, default)
        if value is None or isinstance(value, Mapping):
            return dict(value) if value else None
        raise ImproperlyConfigured(f"{name} must be None or a dict, got {value!r}")

    def _dict_setting(self, name: str, default: Any) -> Any:
        value = self.setting(name, default)
        zstd_dict = self._zstd.ZstdDict
        if isinstance(value, (bytes, bytearray)):
            try:
                return zstd_dict(bytes(value))
            except ValueError as exc:
                raise ImproperlyConfigured(f"{name}: {exc}") from exc
        # (ZstdDict, mode) pairs come from ZstdDict.as_digested_dict and friends.
        pair = isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], zstd_dict)
        if value is None or pair or isinstance(value, zstd_dict):
            return value
        raise ImproperlyConfigured(f"{name} must be None, a ZstdDict or bytes, got {value!r}")

    def _compress_kwargs(self) -> dict[str, Any]:
        # Only one of level and options may be given (the reference passed both).
        if self.options is not None:
            return {"options": self.options, "zstd_dict": self.zstd_dict}
        return {"level": self.level or 1, "zstd_dict": self.zstd_dict}

    def _decompress_kwargs(self) -> dict[str, Any]:
        # Compression parameters mean nothing to a decompressor, so unlike the
        # reference COMPRESS_ZSTD_OPTIONS is not a fallback here.
        zstd_dict = self.zstd_dict if self.decomp_zstd_dict is None else self.decomp_zstd_dict
        return {"zstd_dict": zstd_dict, "options": self.decomp_options}

    def _compress(self, value: bytes) -> bytes:
        return self._zstd.compress(value, **self._compress_kwargs())

    def _decompress(self, value: bytes) -> bytes:
        return self._zstd.decompress(value, **self._decompress_kwargs())

    def _decompress_limited(self, value: bytes, limit: int) -> bytes:
        # A first frame that states its size is refused before any work.
        size = self._zstd.get_frame_info(value).decompressed_size
        if size is not None and size > limit:
            raise too_big(limit)
        kwargs = self._decompress_kwargs()
        return read_streams(lambda: self._zstd.ZstdDecompressor(**kwargs), value, limit)
