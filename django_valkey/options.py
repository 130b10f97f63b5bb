"""Every ``OPTIONS`` key the package reads, with a one-line description.

A leaf module (it imports nothing from the package) so that the system
checks, the docs and any backend can consult it without import cycles.  The
check ``django_valkey.W010`` warns about a key missing here and suggests the
closest known one, so a key a backend starts reading must be added here too.
"""

from __future__ import annotations

__all__ = ["KNOWN_OPTIONS"]

KNOWN_OPTIONS: dict[str, str] = {
    # Clients and connections.
    "CLIENT_CLASS": "dotted path of the client class (DefaultClient, HerdClient, ShardClient...)",
    "CONNECTION_FACTORY": "dotted path of the connection factory",
    "CONNECTION_POOL_CLASS": "dotted path of the valkey-py connection pool class",
    "CONNECTION_POOL_KWARGS": "keyword arguments of the connection pool and its connections",
    "BASE_CLIENT_CLASS": "dotted path of the raw valkey-py client class",
    "BASE_CLIENT_KWARGS": "keyword arguments of the raw valkey-py client",
    "PARSER_CLASS": "dotted path of the valkey-py reply parser class",
    "PARSER_CLS": "the same as PARSER_CLASS (the async and cluster spelling)",
    "SOCKET_TIMEOUT": "seconds to wait for a reply",
    "SOCKET_CONNECT_TIMEOUT": "seconds to wait for a connection",
    "PASSWORD": "server password, used when the URL has none",
    "CREDENTIAL_PROVIDER": "dotted path of a valkey-py CredentialProvider (asked on each connect)",
    "CREDENTIAL_PROVIDER_KWARGS": "keyword arguments of the CREDENTIAL_PROVIDER class",
    "CLOSE_CONNECTION": "release idle connections at the end of each request",
    "REPLICA_READ_ONLY": "with several LOCATIONs, whether the replicas refuse writes",
    "SENTINELS": "list of (host, port) of the sentinels (SentinelClient)",
    "SENTINEL_KWARGS": "keyword arguments of the connections to the sentinels",
    # Values.
    "SERIALIZER": "dotted path of the serializer class",
    "PICKLE_VERSION": "pickle protocol of the pickle serializers",
    "SIGNING_KEY": "key of SignedPickleSerializer (default SECRET_KEY)",
    "SIGNING_KEY_FALLBACKS": "older keys SignedPickleSerializer still accepts",
    "COMPRESSOR": "dotted path of the compressor class",
    "CACHE_COMPRESS_LEVEL": "compression level",
    "CACHE_COMPRESS_MIN_LENGTH": "values this long or shorter are stored uncompressed",
    "DECOMPRESS_MAX_SIZE": "refuse compressed values expanding past this many bytes",
    "COMPRESS_ZLIB_WBITS": "zlib/gzip window bits",
    "COMPRESS_LZMA_FORMAT": "lzma container format",
    "COMPRESS_LZMA_CHECK": "lzma integrity check",
    "COMPRESS_LZMA_FILTERS": "lzma filter chain for compression",
    "DECOMPRESS_LZMA_FORMAT": "lzma container format expected when decompressing",
    "DECOMPRESS_LZMA_MEMLIMIT": "lzma decompression memory limit",
    "DECOMPRESS_LZMA_FILTERS": "lzma filter chain for decompression",
    "COMPRESS_LZ4_BLOCK_SIZE": "lz4 block size",
    "COMPRESS_LZ4_BLOCK_LINKED": "lz4 linked blocks",
    "COMPRESS_LZ4_CONTENT_CHECKSUM": "lz4 content checksum",
    "COMPRESS_LZ4_STORE_SIZE": "lz4 stores the uncompressed size",
    "COMPRESS_BROTLI_MODE": "brotli mode (generic, text, font)",
    "COMPRESS_BROTLI_LGWIN": "brotli window size",
    "COMPRESS_BROTLI_LGBLOCK": "brotli block size",
    "COMPRESS_ZSTD_OPTIONS": "zstd compression parameters",
    "COMPRESS_ZSTD_DICT": "zstd compression dictionary",
    "DECOMPRESS_ZSTD_OPTIONS": "zstd decompression parameters",
    "DECOMPRESS_ZSTD_DICT": "zstd decompression dictionary",
    "CORRUPT_VALUE_AS_MISS": "read undecodable values as misses (logged) instead of raising",
    # Errors and resilience.
    "IGNORE_EXCEPTIONS": "return Django's fallbacks instead of raising on server errors",
    "LOG_IGNORE_EXCEPTIONS": "log what IGNORE_EXCEPTIONS swallowed",
    "CIRCUIT_BREAKER": '{"FAILURES": n, "RESET_TIMEOUT": s}: fail fast while servers look dead',
    "RETRY": '{"ATTEMPTS": n, "BACKOFF": s}: retry connection errors with jittered backoff',
    # Observability.
    "OPENTELEMETRY": "True (or a dict) to record OpenTelemetry spans and metrics",
    "STATISTICS": "True to count hits, misses, errors and latency in process",
    # Other branches' features (listed so the check knows them).
    "PIPELINING": "False to turn off automatic pipelining of concurrent asyncio commands",
    "PIPELINING_CONNECTIONS": "shared pipelined connections per server and event loop (1)",
    "PIPELINING_MAX_IN_FLIGHT": "pipelined commands in flight before callers wait (4096)",
    "NEAR_CACHE": "the in-process near cache in front of the server",
}
