# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: freethreading_compatible=True
"""Value codec, compiled twin of ``_codec_py.py`` (which is the specification).

Same API and the same bytes.  Ints and floats are written and recognised in
C loops over the reply; pickle is called directly and the identity
compressor skipped for the exact default classes.  The cold paths (error
messages, odd return types) and the constants come from the pure twin so
that both say the same thing.

Every read of a reply goes through ``p[i]`` with ``0 <= i < n``, ``n`` being
the size of that bytes object, which never changes.
"""

from cpython.bytes cimport (
    PyBytes_AS_STRING,
    PyBytes_CheckExact,
    PyBytes_FromStringAndSize,
    PyBytes_GET_SIZE,
)
from cpython.conversion cimport Py_DTSF_ADD_DOT_0, PyOS_double_to_string
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_FromString
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_FromLongLong
from cpython.mem cimport PyMem_Free

cimport cython

import pickle

from django_valkey._speedups._codec_py import (
    FLOAT_MAX_LENGTH,
    PICKLE_PROTO,
    as_bytes,
    corrupt_value,
)
from django_valkey.compressors.identity import IdentityCompressor
from django_valkey.exceptions import CompressorError, CorruptValueError, DecompressedSizeError
from django_valkey.serializers.pickle import PickleSerializer

cdef Py_ssize_t _FLOAT_MAX = FLOAT_MAX_LENGTH
cdef unsigned char _PROTO = PICKLE_PROTO
# A decimal literal of this many digits always fits in a long long.
cdef Py_ssize_t _LLONG_DIGITS = 18

cdef object _pickle_dumps = pickle.dumps
cdef object _pickle_loads = pickle.loads

# What a reply looks like, from _classify.
cdef enum:
    PAYLOAD = 0
    INT_LITERAL = 1
    FLOATISH = 2


cdef inline bint _is_digit(unsigned char c) noexcept nogil:
    return ord('0') <= c <= ord('9')


cdef inline bint _is_floatish(unsigned char c) noexcept nogil:
    # The bytes float() can accept (see _FLOATISH in the twin): digits,
    # letters, "+-._" and ASCII whitespace.  c | 0x20 folds A-Z onto a-z
    # and maps no other byte into a-z.
    if _is_digit(c) or ord('a') <= (c | 0x20) <= ord('z'):
        return True
    return (
        c == ord('+') or c == ord('-') or c == ord('.') or c == ord('_') or c == ord(' ')
        or c == ord('\t') or c == ord('\n') or c == ord('\r') or c == 0x0b or c == 0x0c
    )


cdef int _classify(const unsigned char *p, Py_ssize_t n) noexcept nogil:
    """INT_LITERAL for -?[0-9]+, FLOATISH for a short run of float bytes,
    PAYLOAD otherwise; ``n`` > 0 and the first byte is not PICKLE_PROTO."""
    cdef Py_ssize_t i = 1 if p[0] == ord('-') else 0
    cdef Py_ssize_t j = i
    while j < n and _is_digit(p[j]):
        j += 1
    if i < n and j == n:
        return INT_LITERAL
    if n > _FLOAT_MAX:
        return PAYLOAD
    for j in range(n):
        if not _is_floatish(p[j]):
            return PAYLOAD
    return FLOATISH


cdef object _small_int(const unsigned char *p, Py_ssize_t n):
    """The int of a -?[0-9]+ literal of at most _LLONG_DIGITS digits."""
    cdef bint negative = p[0] == ord('-')
    cdef Py_ssize_t i = 1 if negative else 0
    cdef long long value = 0
    while i < n:
        value = value * 10 + (p[i] - ord('0'))
        i += 1
    return PyLong_FromLongLong(-value if negative else value)


cdef object _int_bytes(object value):
    """repr(value).encode() for an exact int, or None when it has more digits
    than int-to-str conversion allows."""
    cdef int overflow = 0
    cdef long long number = PyLong_AsLongLongAndOverflow(value, &overflow)
    cdef unsigned long long magnitude
    cdef char buf[24]  # 20 digits of 2**64 and a sign fit
    cdef int pos = 24
    if overflow:
        try:
            return repr(value).encode("ascii")
        except ValueError:
            return None
    # -(number + 1) + 1 stays in range for the most negative long long.
    if number < 0:
        magnitude = <unsigned long long>(-(number + 1)) + 1
    else:
        magnitude = <unsigned long long>number
    while True:
        pos -= 1
        buf[pos] = <char>(ord('0') + magnitude % 10)
        magnitude //= 10
        if magnitude == 0:
            break
    if number < 0:
        pos -= 1
        buf[pos] = ord('-')
    return PyBytes_FromStringAndSize(buf + pos, 24 - pos)


cdef bytes _float_bytes(object value):
    """repr(value).encode() for an exact float: float.__repr__ is this call."""
    cdef char *text = PyOS_double_to_string(
        PyFloat_AS_DOUBLE(value), ord('r'), 0, Py_DTSF_ADD_DOT_0, NULL
    )
    try:
        return <bytes>text
    finally:
        PyMem_Free(text)


@cython.auto_pickle(False)
cdef class Codec:
    """Encodes values for one cache and decodes the replies (see ``_codec_py.Codec``)."""

    cdef readonly object serializer
    cdef readonly object compressor
    cdef bint _pickle
    cdef object _protocol
    cdef object _dumps
    cdef object _loads
    cdef object _compress
    cdef object _decompress

    def __init__(self, serializer, compressor):
        self.serializer = serializer
        self.compressor = compressor
        self._pickle = type(serializer) is PickleSerializer
        if self._pickle:
            self._protocol = serializer._pickle_version
        else:
            self._dumps = serializer.dumps
            self._loads = serializer.loads
        if type(compressor) is IdentityCompressor:
            self._compress = None
            self._decompress = None
        else:
            self._compress = compressor.compress
            self._decompress = compressor.decompress

    cdef object _encode(self, object value):
        cdef object kind = type(value)
        cdef object data
        if kind is int:
            data = _int_bytes(value)
            if data is not None:
                return data
        elif kind is float:
            return _float_bytes(value)
        if self._pickle:
            data = _pickle_dumps(value, self._protocol)
        else:
            data = self._dumps(value)
        if self._compress is not None:
            data = self._compress(data)
        if PyBytes_CheckExact(data):
            return data
        return as_bytes(data)

    cdef object _decode(self, object data, object key):
        cdef const unsigned char *p
        cdef Py_ssize_t n
        cdef int kind
        if not PyBytes_CheckExact(data):
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"decode() needs bytes, not {type(data).__name__}")
            data = bytes(data)
        p = <const unsigned char *>PyBytes_AS_STRING(data)
        n = PyBytes_GET_SIZE(data)
        if n > 0 and p[0] != _PROTO:
            kind = _classify(p, n)
            if kind == INT_LITERAL:
                if n - (p[0] == ord('-')) <= _LLONG_DIGITS:
                    return _small_int(p, n)
                try:
                    return int(data)
                except ValueError:
                    pass  # more digits than int() converts: let the serializer judge
            elif kind == FLOATISH:
                try:
                    return PyFloat_FromString(data)
                except ValueError:
                    pass
        return self._decode_payload(data, key)

    cdef object _decode_payload(self, object data, object key):
        cdef object compress_error = None
        if self._decompress is not None:
            try:
                data = self._decompress(data)
            except DecompressedSizeError:
                raise
            except CompressorError as exc:
                # Short values are stored uncompressed: read them as they are.
                compress_error = exc
            except Exception as exc:
                raise CorruptValueError(corrupt_value(key, exc, None), key) from exc
        try:
            if self._pickle:
                return _pickle_loads(data)
            return self._loads(data)
        except Exception as exc:
            raise CorruptValueError(corrupt_value(key, exc, compress_error), key) from exc

    def encode(self, value):
        """The bytes to store for ``value``."""
        return self._encode(value)

    def encode_many(self, values):
        """``encode`` for each value, in order."""
        cdef list out = []
        for value in values:
            out.append(self._encode(value))
        return out

    def decode(self, data, key=None):
        """The value stored as ``data`` (a GET reply); ``key`` names it in errors."""
        return self._decode(data, key)

    def decode_many(self, keys, replies):
        """``{key: decode(reply)}`` for the replies that are not ``None``, in order."""
        cdef dict out = {}
        if len(keys) != len(replies):
            raise ValueError(f"decode_many() got {len(keys)} keys but {len(replies)} replies")
        # zip, not indexing: a sequence that shrinks meanwhile cannot be over-read.
        for key, reply in zip(keys, replies):
            if reply is not None:
                out[key] = self._decode(reply, key)
        return out
