"""The values, serializers, compressors and settings of the golden data.

Shared by ``make_golden.py`` (run with the reference's interpreter) and the
tests, so it uses the standard library only.  Values are pickled under this
module's import path, ``tests.golden.values``: keep the module where it is.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import math
from decimal import Decimal
from typing import Any

#: Fixed so that the data does not change with Python's default (5 from 3.14).
PICKLE_VERSION = 4


class Color(enum.IntEnum):
    RED = 1
    HUGE = 2**40


def _noise(size: int) -> bytes:
    """Incompressible but reproducible bytes."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:size]


VALUES: dict[str, Any] = {
    "int_zero": 0,
    "int_small": 42,
    "int_negative": -5,
    "int_big": 2**70,
    "int_big_negative": -(2**60) - 1,
    "int_llong_min": -(2**63),
    "float_one": 1.0,
    "float_negative": -0.5,
    "float_inf": math.inf,
    "float_ninf": -math.inf,
    "float_nan": math.nan,
    "float_big": 1e20,
    "float_tiny": 5e-324,
    "bool_true": True,
    "bool_false": False,
    "none": None,
    "str_digits": "123",
    "str_negative_digits": "-7",
    "str_empty": "",
    "str_text": "hello world",
    "str_unicode": "h\u00e9llo w\u00f6rld \u2713",
    "bytes_small": b"\x00\x01binary\xff",
    "decimal": Decimal("1.50"),
    "intenum": Color.RED,
    "intenum_huge": Color.HUGE,
    "dict": {"a": 1, "b": [1, 2, 3], "c": {"d": "e"}},
    "list": [1, "two", 3.0, None, True],
    "tuple": (1, 2),
    "datetime": datetime.datetime(2024, 1, 2, 3, 4, 5),
    "large_str": "lorem ipsum dolor sit amet " * 100,
    "large_bytes": _noise(512),
    "large_list": list(range(300)),
}

SERIALIZERS: dict[str, str] = {
    "pickle": "django_valkey.serializers.pickle.PickleSerializer",
    "json": "django_valkey.serializers.json.JSONSerializer",
    "msgpack": "django_valkey.serializers.msgpack.MSGPackSerializer",
    "msgspec_json": "django_valkey.serializers.msgspec.MsgSpecJsonSerializer",
    "msgspec_msgpack": "django_valkey.serializers.msgspec.MsgSpecMsgPackSerializer",
}

COMPRESSORS: dict[str, str] = {
    "identity": "django_valkey.compressors.identity.IdentityCompressor",
    "zlib": "django_valkey.compressors.zlib.ZlibCompressor",
    "gzip": "django_valkey.compressors.gzip.GzipCompressor",
    "bz2": "django_valkey.compressors.bz2.Bz2Compressor",
    "lzma": "django_valkey.compressors.lzma.LzmaCompressor",
    "lz4": "django_valkey.compressors.lz4.Lz4Compressor",
    "zstd": "django_valkey.compressors.zstd.ZStdCompressor",
    "brotli": "django_valkey.compressors.brotli.BrotliCompressor",
}

#: Django settings per profile.  The reference reads them at import time, so
#: the generator runs each profile in its own process.
PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "tuned": {
        "CACHE_COMPRESS_LEVEL": 3,
        "CACHE_COMPRESS_MIN_LENGTH": 0,
        "COMPRESS_ZLIB_WBITS": -12,
        "COMPRESS_LZMA_FORMAT": 2,  # lzma.FORMAT_ALONE
        "COMPRESS_LZ4_BLOCK_SIZE": 5,
        "COMPRESS_LZ4_CONTENT_CHECKSUM": 1,
        "COMPRESS_LZ4_BLOCK_LINKED": False,
        "COMPRESS_LZ4_STORE_SIZE": False,
        "COMPRESS_BROTLI_MODE": "TEXT",
        "COMPRESS_BROTLI_LGWIN": 18,
        "COMPRESS_BROTLI_LGBLOCK": 16,
    },
}
