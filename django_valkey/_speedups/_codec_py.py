"""Value codec, pure-Python twin of ``_codec.pyx`` (the readable specification).

One ``Codec`` per cache turns values into the bytes stored on the server and
back.  The layout is the reference's, so either package reads the other's data:

* an ``int`` (exactly, not bool or IntEnum) is stored as its decimal digits and
  a ``float`` as its ``repr``, the bytes valkey-py sends for them, so that
  ``INCRBY`` and friends work on the server;
* anything else is ``compressor.compress(serializer.dumps(value))``.

Reading back, a reply of the form ``-?[0-9]+`` is an int (the reference gave
floats for negative ints), a short reply that ``float()`` accepts is a float,
and anything else is decompressed (a value the compressor does not recognise
was stored uncompressed, being short) and deserialized.  A reply that cannot
be decoded raises ``CorruptValueError`` naming the key; nothing is deleted.

Nothing here knows about keys, servers or Django settings.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterable, Sequence
from typing import Any

from django_valkey.compressors.identity import IdentityCompressor
from django_valkey.exceptions import CompressorError, CorruptValueError, DecompressedSizeError
from django_valkey.serializers.pickle import PickleSerializer

#: Replies longer than this are never tried as floats: ``repr(float)`` is at
#: most 24 bytes, and ``float()`` on a 100 KB pickle is the cost to avoid.
FLOAT_MAX_LENGTH = 64
#: First byte of every pickle of protocol 2 or later: such replies skip the
#: number checks altogether.
PICKLE_PROTO = 0x80
#: Longest text of the original error quoted in a ``CorruptValueError``.
ERROR_TEXT_MAX = 200

# Every byte that float() accepts in a bytes object: digits, signs, point,
# underscore, letters (exponent, inf, infinity, nan) and ASCII whitespace.
# Wider than needed on purpose: it only spares float() replies it would refuse.
_FLOATISH = re.compile(rb"[0-9A-Za-z+\-._ \t\n\r\x0b\x0c]+")


def describe_key(key: Any) -> str:
    """How a key is named in error messages."""
    if isinstance(key, (bytes, bytearray)):
        try:
            key = bytes(key).decode()  # shown like the str keys it was made from
        except UnicodeDecodeError:
            key = bytes(key)
    return repr(key)


def corrupt_value(key: Any, exc: BaseException, compress_error: BaseException | None) -> str:
    """The message of the ``CorruptValueError`` raised for ``exc``."""
    where = "a cached value" if key is None else f"the value stored at {describe_key(key)}"
    text = str(exc)
    if len(text) > ERROR_TEXT_MAX:
        text = text[:ERROR_TEXT_MAX] + "..."
    message = f"cannot decode {where} ({type(exc).__name__}: {text})"
    if compress_error is not None:
        # Uncompressed values are normal (short ones), so this is only a hint.
        message += f"; it was not compressed data either ({compress_error})"
    return message


def as_bytes(data: Any) -> bytes:
    """The bytes a serializer or compressor returned, as ``bytes``."""
    if type(data) is bytes:
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        # valkey-py would have sent a str as UTF-8.
        return data.encode("utf-8")
    raise TypeError(f"a serializer or compressor returned {type(data).__name__}, not bytes")


class Codec:
    """Encodes values for one cache and decodes the replies.

    Built once per cache with its serializer and compressor (read-only
    attributes).  For the exact default classes the codec calls :mod:`pickle`
    itself and skips the identity compressor; subclasses go through their
    methods.
    """

    __slots__ = (
        "_compress",
        "_compressor",
        "_decompress",
        "_dumps",
        "_loads",
        "_protocol",
        "_serializer",
    )

    def __init__(self, serializer: Any, compressor: Any) -> None:
        self._serializer = serializer
        self._compressor = compressor
        # For the exact default serializer, pickle's own functions are called:
        # no serializer method call per value.  _protocol None means "not pickle".
        self._protocol: int | None = None
        if type(serializer) is PickleSerializer:
            self._protocol = serializer._pickle_version
            self._loads = pickle.loads
        else:
            self._dumps = serializer.dumps
            self._loads = serializer.loads
        if type(compressor) is IdentityCompressor:
            self._compress = self._decompress = None
        else:
            self._compress = compressor.compress
            self._decompress = compressor.decompress

    @property
    def serializer(self) -> Any:
        """The serializer this codec was built with."""
        return self._serializer

    @property
    def compressor(self) -> Any:
        """The compressor this codec was built with."""
        return self._compressor

    def encode(self, value: Any) -> bytes:
        """The bytes to store for ``value``."""
        kind = type(value)
        if kind is int:
            try:
                return repr(value).encode("ascii")
            except ValueError:
                # Too many digits for int-to-str conversion: valkey-py could
                # not send it raw either, so it is serialized like any value.
                pass
        elif kind is float:
            return repr(value).encode("ascii")
        if self._protocol is not None:
            data = pickle.dumps(value, self._protocol)
        else:
            data = self._dumps(value)
        if self._compress is not None:
            data = self._compress(data)
        return as_bytes(data)

    def encode_many(self, values: Iterable[Any]) -> list[bytes]:
        """``encode`` for each value, in order."""
        encode = self.encode
        return [encode(value) for value in values]

    def decode(self, data: bytes, key: Any = None) -> Any:
        """The value stored as ``data`` (a GET reply); ``key`` names it in errors."""
        if type(data) is not bytes:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"decode() needs bytes, not {type(data).__name__}")
            data = bytes(data)
        if data and data[0] != PICKLE_PROTO:
            # -?[0-9]+ (bytes.isdigit() is ASCII digits only, False when empty)
            if data.isdigit() or (data[0] == 0x2D and data[1:].isdigit()):
                try:
                    return int(data)
                except ValueError:
                    pass  # more digits than int() converts: let the serializer judge
            elif len(data) <= FLOAT_MAX_LENGTH and _FLOATISH.fullmatch(data):
                try:
                    return float(data)
                except ValueError:
                    pass
        compress_error = None
        if self._decompress is not None:
            try:
                data = self._decompress(data)
            except DecompressedSizeError:
                raise
            except CompressorError as exc:
                # Values not longer than the compressor's min_length are
                # stored as they are: read those bytes directly.
                compress_error = exc
            except Exception as exc:
                raise CorruptValueError(corrupt_value(key, exc, None), key) from exc
        try:
            return self._loads(data)
        except Exception as exc:
            raise CorruptValueError(corrupt_value(key, exc, compress_error), key) from exc

    def decode_many(self, keys: Sequence[Any], replies: Sequence[bytes | None]) -> dict[Any, Any]:
        """``{key: decode(reply)}`` for the replies that are not ``None``, in order
        (an MGET reply for ``keys``)."""
        if len(keys) != len(replies):
            raise ValueError(f"decode_many() got {len(keys)} keys but {len(replies)} replies")
        decode = self.decode
        return {
            key: decode(reply, key)
            for key, reply in zip(keys, replies, strict=True)
            if reply is not None
        }
