# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: freethreading_compatible=True
"""RESP2/RESP3 reply reader, compiled twin of ``_reader_py.py`` (which is the specification).

Same API, same results and same errors for any input and any chunking.  The
differences are inside: fed bytes go into one growable C buffer (or are parsed
in place when they arrive as ``bytes``); open aggregates are C frames, so depth
is bounded only by memory, each collecting its elements in a list that is
preallocated (within a budget bounded by the bytes actually buffered, so a
hostile length cannot make us allocate) and filled without a resize.  Those
lists are always consistent (their size counts only filled slots) and are
owned by an ordinary attribute, so the garbage collector sees partial replies
(a ``replyError`` result may well reference the reader).

Memory safety does not depend on the input: every read is checked against the
end of the buffer (the module is compiled without bounds checks), and the
buffer, the open aggregates and the encoding pointers can only change while no
``gets()`` is running on the reader: ``feed()``, ``gets()`` and
``set_encoding()`` called during a ``gets()`` (from a ``replyError`` callable, a
codec, a ``__hash__``, or another thread) raise ``RuntimeError``.  The busy
flag is flipped inside a critical section, so the module is safe to declare
free-threading compatible; still, like libvalkey's, one reader is not meant to
be shared between threads.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_SetItem
from cpython.list cimport PyList_Append, PyList_New
from cpython.long cimport PyLong_FromLongLong
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF
from cpython.set cimport PySet_Add
from cpython.unicode cimport PyUnicode_Decode, PyUnicode_DecodeUTF8
from libc.math cimport isfinite
from libc.stdint cimport INT64_MAX, int64_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memchr, memcpy, memmove

from django_valkey._speedups._reader_py import (
    DEFAULT_MAXBUF,
    MAX_LENGTH,
    ProtocolError,
    PushNotification,
    ReaderError,
    ReplyError,
    protocol_error_message,
    raise_protocol_error,
)

__all__ = ["ProtocolError", "PushNotification", "Reader", "ReaderError", "ReplyError"]

cdef extern from "Python.h":
    double PyOS_string_to_double(const char *s, char **endptr, PyObject *overflow) except? -1.0

import codecs
import operator

# Largest aggregate length: its element count (twice it for maps) fits 64 bits.
# (A C constant: MAX_LENGTH // 2 would be Python arithmetic in the hot path.)
cdef int64_t MAX_COUNT = INT64_MAX // 2
assert MAX_COUNT == MAX_LENGTH // 2

cdef enum:
    # Smallest buffer allocated, and what a shrunk buffer keeps at least.
    MIN_CAPACITY = 4096
    # Digits that always fit in a signed 64-bit integer.
    SAFE_DIGITS = 18


cdef struct Frame:
    unsigned char kind       # type byte of the aggregate
    Py_ssize_t remaining     # elements still expected (2 per map or attribute pair)
    Py_ssize_t spare         # preallocated slots of items not filled yet
    PyObject *items          # its elements so far: a list owned by Reader._open


cdef extern from "Python.h":
    ctypedef struct PyListObject:
        PyObject **ob_item
        Py_ssize_t allocated
    Py_ssize_t Py_SIZE(PyObject *o)
    void Py_SET_SIZE(PyListObject *o, Py_ssize_t size)


cdef inline list _list_with_room(Py_ssize_t room):
    """An empty list with room for ``room`` items (appended by _put, no resize)."""
    cdef list result = PyList_New(room)
    Py_SET_SIZE(<PyListObject *>result, 0)  # the slots are NULL: none is visible
    return result


cdef inline int _put(PyObject *items, object value) except -1:
    """Append, without a resize when there is room (see _list_with_room)."""
    cdef Py_ssize_t size = Py_SIZE(items)
    if size < (<PyListObject *>items).allocated:
        Py_INCREF(value)
        (<PyListObject *>items).ob_item[size] = <PyObject *>value
        Py_SET_SIZE(<PyListObject *>items, size + 1)
        return 0
    # No room (only if other code reached the list and shrank it): the slow way.
    return PyList_Append(<object>items, value)


cdef inline bint _is_type_byte(unsigned char c) noexcept nogil:
    return (
        c == c'$' or c == c'=' or c == c'!' or c == c'+' or c == c'-' or c == c':'
        or c == c'_' or c == c',' or c == c'#' or c == c'(' or c == c'*' or c == c'%'
        or c == c'~' or c == c'>' or c == c'|'
    )


cdef inline Py_ssize_t _find_crlf(const char *buf, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
    """Index of the first CR of a CRLF in buf[start:end], or -1."""
    cdef const char *hit
    while end - start >= 2:
        # Search all but the last byte, so hit[1] is always inside the buffer.
        hit = <const char *>memchr(buf + start, c'\r', <size_t>(end - 1 - start))
        if hit == NULL:
            return -1
        if hit[1] == c'\n':
            return hit - buf
        start = hit - buf + 1
    return -1


cdef inline bint _all_digits(const char *p, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if p[i] < c'0' or p[i] > c'9':
            return False
    return True


cdef enum:  # _parse_length results
    LENGTH_OK
    LENGTH_BAD
    LENGTH_TOO_BIG
    LENGTH_NULL


cdef inline int _parse_length(const char *p, Py_ssize_t n, int64_t *out) noexcept nogil:
    """A canonical non-negative length (no sign, no leading zero), or exactly -1."""
    cdef uint64_t value = 0  # 19 digits always fit; more only wrap (defined for unsigned)
    cdef unsigned int digit
    cdef Py_ssize_t i
    if n == 2 and p[0] == c'-' and p[1] == c'1':
        return LENGTH_NULL
    if n == 0 or (p[0] == c'0' and n != 1):
        return LENGTH_BAD
    for i in range(n):
        digit = <unsigned char>p[i] - <unsigned int>c'0'
        if digit > 9:
            return LENGTH_BAD
        value = value * 10 + digit
    if n > 19 or value > <uint64_t>INT64_MAX:
        return LENGTH_TOO_BIG
    out[0] = <int64_t>value
    return LENGTH_OK


cdef inline bint _is_canonical_integer(const char *p, Py_ssize_t n) noexcept nogil:
    """``0`` or an optional ``-`` then digits without a leading zero."""
    cdef Py_ssize_t start = 1 if n > 0 and p[0] == c'-' else 0
    if n - start == 0 or not _all_digits(p + start, n - start):
        return False
    return p[start] != c'0' or (n == 1)


cdef inline bint _is_finite_double(const char *p, Py_ssize_t n) noexcept nogil:
    """[+-]? (digits [. digits*] | . digits) ([eE] [+-]? digits)?"""
    cdef Py_ssize_t i = 0, int_digits = 0, frac_digits = 0, exp_digits = 0
    if i < n and (p[i] == c'+' or p[i] == c'-'):
        i += 1
    while i < n and c'0' <= p[i] <= c'9':
        i += 1
        int_digits += 1
    if i < n and p[i] == c'.':
        i += 1
        while i < n and c'0' <= p[i] <= c'9':
            i += 1
            frac_digits += 1
    if int_digits == 0 and frac_digits == 0:
        return False
    if i < n and (p[i] == c'e' or p[i] == c'E'):
        i += 1
        if i < n and (p[i] == c'+' or p[i] == c'-'):
            i += 1
        while i < n and c'0' <= p[i] <= c'9':
            i += 1
            exp_digits += 1
        if exp_digits == 0:
            return False
    return i == n


cdef inline int _lower(char c) noexcept nogil:
    return c + 32 if c'A' <= c <= c'Z' else c


cdef inline int _special_double(const char *p, Py_ssize_t n) noexcept nogil:
    """1 for inf, -1 for -inf, 2 for nan or -nan (any case), 0 otherwise."""
    cdef bint negative = n > 0 and p[0] == c'-'
    if negative:
        p += 1
        n -= 1
    if n != 3:
        return 0
    if _lower(p[0]) == c'i' and _lower(p[1]) == c'n' and _lower(p[2]) == c'f':
        return -1 if negative else 1
    if _lower(p[0]) == c'n' and _lower(p[1]) == c'a' and _lower(p[2]) == c'n':
        return 2
    return 0


cdef class Reader:
    """Incremental RESP2/RESP3 reply reader with libvalkey's ``Reader`` contract."""

    # Input: self._data[self._pos:self._end] is unconsumed.  _data points either
    # into our own buffer (_own, _cap bytes allocated) or, when a bytes object
    # was fed to an idle reader, into that object (kept alive by _borrowed): an
    # immutable input is parsed in place and copied only if bytes are left over
    # when more input arrives.
    cdef const char *_data
    cdef char *_own
    cdef object _borrowed
    cdef Py_ssize_t _pos, _end, _cap, _maxbuf
    # Where the CRLF search of the element at _pos resumes (0: from its start).
    cdef Py_ssize_t _scan
    # Open aggregates, innermost last: their frames, and their item lists in
    # _open[:_depth] (a list that only grows, so opening and closing aggregates
    # never resizes it; the slots above _depth hold None).
    cdef list _open
    cdef Py_ssize_t _reserved  # sum of the frames' spare slots
    cdef Frame *_frames
    cdef Py_ssize_t _depth, _frames_cap
    cdef object _protocol_error, _reply_error, _not_enough_data
    cdef bint _convert_sets
    # Encoding names as str for callers, as UTF-8 bytes whose buffers _enc/_errs point into.
    cdef object _encoding, _errors
    cdef bytes _encoding_c, _errors_c
    cdef const char *_enc
    cdef const char *_errs
    cdef object _deferred
    cdef object _error
    cdef bint _busy

    def __init__(
        self,
        protocolError=ProtocolError,
        replyError=ReplyError,
        encoding=None,
        errors=None,
        notEnoughData=False,
        convertSetsToLists=False,
    ):
        if not callable(protocolError) or not callable(replyError):
            raise TypeError("Expected a callable")
        self._protocol_error = protocolError
        self._reply_error = replyError
        self._not_enough_data = notEnoughData
        self._convert_sets = bool(convertSetsToLists)
        self._maxbuf = DEFAULT_MAXBUF
        self.set_encoding(encoding, errors)

    def __cinit__(self, *args, **kwargs):
        # Here, not in __init__: a subclass may skip __init__, and the parser
        # relies on this being a list (no None checks in the hot path).
        self._open = []

    def __dealloc__(self):
        free(self._frames)
        free(self._own)

    # -- configuration -------------------------------------------------------

    def set_encoding(self, encoding=None, errors=None):
        """Decode strings with ``encoding`` (None: return bytes), using ``errors``."""
        if encoding is not None:
            codecs.lookup(encoding)
        if errors is not None:
            codecs.lookup_error(errors)
        encoding_c = None if encoding is None else (<str?>encoding).encode("utf-8")
        errors_c = b"strict" if errors is None else (<str?>errors).encode("utf-8")
        self._enter()
        try:
            self._encoding = encoding
            self._errors = "strict" if errors is None else errors
            self._encoding_c = encoding_c
            self._errors_c = errors_c
            if encoding_c is None:
                self._enc = NULL
            else:
                self._enc = <const char *>self._encoding_c
            self._errs = <const char *>self._errors_c
        finally:
            self._leave()

    def setmaxbuf(self, maxbuf):
        """Shrink a fully consumed buffer above this size (None: the default, 0: never)."""
        if maxbuf is None:
            self._maxbuf = DEFAULT_MAXBUF
            return
        value = operator.index(maxbuf)
        if value < 0:
            raise ValueError("maxbuf value out of range")
        if value > MAX_LENGTH:
            raise OverflowError("maxbuf value out of range")
        self._maxbuf = value

    def getmaxbuf(self):
        return self._maxbuf

    def len(self):
        """Bytes fed and not yet consumed by a returned reply."""
        return self._end - self._pos

    def has_data(self):
        return self._end > self._pos

    # -- input ---------------------------------------------------------------

    def feed(self, buf, Py_ssize_t off=0, Py_ssize_t len=-1):
        """Append ``buf[off:off + len]`` (any bytes-like object, or str as UTF-8)."""
        cdef Py_buffer view
        if isinstance(buf, str):
            buf = (<str>buf).encode("utf-8")
        PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE)
        try:
            if len == -1:
                len = view.len - off
            if off < 0 or len < 0:
                raise ValueError("negative input")
            if off > view.len - len:
                raise ValueError("input is larger than buffer size")
            if len == 0 or self._error is not None:
                return  # a broken stream ignores input, as libvalkey's does
            self._enter()
            try:
                if type(buf) is bytes and self._end == self._pos:
                    self._borrow(buf, off, len)
                else:
                    self._append(<const char *>view.buf + off, len)
            finally:
                self._leave()
        finally:
            PyBuffer_Release(&view)

    # -- output --------------------------------------------------------------

    def gets(self, shouldDecode=True):
        """The next complete reply, or the ``notEnoughData`` object.

        Server errors are returned as ``replyError(message)`` results.  Protocol
        errors raise, and keep raising: the stream cannot be trusted any more.
        """
        cdef bint decode = True if shouldDecode is True else bool(shouldDecode)
        self._enter()
        try:
            if self._error is not None:
                raise_protocol_error(self._protocol_error, self._error)
            return self._parse(decode and self._enc != NULL)
        finally:
            self._leave()

    # -- internals -----------------------------------------------------------

    cdef inline int _enter(self) except -1:
        cdef bint was_busy
        with cython.critical_section(self):
            was_busy = self._busy
            self._busy = True
        if was_busy:
            raise RuntimeError("Reader is already in use (by another thread or a callback)")
        return 0

    cdef inline void _leave(self) noexcept:
        with cython.critical_section(self):
            self._busy = False

    cdef void _borrow(self, bytes data, Py_ssize_t off, Py_ssize_t n) noexcept:
        """Parse ``data[off:off + n]`` in place (the reader is idle: nothing is unread)."""
        if self._maxbuf and self._cap > self._maxbuf:
            # Our buffer is idle too: do not keep a large one around.
            free(self._own)
            self._own = NULL
            self._cap = 0
        self._borrowed = data
        self._data = PyBytes_AS_STRING(data) + off
        self._pos = self._scan = 0
        self._end = n

    cdef int _reserve(self, Py_ssize_t size) except -1:
        """Make our buffer hold at least ``size`` bytes (state unchanged on failure)."""
        cdef Py_ssize_t capacity
        cdef char *grown
        if self._cap >= size:
            return 0
        capacity = self._cap * 2
        if capacity < size:
            capacity = size
        if capacity < MIN_CAPACITY:
            capacity = MIN_CAPACITY
        grown = <char *>realloc(self._own, <size_t>capacity)
        if grown == NULL:
            raise MemoryError()
        self._own = grown
        self._cap = capacity
        return 0

    cdef int _append(self, const char *data, Py_ssize_t n) except -1:
        """Copy n bytes after the unread ones, in our own buffer."""
        cdef Py_ssize_t unread = self._end - self._pos
        cdef Py_ssize_t capacity
        cdef char *shrunk
        if self._borrowed is not None:
            # Leftovers of a borrowed bytes object move into our buffer first.
            self._reserve(unread + n)
            memcpy(self._own, self._data + self._pos, <size_t>unread)
            self._scan = self._scan - self._pos if self._scan > self._pos else 0
            self._borrowed = None
            self._pos = 0
            self._end = unread
        elif unread == 0:
            self._pos = self._end = self._scan = 0
            if self._maxbuf and self._cap - n > self._maxbuf:
                # An idle buffer much larger than needed goes back to a small one.
                capacity = n if n > MIN_CAPACITY else MIN_CAPACITY
                shrunk = <char *>realloc(self._own, <size_t>capacity)
                if shrunk != NULL:
                    self._own = shrunk
                    self._cap = capacity
        elif self._pos > 0 and self._cap - self._end < n:
            # Compact only when the tail is full, so the cost stays amortized even
            # while a large bulk string waits for the rest of its bytes.
            memmove(self._own, self._own + self._pos, <size_t>unread)
            self._scan = self._scan - self._pos if self._scan > self._pos else 0
            self._pos = 0
            self._end = unread
        self._reserve(self._end + n)
        memcpy(self._own + self._end, data, <size_t>n)
        self._end += n
        self._data = self._own
        return 0

    cdef int _fail(self, str what, const char *p, Py_ssize_t n) except -1:
        """Enter the error state and raise the protocol error (always returns -1)."""
        errstr = protocol_error_message(what, PyBytes_FromStringAndSize(p, n))
        self._break(errstr)
        raise_protocol_error(self._protocol_error, errstr)
        return -1

    cdef void _break(self, str errstr) noexcept:
        """Forget every byte and every partial reply."""
        self._error = errstr
        self._borrowed = None
        self._data = self._own
        self._pos = self._end = self._scan = 0
        self._open = []
        self._reserved = 0
        self._depth = 0
        self._deferred = None

    cdef inline void _defer(self, object exc) noexcept:
        if self._deferred is None:
            self._deferred = exc

    cdef int _push_frame(self, unsigned char kind, Py_ssize_t remaining, Py_ssize_t buffered) except -1:
        """Open an aggregate of ``remaining`` elements, ``buffered`` bytes being available.

        Every element takes at least 3 bytes, so slots are preallocated only for
        elements that the buffered bytes can still hold, counting the spare slots
        of the open aggregates: memory follows the input actually received.
        """
        cdef Py_ssize_t capacity, spare
        cdef Frame *grown
        cdef list items
        if self._depth == self._frames_cap:
            capacity = self._frames_cap * 2 if self._frames_cap else 16
            grown = <Frame *>realloc(self._frames, <size_t>capacity * sizeof(Frame))
            if grown == NULL:
                raise MemoryError()
            self._frames = grown
            self._frames_cap = capacity
        spare = buffered // 3 - self._reserved
        if spare > remaining:
            spare = remaining
        elif spare < 0:
            spare = 0
        items = _list_with_room(spare)
        if self._depth < len(self._open):
            self._open[self._depth] = items
        else:
            self._open.append(items)
        self._reserved += spare
        self._frames[self._depth].kind = kind
        self._frames[self._depth].remaining = remaining
        self._frames[self._depth].spare = spare
        self._frames[self._depth].items = <PyObject *>items
        self._depth += 1
        return 0

    cdef object _decode(self, const char *p, Py_ssize_t n):
        try:
            return PyUnicode_Decode(p, n, self._enc, self._errs)
        except Exception as exc:  # the first decode error is raised with the whole reply
            self._defer(exc)
            return None

    cdef object _server_error(self, const char *p, Py_ssize_t n):
        message = PyUnicode_DecodeUTF8(p, n, "replace")
        try:
            return self._reply_error(message)
        except Exception as exc:
            self._defer(exc)
            return None

    cdef object _integer(self, const char *p, Py_ssize_t n):
        cdef int64_t value = 0
        cdef Py_ssize_t i, start
        if n - (p[0] == c'-') > SAFE_DIGITS:
            return int(PyBytes_FromStringAndSize(p, n))
        start = 1 if p[0] == c'-' else 0
        for i in range(start, n):
            value = value * 10 + (p[i] - c'0')
        return PyLong_FromLongLong(-value if start else value)

    cdef object _double(self, const char *p, Py_ssize_t n):
        """A validated finite double, or None when it overflows to infinity."""
        cdef char text[64]
        cdef char *stop
        cdef double value
        if n >= 64:
            value = float(PyBytes_FromStringAndSize(p, n))
        else:
            memcpy(text, p, <size_t>n)
            text[n] = 0
            value = PyOS_string_to_double(text, &stop, NULL)
        if not isfinite(value):
            return None
        return value

    @cython.boundscheck(True)  # hashing runs Python code, which could touch items
    cdef object _build(self, unsigned char kind, list items):
        """The container for a finished aggregate, from its items."""
        if kind == c'*' or (kind == c'~' and self._convert_sets):
            return items
        if kind == c'>':
            return PushNotification(items)
        cdef Py_ssize_t i
        cdef object result
        if kind == c'%':
            result = {}
            for i in range(0, len(items) - 1, 2):
                try:
                    PyDict_SetItem(result, items[i], items[i + 1])
                except Exception as exc:  # unhashable key: raised with the whole reply
                    self._defer(exc)
        else:
            result = set()
            for item in items:
                try:
                    PySet_Add(result, item)
                except Exception as exc:
                    self._defer(exc)
        return result

    cdef object _empty(self, unsigned char kind):
        if kind == c'*':
            return []
        if kind == c'%':
            return {}
        if kind == c'~':
            return [] if self._convert_sets else set()
        return PushNotification()

    cdef object _parse(self, bint decode):
        """Parse from self._pos; return a whole reply or the notEnoughData object.

        Each element is consumed only once it is complete, so self._pos and the
        stacks always agree, even when a callable raises mid-reply.
        """
        cdef const char *buf = self._data
        cdef Py_ssize_t end = self._end
        cdef Py_ssize_t pos, eol, nxt, stop, line_len
        cdef Py_ssize_t count = 0
        cdef const char *line
        cdef unsigned char kind
        cdef int64_t size
        cdef int status, special
        cdef Frame *frame
        cdef object value
        cdef list items
        while True:
            pos = self._pos
            if pos >= end:
                return self._not_enough_data
            kind = <unsigned char>buf[pos]
            if not _is_type_byte(kind):
                self._fail("invalid reply type byte", buf + pos, 1)
            eol = _find_crlf(buf, pos + 1 if self._scan <= pos + 1 else self._scan, end)
            if eol < 0:
                # Resume the search at the last byte: it may be a CR whose LF is late.
                self._scan = end - 1
                return self._not_enough_data
            line = buf + pos + 1
            line_len = eol - pos - 1
            nxt = eol + 2

            if kind == c'$' or kind == c'=' or kind == c'!':
                status = _parse_length(line, line_len, &size)
                if status == LENGTH_OK:
                    if size > end - nxt - 2:
                        self._scan = 0
                        return self._not_enough_data
                    stop = nxt + <Py_ssize_t>size
                    if buf[stop] != c'\r' or buf[stop + 1] != c'\n':
                        self._fail("bulk not followed by CRLF", buf + stop, 2)
                    if kind == c'$':
                        if decode:
                            value = self._decode(buf + nxt, stop - nxt)
                        else:
                            value = PyBytes_FromStringAndSize(buf + nxt, stop - nxt)
                    elif kind == c'=':
                        if size < 4 or buf[nxt + 3] != c':':
                            self._fail("bad verbatim string", buf + nxt, stop - nxt)
                        if decode:
                            value = self._decode(buf + nxt + 4, stop - nxt - 4)
                        else:
                            value = PyBytes_FromStringAndSize(buf + nxt + 4, stop - nxt - 4)
                    else:
                        value = self._server_error(buf + nxt, stop - nxt)
                    nxt = stop + 2
                elif status == LENGTH_TOO_BIG:
                    self._fail("length out of range", line, line_len)
                elif status == LENGTH_NULL and kind != c'!':
                    value = None
                else:
                    self._fail("bad length", line, line_len)

            elif kind == c'+' or kind == c'-':
                if (memchr(line, c'\r', <size_t>line_len) != NULL
                        or memchr(line, c'\n', <size_t>line_len) != NULL):
                    self._fail("CR or LF in simple string", line, line_len)
                if kind == c'-':
                    value = self._server_error(line, line_len)
                elif decode:
                    value = self._decode(line, line_len)
                else:
                    value = PyBytes_FromStringAndSize(line, line_len)

            elif kind == c':' or kind == c'(':
                if not _is_canonical_integer(line, line_len):
                    self._fail("bad integer", line, line_len)
                value = self._integer(line, line_len)

            elif kind == c'_':
                if line_len != 0:
                    self._fail("bad null", line, line_len)
                value = None

            elif kind == c',':
                special = _special_double(line, line_len)
                if special == 1:
                    value = float("inf")
                elif special == -1:
                    value = float("-inf")
                elif special == 2:
                    value = float("nan")
                else:
                    value = None
                    if _is_finite_double(line, line_len):
                        value = self._double(line, line_len)
                    if value is None:
                        self._fail("bad double", line, line_len)

            elif kind == c'#':
                if line_len == 1 and (line[0] == c't' or line[0] == c'T'):
                    value = True
                elif line_len == 1 and (line[0] == c'f' or line[0] == c'F'):
                    value = False
                else:
                    self._fail("bad boolean", line, line_len)

            else:  # an aggregate: * % ~ > |
                status = _parse_length(line, line_len, &size)
                if status == LENGTH_OK:
                    if size > MAX_COUNT:
                        self._fail("length out of range", line, line_len)
                    count = <Py_ssize_t>size
                elif status == LENGTH_TOO_BIG:
                    self._fail("length out of range", line, line_len)
                elif status == LENGTH_NULL:
                    count = -1
                else:
                    self._fail("bad length", line, line_len)
                if count > 0:
                    # Consume the header; the elements fill the new top frame.
                    self._push_frame(
                        kind, count * 2 if kind == c'%' or kind == c'|' else count, end - nxt
                    )
                    self._pos = nxt
                    self._scan = 0
                    continue
                if kind == c'|':
                    # An empty (or null) attribute annotates the next reply: skip it.
                    self._pos = nxt
                    self._scan = 0
                    continue
                value = None if count < 0 else self._empty(kind)

            # The element is complete: consume it and hand it to its aggregate,
            # finishing every aggregate it completes on the way up.
            self._pos = nxt
            self._scan = 0
            while self._depth > 0:
                frame = &self._frames[self._depth - 1]
                if frame.spare:
                    frame.spare -= 1
                    self._reserved -= 1
                    _put(frame.items, value)
                else:
                    (<list>frame.items).append(value)
                frame.remaining -= 1
                if frame.remaining:
                    break
                kind = frame.kind
                self._depth -= 1
                items = <list>frame.items
                self._open[self._depth] = None
                if kind == c'*':
                    value = items
                elif kind == c'|':
                    break  # dropped: the annotated reply comes next at this level
                else:
                    value = self._build(kind, items)
            else:
                if self._deferred is not None:
                    value, self._deferred = self._deferred, None
                    raise value
                return value
