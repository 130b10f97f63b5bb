"""Exceptions of django-valkey, defined once and shared by both implementations."""

from __future__ import annotations

from typing import Any


class ConnectionInterrupted(Exception):
    """A server error caught by a client method; the backend re-raises its cause.

    The original valkey-py exception is ``__cause__``; ``connection`` is the raw
    client the command ran on.  With ``IGNORE_EXCEPTIONS`` the backend returns
    the documented fallback instead.
    """

    def __init__(self, connection: Any, parent: BaseException | None = None) -> None:
        self.connection = connection
        self.parent = parent

    def __str__(self) -> str:
        error_type = type(self.__cause__).__name__
        return f"Valkey {error_type}: {self.__cause__}"


class CompressorError(Exception):
    """A compressor could not decompress a value."""


class CorruptValueError(ValueError):
    """A stored value could not be decoded (corrupt bytes, wrong serializer or
    compressor, truncated data).  The key is left untouched in the cache."""

    def __init__(self, message: str, key: str | bytes | None = None) -> None:
        super().__init__(message)
        self.key = key


class DecompressedSizeError(CompressorError):
    """A compressed value would expand past the configured size limit."""
