"""Every key a cache's ``OPTIONS`` dict may hold, with a one-line description.

The documentation's configuration reference is checked against this table by
the test suite (``tests/test_docs_reference.py``), so neither can drift.
Compressor and serializer settings are listed too: each is read from the
cache's OPTIONS first, then from the Django setting of the same name.
"""

from __future__ import annotations

__all__ = ["KNOWN_OPTIONS"]

KNOWN_OPTIONS: dict[str, str] = {
    # Client, codec and error policy.
    "CLIENT_CLASS": "dotted path of the client class (default: the backend's DEFAULT_CLIENT_CLASS)",
    "SERIALIZER": "dotted path of the serializer class (default: pickle)",
    "PICKLE_VERSION": "pickle protocol of the pickle serializers",
    "COMPRESSOR": "dotted path of the compressor class (default: no compression)",
    "IGNORE_EXCEPTIONS": "on connection errors return Django's fallback values instead of raising",
    "LOG_IGNORE_EXCEPTIONS": "log the errors IGNORE_EXCEPTIONS swallowed",
    "CLOSE_CONNECTION": "release idle connections when Django closes the cache (request end)",
    "CORRUPT_VALUE_AS_MISS": "read undecodable values as misses (logged) instead of raising",
    "CIRCUIT_BREAKER": "fail fast after repeated connection failures ({FAILURES, RESET_TIMEOUT})",
    "NEAR_CACHE": "in-process tier kept coherent by server invalidations (a dict of limits)",
    "REPLICA_READ_ONLY": "with several LOCATIONs, whether the replicas are read-only",
    # Connections.
    "SOCKET_TIMEOUT": "seconds a command may wait for its reply",
    "SOCKET_CONNECT_TIMEOUT": "seconds a connection attempt may take",
    "PASSWORD": "password sent when the LOCATION URL carries none",
    "CONNECTION_POOL_CLASS": "dotted path of the valkey-py connection pool class",
    "CONNECTION_POOL_KWARGS": "extra keyword arguments of the connection pool",
    "BASE_CLIENT_CLASS": "dotted path of the raw valkey-py client class built on the pool",
    "BASE_CLIENT_KWARGS": "extra keyword arguments of the raw client",
    "CONNECTION_FACTORY": "dotted path of the connection factory class",
    "PARSER_CLASS": "dotted path of the valkey-py parser class",
    "PARSER_CLS": "the same as PARSER_CLASS (the reference's async and cluster spelling)",
    "SENTINELS": "the sentinels, as (host, port) pairs (SentinelClient)",
    "SENTINEL_KWARGS": "keyword arguments of the connections to the sentinels",
    # Serializer settings.
    "SIGNING_KEY": "secret of SignedPickleSerializer (default: SECRET_KEY)",
    "SIGNING_KEY_FALLBACKS": "older secrets SignedPickleSerializer still accepts",
    # Compressor settings (OPTIONS key, else the Django setting).
    "CACHE_COMPRESS_LEVEL": "the compression library's level",
    "CACHE_COMPRESS_MIN_LENGTH": "values of this many bytes or fewer are stored uncompressed",
    "DECOMPRESS_MAX_SIZE": "refuse compressed values that would expand past this many bytes",
    "COMPRESS_ZLIB_WBITS": "zlib window bits (header kind and window size)",
    "COMPRESS_LZMA_FORMAT": "lzma container format used to compress",
    "COMPRESS_LZMA_CHECK": "lzma integrity check",
    "COMPRESS_LZMA_FILTERS": "lzma filter chain used to compress",
    "DECOMPRESS_LZMA_FORMAT": "lzma container format expected when decompressing",
    "DECOMPRESS_LZMA_MEMLIMIT": "lzma decompression memory limit",
    "DECOMPRESS_LZMA_FILTERS": "lzma filter chain for raw-format decompression",
    "COMPRESS_LZ4_BLOCK_SIZE": "lz4 frame block size",
    "COMPRESS_LZ4_BLOCK_LINKED": "lz4 linked blocks",
    "COMPRESS_LZ4_CONTENT_CHECKSUM": "lz4 frame content checksum",
    "COMPRESS_LZ4_STORE_SIZE": "store the uncompressed size in the lz4 frame",
    "COMPRESS_BROTLI_MODE": "brotli mode (GENERIC, TEXT or FONT)",
    "COMPRESS_BROTLI_LGWIN": "brotli window size (10-24)",
    "COMPRESS_BROTLI_LGBLOCK": "brotli input block size (0 or 16-24)",
    "COMPRESS_ZSTD_OPTIONS": "zstd compression parameters",
    "DECOMPRESS_ZSTD_OPTIONS": "zstd decompression parameters",
    "COMPRESS_ZSTD_DICT": "zstd dictionary used to compress",
    "DECOMPRESS_ZSTD_DICT": "zstd dictionary used to decompress",
}
