"""Compressors: settings (OPTIONS, Django settings, validation), the bytes they
write, errors, and the DECOMPRESS_MAX_SIZE cap against compression bombs."""

from __future__ import annotations

import bz2
import functools
import gzip
import importlib
import lzma
import sys
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils.module_loading import import_string
from hypothesis import given, settings
from hypothesis import strategies as st

from django_valkey.compressors.base import BaseCompressor
from django_valkey.compressors.identity import IdentityCompressor
from django_valkey.exceptions import CompressorError, DecompressedSizeError

brotli = pytest.importorskip("brotli")
lz4_frame = pytest.importorskip("lz4.frame")
zstd = pytest.importorskip("compression.zstd" if sys.version_info >= (3, 14) else "backports.zstd")

COMPRESSORS = {
    "identity": "django_valkey.compressors.identity.IdentityCompressor",
    "zlib": "django_valkey.compressors.zlib.ZlibCompressor",
    "gzip": "django_valkey.compressors.gzip.GzipCompressor",
    "bz2": "django_valkey.compressors.bz2.Bz2Compressor",
    "lzma": "django_valkey.compressors.lzma.LzmaCompressor",
    "lz4": "django_valkey.compressors.lz4.Lz4Compressor",
    "zstd": "django_valkey.compressors.zstd.ZStdCompressor",
    "brotli": "django_valkey.compressors.brotli.BrotliCompressor",
}
REAL = [name for name in COMPRESSORS if name != "identity"]

# What the reference calls with the default settings (level None -> these).
LIBRARY_DEFAULT: dict[str, Callable[[bytes], bytes]] = {
    "zlib": lambda v: zlib.compress(v, level=6, wbits=15),
    "gzip": lambda v: gzip.compress(v, compresslevel=9),
    "bz2": lambda v: bz2.compress(v, compresslevel=9),
    "lzma": lambda v: lzma.compress(v, preset=4, format=lzma.FORMAT_XZ, check=-1),
    "lz4": lambda v: lz4_frame.compress(
        v,
        compression_level=0,
        block_size=0,
        content_checksum=False,
        block_linked=True,
        store_size=True,
    ),
    "zstd": lambda v: zstd.compress(v, level=1),
    "brotli": lambda v: brotli.compress(v, quality=11, lgwin=22, lgblock=0),
}

DATA = b"".join(b"value %d of a cached thing; " % i for i in range(400))


def make(name: str, **options: Any) -> Any:
    return import_string(COMPRESSORS[name])(options=options)


def without_mtime(data: bytes) -> bytes:
    """gzip output with the header's MTIME (bytes 4-8) zeroed: gzip.compress
    stamps the current time, as the reference does."""
    return data[:4] + b"\0\0\0\0" + data[8:]


# Compression ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(COMPRESSORS))
@pytest.mark.parametrize("size", [16, 100, 70_000])
def test_round_trip(name: str, size: int) -> None:
    compressor = make(name)
    value = (DATA * (size // len(DATA) + 1))[:size]
    assert compressor.decompress(compressor.compress(value)) == value


@pytest.mark.parametrize("name", list(COMPRESSORS))
def test_values_up_to_min_length_are_stored_as_they_are(name: str) -> None:
    compressor = make(name)
    assert compressor.min_length == 15
    assert compressor.compress(b"x" * 15) == b"x" * 15
    assert compressor.compress(b"") == b""


@pytest.mark.parametrize("name", REAL)
def test_default_output_is_the_library_call_of_the_reference(name: str) -> None:
    ours = make(name).compress(DATA)
    expected = LIBRARY_DEFAULT[name](DATA)
    if name == "gzip":
        ours, expected = without_mtime(ours), without_mtime(expected)
    assert ours == expected


def test_base_compressor_is_abstract() -> None:
    compressor = BaseCompressor(options={})
    assert compressor.compress(b"short") == b"short"
    with pytest.raises(NotImplementedError):
        compressor.compress(DATA)
    with pytest.raises(CompressorError) as info:
        compressor.decompress(DATA)
    assert isinstance(info.value.__cause__, NotImplementedError)


def test_identity_returns_the_same_object() -> None:
    compressor = make("identity")
    assert compressor.compress(DATA) is DATA
    assert compressor.decompress(DATA) is DATA


def test_options_and_attributes_kept_for_compatibility() -> None:
    options = {"COMPRESSOR": COMPRESSORS["zlib"]}
    compressor = make("zlib", **options)
    assert compressor._options == options
    assert compressor.level is None
    assert compressor.wbits == 15
    assert IdentityCompressor(options={}).min_length == 15


# Settings --------------------------------------------------------------------------


def test_settings_are_read_per_instance() -> None:
    with override_settings(CACHE_COMPRESS_LEVEL=1, CACHE_COMPRESS_MIN_LENGTH=100):
        tuned = make("zlib")
    plain = make("zlib")
    assert (tuned.level, tuned.min_length) == (1, 100)
    assert (plain.level, plain.min_length) == (None, 15)
    assert tuned.compress(DATA) == zlib.compress(DATA, level=1)
    assert tuned.compress(b"x" * 100) == b"x" * 100


def test_options_win_over_django_settings() -> None:
    with override_settings(CACHE_COMPRESS_LEVEL=1, COMPRESS_ZLIB_WBITS=-15):
        compressor = make("zlib", CACHE_COMPRESS_LEVEL=9, COMPRESS_ZLIB_WBITS=31)
    assert compressor.level == 9
    assert compressor.wbits == 31
    assert compressor.compress(DATA) == zlib.compress(DATA, level=9, wbits=31)
    assert gzip.decompress(compressor.compress(DATA)) == DATA


def test_level_zero_means_the_default_as_in_the_reference() -> None:
    assert make("zlib", CACHE_COMPRESS_LEVEL=0).compress(DATA) == zlib.compress(DATA, level=6)
    assert make("bz2", CACHE_COMPRESS_LEVEL=None).compress(DATA) == bz2.compress(DATA, 9)


@pytest.mark.parametrize(
    ("name", "setting", "value"),
    [
        ("zlib", "CACHE_COMPRESS_LEVEL", "6"),
        ("zlib", "CACHE_COMPRESS_LEVEL", 10),
        ("zlib", "CACHE_COMPRESS_LEVEL", True),
        ("gzip", "CACHE_COMPRESS_LEVEL", 1.5),
        ("bz2", "CACHE_COMPRESS_LEVEL", 0.0),
        ("bz2", "CACHE_COMPRESS_LEVEL", 10),
        ("brotli", "CACHE_COMPRESS_LEVEL", 12),
        ("lzma", "CACHE_COMPRESS_LEVEL", 10),
        ("zstd", "CACHE_COMPRESS_LEVEL", 10**6),
        ("lz4", "CACHE_COMPRESS_LEVEL", "fast"),
        ("identity", "CACHE_COMPRESS_MIN_LENGTH", None),
        ("zlib", "CACHE_COMPRESS_MIN_LENGTH", "15"),
        ("zlib", "DECOMPRESS_MAX_SIZE", -1),
        ("zlib", "DECOMPRESS_MAX_SIZE", "1MB"),
        ("zlib", "COMPRESS_ZLIB_WBITS", 8),
        ("zlib", "COMPRESS_ZLIB_WBITS", 47),
        ("zlib", "COMPRESS_ZLIB_WBITS", None),
        ("lzma", "COMPRESS_LZMA_FORMAT", 0),
        ("lzma", "COMPRESS_LZMA_FORMAT", "xz"),
        ("lzma", "COMPRESS_LZMA_CHECK", 7),
        ("lzma", "COMPRESS_LZMA_FILTERS", {"id": lzma.FILTER_LZMA2}),
        ("lzma", "COMPRESS_LZMA_FILTERS", [{"preset": 1}]),
        ("lzma", "DECOMPRESS_LZMA_MEMLIMIT", "big"),
        ("lzma", "DECOMPRESS_LZMA_FORMAT", 9),
        ("lzma", "DECOMPRESS_LZMA_FILTERS", [{"id": lzma.FILTER_LZMA2}]),
        ("lz4", "COMPRESS_LZ4_BLOCK_SIZE", 3),
        ("lz4", "COMPRESS_LZ4_CONTENT_CHECKSUM", "yes"),
        ("lz4", "COMPRESS_LZ4_BLOCK_LINKED", 2),
        ("lz4", "COMPRESS_LZ4_STORE_SIZE", None),
        ("brotli", "COMPRESS_BROTLI_MODE", "PICTURE"),
        ("brotli", "COMPRESS_BROTLI_MODE", None),
        ("brotli", "COMPRESS_BROTLI_LGWIN", 25),
        ("brotli", "COMPRESS_BROTLI_LGBLOCK", 10),
        ("zstd", "COMPRESS_ZSTD_OPTIONS", [("level", 3)]),
        ("zstd", "COMPRESS_ZSTD_OPTIONS", {"not a parameter": 3}),
        ("zstd", "DECOMPRESS_ZSTD_OPTIONS", {zstd.CompressionParameter.compression_level: 3}),
        ("zstd", "COMPRESS_ZSTD_DICT", "a dictionary"),
        ("zstd", "DECOMPRESS_ZSTD_DICT", 42),
    ],
)
def test_bad_settings_name_the_setting(name: str, setting: str, value: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match=setting):
        make(name, **{setting: value})
    with override_settings(**{setting: value}), pytest.raises(ImproperlyConfigured, match=setting):
        make(name)


@pytest.mark.parametrize(
    "options",
    [
        {"COMPRESS_LZMA_FORMAT": lzma.FORMAT_RAW},
        {"COMPRESS_LZMA_FORMAT": lzma.FORMAT_ALONE, "COMPRESS_LZMA_CHECK": lzma.CHECK_CRC32},
        {"DECOMPRESS_LZMA_FORMAT": lzma.FORMAT_RAW},
        {
            "DECOMPRESS_LZMA_FORMAT": lzma.FORMAT_RAW,
            "DECOMPRESS_LZMA_FILTERS": [{"id": lzma.FILTER_LZMA2}],
            "DECOMPRESS_LZMA_MEMLIMIT": 2**20,
        },
    ],
)
def test_lzma_combinations_lzma_would_refuse_later(options: dict[str, Any]) -> None:
    with pytest.raises(ImproperlyConfigured, match="LZMA"):
        make("lzma", **options)


def test_lzma_filters_work() -> None:
    # The reference passed the preset along with the filters, which lzma refuses.
    filters = [{"id": lzma.FILTER_DELTA, "dist": 4}, {"id": lzma.FILTER_LZMA2, "preset": 1}]
    compressor = make("lzma", COMPRESS_LZMA_FILTERS=filters)
    assert compressor.compress(DATA) == lzma.compress(DATA, filters=filters)
    assert compressor.decompress(compressor.compress(DATA)) == DATA
    raw = make(
        "lzma",
        COMPRESS_LZMA_FORMAT=lzma.FORMAT_RAW,
        COMPRESS_LZMA_FILTERS=filters,
        DECOMPRESS_LZMA_FORMAT=lzma.FORMAT_RAW,
        DECOMPRESS_LZMA_FILTERS=filters,
        DECOMPRESS_MAX_SIZE=len(DATA),
    )
    assert raw.decompress(raw.compress(DATA)) == DATA


def test_lzma_settings_reach_the_library() -> None:
    compressor = make(
        "lzma",
        CACHE_COMPRESS_LEVEL=1 | lzma.PRESET_EXTREME,
        COMPRESS_LZMA_CHECK=lzma.CHECK_SHA256,
        DECOMPRESS_LZMA_MEMLIMIT=2**26,
    )
    expected = lzma.compress(DATA, preset=1 | lzma.PRESET_EXTREME, check=lzma.CHECK_SHA256)
    assert compressor.compress(DATA) == expected
    assert compressor.decompress(expected) == DATA


def test_lz4_settings_reach_the_library() -> None:
    compressor = make(
        "lz4",
        CACHE_COMPRESS_LEVEL=9,
        COMPRESS_LZ4_BLOCK_SIZE=lz4_frame.BLOCKSIZE_MAX256KB,
        COMPRESS_LZ4_CONTENT_CHECKSUM=True,
        COMPRESS_LZ4_BLOCK_LINKED=False,
        COMPRESS_LZ4_STORE_SIZE=0,
    )
    expected = lz4_frame.compress(
        DATA,
        compression_level=9,
        block_size=lz4_frame.BLOCKSIZE_MAX256KB,
        content_checksum=True,
        block_linked=False,
        store_size=False,
    )
    assert compressor.compress(DATA) == expected


@pytest.mark.parametrize(
    ("mode", "constant"),
    [("TEXT", "MODE_TEXT"), ("font", "MODE_FONT"), ("Generic", "MODE_GENERIC"), (1, "MODE_TEXT")],
)
def test_brotli_modes(mode: Any, constant: str) -> None:
    compressor = make("brotli", COMPRESS_BROTLI_MODE=mode, COMPRESS_BROTLI_LGWIN=16)
    assert compressor.mode == getattr(brotli, constant)
    expected = brotli.compress(DATA, quality=11, lgwin=16, mode=getattr(brotli, constant))
    assert compressor.compress(DATA) == expected


def test_zstd_options_work() -> None:
    # The reference passed level= with options=, which the library refuses.
    level, checksum = (
        zstd.CompressionParameter.compression_level,
        zstd.CompressionParameter.checksum_flag,
    )
    options = {level: 7, checksum: 1}
    with override_settings(COMPRESS_ZSTD_OPTIONS=options, CACHE_COMPRESS_LEVEL=3):
        compressor = make("zstd")
    assert compressor.compress(DATA) == zstd.compress(DATA, options=options)
    assert compressor.decompress(compressor.compress(DATA)) == DATA


def test_zstd_decompression_options_and_dictionaries() -> None:
    content = b"".join(b"value %d of a cached" % i for i in range(50))
    shared = zstd.ZstdDict(content, is_raw=True)
    window = {zstd.DecompressionParameter.window_log_max: 20}
    writer = make("zstd", COMPRESS_ZSTD_DICT=shared, CACHE_COMPRESS_LEVEL=5)
    stored = writer.compress(DATA)
    assert stored == zstd.compress(DATA, level=5, zstd_dict=shared)
    assert writer.decompress(stored) == DATA
    reader = make("zstd", DECOMPRESS_ZSTD_DICT=shared, DECOMPRESS_ZSTD_OPTIONS=window)
    assert reader.decompress(stored) == DATA
    samples = [b"value %d of a cached thing %s" % (i, b"x" * (i % 37)) for i in range(2000)]
    trained = zstd.train_dict(samples, 4096).dict_content
    from_bytes = make("zstd", COMPRESS_ZSTD_DICT=trained)
    assert isinstance(from_bytes.zstd_dict, zstd.ZstdDict)
    assert from_bytes.decompress(from_bytes.compress(DATA)) == DATA
    with pytest.raises(ImproperlyConfigured, match="COMPRESS_ZSTD_DICT"):
        make("zstd", COMPRESS_ZSTD_DICT=b"not a dictionary")
    with pytest.raises(CompressorError):
        make("zstd").decompress(stored)


# Missing libraries -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "blocked", "extra"),
    [
        ("lz4", ["lz4", "lz4.frame"], "lz4"),
        ("brotli", ["brotli"], "brotli"),
        ("zstd", ["compression.zstd", "backports.zstd"], "zstd"),
    ],
)
def test_missing_library(
    monkeypatch: pytest.MonkeyPatch, name: str, blocked: list[str], extra: str
) -> None:
    for module in blocked:
        monkeypatch.setitem(sys.modules, module, None)  # makes the import fail
    module_path, cls_name = COMPRESSORS[name].rsplit(".", 1)
    cls = getattr(importlib.reload(importlib.import_module(module_path)), cls_name)
    with pytest.raises(ImproperlyConfigured, match=f"'{extra}' extra") as raised:
        cls(options={})
    # The distribution users install is ours, not the upstream django-valkey.
    assert f"pip install 'django-valkey-compiled[{extra}]'" in str(raised.value)


# Errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REAL)
@pytest.mark.parametrize("max_size", [None, 10**6])
def test_truncated_and_garbage_values_raise_compressor_error(name: str, max_size: Any) -> None:
    compressor = make(name, DECOMPRESS_MAX_SIZE=max_size)
    stored = compressor.compress(DATA)
    for bad in (stored[: len(stored) // 2], stored[:-1], b"garbage" * 5, b""):
        if name in ("gzip", "bz2") and bad == b"":
            assert compressor.decompress(bad) == b""  # as gzip/bz2.decompress
            continue
        with pytest.raises(CompressorError) as info:
            compressor.decompress(bad)
        assert not isinstance(info.value, DecompressedSizeError)
        assert info.value.__cause__ is not None
        assert type(compressor).__name__ in str(info.value)


@pytest.mark.parametrize("name", REAL)
@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_only_ever_raise_compressor_error(name: str, data: bytes) -> None:
    for max_size in (None, 1000):
        compressor = make(name, DECOMPRESS_MAX_SIZE=max_size)
        try:
            out = compressor.decompress(data)
        except CompressorError:
            continue
        assert isinstance(out, bytes)


# The decompressed-size cap -----------------------------------------------------------


@pytest.mark.parametrize("name", REAL)
def test_cap_allows_up_to_the_limit(name: str) -> None:
    stored = make(name).compress(DATA)
    assert make(name, DECOMPRESS_MAX_SIZE=len(DATA)).decompress(stored) == DATA
    with pytest.raises(DecompressedSizeError, match="DECOMPRESS_MAX_SIZE"):
        make(name, DECOMPRESS_MAX_SIZE=len(DATA) - 1).decompress(stored)


def test_cap_applies_to_concatenated_streams() -> None:
    half = len(DATA) // 2
    for name, joined in [
        ("gzip", gzip.compress(DATA[:half]) + b"\0\0" + gzip.compress(DATA[half:])),
        ("bz2", bz2.compress(DATA[:half]) + bz2.compress(DATA[half:])),
        ("lzma", lzma.compress(DATA[:half]) + lzma.compress(DATA[half:])),
        ("zstd", zstd.compress(DATA[:half]) + zstd.compress(DATA[half:])),
    ]:
        assert make(name).decompress(joined) == DATA
        assert make(name, DECOMPRESS_MAX_SIZE=len(DATA)).decompress(joined) == DATA
        with pytest.raises(DecompressedSizeError):
            make(name, DECOMPRESS_MAX_SIZE=len(DATA) - 1).decompress(joined)


def test_capped_reads_ignore_what_the_library_ignores() -> None:
    # Trailing garbage after a complete first stream: ignored by bz2, lzma and
    # zlib one-shot functions, and so by the capped path too.
    for name, stored in [
        ("bz2", bz2.compress(DATA) + b"junk"),
        ("lzma", lzma.compress(DATA) + b"junk"),
        ("zlib", zlib.compress(DATA) + b"junk"),
        ("lz4", lz4_frame.compress(DATA) + b"junk"),
    ]:
        assert make(name).decompress(stored) == DATA
        assert make(name, DECOMPRESS_MAX_SIZE=len(DATA)).decompress(stored) == DATA


def test_identity_has_nothing_to_cap() -> None:
    assert make("identity", DECOMPRESS_MAX_SIZE=1).decompress(DATA) == DATA


def test_brotli_without_output_limit_checks_afterwards() -> None:
    compressor = make("brotli", DECOMPRESS_MAX_SIZE=10)
    compressor._can_limit = False  # brotli < 1.2
    with pytest.raises(DecompressedSizeError):
        compressor.decompress(brotli.compress(DATA))


BOMB_SIZE = 100 * 2**20
CHUNK = bytes(2**20)


def _stream(compress: Callable[[bytes], bytes], finish: Callable[[], bytes]) -> bytes:
    # Built chunk by chunk so the test never holds the 100 MB itself.
    return b"".join([compress(CHUNK) for _ in range(BOMB_SIZE // len(CHUNK))] + [finish()])


@functools.cache
def bomb(name: str) -> bytes:
    """100 MB of zeros, compressed.  lz4 and zstd streams do not state the
    size in their header, so the streaming cap is what stops them."""
    if name == "zlib":
        c = zlib.compressobj(1)
        return _stream(c.compress, c.flush)
    if name == "gzip":
        c = zlib.compressobj(1, zlib.DEFLATED, 31)
        return _stream(c.compress, c.flush)
    if name == "bz2":
        c2 = bz2.BZ2Compressor(9)
        return _stream(c2.compress, c2.flush)
    if name == "lzma":
        c3 = lzma.LZMACompressor(preset=0)
        return _stream(c3.compress, c3.flush)
    if name == "zstd":
        c4 = zstd.ZstdCompressor(level=1)
        return _stream(c4.compress, c4.flush)
    if name == "lz4":
        c5 = lz4_frame.LZ4FrameCompressor()
        return c5.begin() + _stream(c5.compress, c5.flush)
    c6 = brotli.Compressor(quality=1)
    return _stream(c6.process, c6.finish)


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL)
def test_cap_refuses_a_bomb_without_inflating_it(name: str) -> None:
    stored = bomb(name)
    compressor = make(name, DECOMPRESS_MAX_SIZE=2**20)
    tracemalloc.start()
    try:
        with pytest.raises(DecompressedSizeError):
            compressor.decompress(stored)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak} bytes allocated to refuse the bomb"


@pytest.mark.parametrize("name", ["lz4", "zstd"])
def test_stated_sizes_are_refused_before_decompressing(name: str) -> None:
    stored = lz4_frame.compress(DATA) if name == "lz4" else zstd.compress(DATA)
    with pytest.raises(DecompressedSizeError):
        make(name, DECOMPRESS_MAX_SIZE=100).decompress(stored)
