"""RESP2/RESP3 reply reader in pure Python: the readable specification of ``_reader.pyx``.

``Reader`` has the contract of libvalkey's ``Reader`` (the parser-interface
spec, §5-§6): bytes go in with ``feed()``, whole
replies come out of ``gets()``, and ``gets()`` returns the ``notEnoughData``
object until a reply is complete.  The compiled twin must give the same results
and raise the same errors, byte for byte, for any input and any chunking.

Where this reader deliberately differs from libvalkey's:

* RESP3 bulk errors (``!``) are handled like simple errors (libvalkey rejects them);
* big numbers (``(``) become ``int`` (libvalkey returns their text);
* attributes (``|``) are consumed and dropped; ``gets()`` returns the reply they
  annotate (libvalkey returns the attribute as a reply of its own);
* pushes (``>``) are ``PushNotification`` instances, a ``list`` subclass, so that a
  parser can tell them from arrays;
* a bulk string must end with CRLF, and integers and lengths must be canonical
  (no ``+``, no leading zeros, no ``-0``);
* an unhashable map key or set member raises ``TypeError`` once the reply is
  complete and the reader stays in sync for the next reply;
* ``len()`` counts the bytes not yet consumed; ``maxbuf`` is accepted and kept
  but has no effect here (the compiled twin uses it to shrink its buffer);
* nesting depth is limited only by memory: aggregates are kept on an explicit
  stack, so no recursion limit can be hit.

A reader is not meant to be shared between threads (nor is libvalkey's).  Calling
``feed()``/``gets()``/``set_encoding()`` while a ``gets()`` is running on the same
reader (from another thread, or from a ``replyError`` callable or a codec)
raises ``RuntimeError`` instead of corrupting the parse.

This module also defines the exceptions and the ``PushNotification`` type that
the compiled twin imports, so both twins return and raise the same classes.
Nothing here knows about sockets, valkey-py or Django.
"""

from __future__ import annotations

import codecs
import math
import operator
import re
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = [
    "ProtocolError",
    "PushNotification",
    "Reader",
    "ReaderError",
    "ReplyError",
    "protocol_error_message",
    "raise_protocol_error",
]

#: libvalkey's default for ``maxbuf``: a fully consumed buffer larger than this is shrunk.
DEFAULT_MAXBUF = 16 * 1024

#: Largest length a bulk string or an aggregate may announce (signed 64-bit).
MAX_LENGTH = 2**63 - 1


class ReaderError(Exception):
    """Base class of the reader's default exceptions."""


class ProtocolError(ReaderError):
    """The bytes received are not valid RESP; the connection must be dropped."""


class ReplyError(ReaderError):
    """Default type for error replies (``-`` and ``!``); returned, not raised."""


class PushNotification(list):
    """An out-of-band RESP3 push (``>``): a list that parsers can tell from an array."""

    __slots__ = ()


def protocol_error_message(what: str, raw: bytes) -> str:
    """The text of a protocol error: what was wrong and (the start of) the bad bytes."""
    shown = raw if len(raw) <= 32 else raw[:32] + b"..."
    return f"Protocol error: {what}: {shown!r}"


def raise_protocol_error(factory: Callable[[str], Any], errstr: str) -> NoReturn:
    """Raise like libvalkey: the type of ``factory(errstr)``, with ``errstr`` as message.

    If ``factory`` itself raises, that exception propagates unchanged.
    """
    made = factory(errstr)
    kind = type(made)
    if not issubclass(kind, BaseException):
        raise TypeError(f"protocolError returned {kind.__name__!r}, not an exception")
    raise kind(errstr)


def _check_callable(value: Any) -> Any:
    if not callable(value):
        raise TypeError("Expected a callable")
    return value


# Reply type bytes.
_BULK, _VERBATIM, _BULK_ERROR = 0x24, 0x3D, 0x21  # $ = !
_SIMPLE, _ERROR, _INTEGER = 0x2B, 0x2D, 0x3A  # + - :
_NULL, _DOUBLE, _BOOLEAN, _BIG_NUMBER = 0x5F, 0x2C, 0x23, 0x28  # _ , # (
_ARRAY, _MAP, _SET, _PUSH, _ATTRIBUTE = 0x2A, 0x25, 0x7E, 0x3E, 0x7C  # * % ~ > |

_AGGREGATES = frozenset((_ARRAY, _MAP, _SET, _PUSH, _ATTRIBUTE))
_SCALARS = (_BULK, _VERBATIM, _BULK_ERROR, _SIMPLE, _ERROR, _INTEGER, _NULL, _DOUBLE)
_TYPE_BYTES = _AGGREGATES.union(_SCALARS, (_BOOLEAN, _BIG_NUMBER))
# Aggregates announce elements; a map or an attribute announces pairs.
_PAIRS = frozenset((_MAP, _ATTRIBUTE))

# RESP3 doubles: a finite decimal, or inf/-inf/nan/-nan in any case.  Python's
# float() alone would also accept "1_0", " 1", "infinity" and "+inf".
_FINITE_DOUBLE = re.compile(rb"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SPECIAL_DOUBLES = {b"inf": math.inf, b"-inf": -math.inf, b"nan": math.nan, b"-nan": math.nan}
_BOOLEANS = {b"t": True, b"T": True, b"f": False, b"F": False}


class _Failure(Exception):
    """Internal: carries a protocol error's text out of the parse loop."""


# Length text -> value, for bulk strings and aggregates: common lengths cost
# one dict lookup instead of a validation and an int() (slow on bytes).
_LENGTHS: dict[bytes, int] = {b"-1": -1}
_LENGTHS_LIMIT = 4096


def _length(text: bytes) -> int:
    """A length missing from _LENGTHS: validated, remembered (up to a bound), returned."""
    if not text.isdigit() or (text[0] == 0x30 and len(text) > 1):
        raise _Failure(protocol_error_message("bad length", text))
    value = int(text)
    if value > MAX_LENGTH:
        raise _Failure(protocol_error_message("length out of range", text))
    if len(_LENGTHS) < _LENGTHS_LIMIT:
        _LENGTHS[text] = value
    return value


def _is_canonical_integer(text: bytes) -> bool:
    """``0`` or an optional ``-`` then digits without a leading zero."""
    digits = text[1:] if text[:1] == b"-" else text
    return digits.isdigit() and (digits[0] != 0x30 or text == b"0")


class Reader:
    """Incremental RESP2/RESP3 reply reader (pure Python twin of the compiled one)."""

    def __init__(
        self,
        protocolError: Callable[[str], Any] = ProtocolError,
        replyError: Callable[[str], Any] = ReplyError,
        encoding: str | None = None,
        errors: str | None = None,
        notEnoughData: Any = False,
        convertSetsToLists: bool = False,
    ) -> None:
        self._busy = False
        self._protocol_error = _check_callable(protocolError)
        self._reply_error = _check_callable(replyError)
        self._not_enough_data = notEnoughData
        self._convert_sets = bool(convertSetsToLists)
        self._encoding: str | None = None
        self._errors = "strict"
        self.set_encoding(encoding, errors)
        self._maxbuf = DEFAULT_MAXBUF
        # Bytes being parsed: self._buf[self._pos:] is unconsumed.  Fed bytes wait in
        # self._chunks until a parse can make progress with them (see _need), so a
        # large bulk string fed in many pieces is joined once, not once per piece.
        self._buf = b""
        self._pos = 0
        self._chunks: list[bytes] = []
        self._pending = 0
        self._need = 0
        # Offset where the CRLF search of the current element resumes.
        self._scan = 0
        # Aggregates being filled, outermost first: [type byte, elements still
        # expected (keys and values both count), items so far].
        self._stack: list[list[Any]] = []
        # The first exception met inside the current reply, raised when it completes.
        self._deferred: BaseException | None = None
        # The protocol error text once the stream is broken, for every later gets().
        self._error: str | None = None

    # -- configuration -------------------------------------------------------

    def set_encoding(self, encoding: str | None = None, errors: str | None = None) -> None:
        """Decode strings with ``encoding`` (None: return bytes), using ``errors``."""
        if encoding is not None:
            codecs.lookup(encoding)
        if errors is not None:
            codecs.lookup_error(errors)
        self._enter()
        try:
            self._encoding = encoding
            self._errors = errors if errors is not None else "strict"
        finally:
            self._busy = False

    def setmaxbuf(self, maxbuf: int | None) -> None:
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

    def getmaxbuf(self) -> int:
        return self._maxbuf

    def len(self) -> int:
        """Bytes fed and not yet consumed by a returned reply."""
        return len(self._buf) - self._pos + self._pending

    def has_data(self) -> bool:
        return self.len() > 0

    # -- input ---------------------------------------------------------------

    def feed(self, buf: Any, off: int = 0, len: int = -1) -> None:
        """Append ``buf[off:off + len]`` (any bytes-like object, or str as UTF-8)."""
        if isinstance(buf, str):
            buf = buf.encode("utf-8")
        if type(buf) is bytes:
            size = buf.__len__()
            view = None
        else:
            view = memoryview(buf)  # TypeError for objects without the buffer protocol
            if not view.c_contiguous:
                raise BufferError("feed() needs a C-contiguous buffer")
            if view.ndim != 1 or view.itemsize != 1:
                view = view.cast("B")
            size = view.nbytes
        if len == -1:
            len = size - off
        if off < 0 or len < 0:
            raise ValueError("negative input")
        if off + len > size:
            raise ValueError("input is larger than buffer size")
        if len == 0 or self._error is not None:
            return  # a broken stream ignores input, as libvalkey's does
        if view is not None:
            data = bytes(view[off : off + len])
        elif off == 0 and len == size:
            data = buf
        else:
            data = buf[off : off + len]
        self._enter()
        try:
            if self._pending:
                self._chunks.append(data)
                self._pending += len
            elif self._pos >= self._buf.__len__():
                # Everything before was consumed: drop it instead of copying it.
                self._buf = data
                self._pos = 0
                self._scan = 0
            else:
                self._chunks.append(data)
                self._pending = len
        finally:
            self._busy = False

    # -- output --------------------------------------------------------------

    def gets(self, shouldDecode: Any = True) -> Any:
        """The next complete reply, or the ``notEnoughData`` object.

        Server errors are returned as ``replyError(message)`` results.  Protocol
        errors raise, and keep raising: the stream cannot be trusted any more.
        """
        if self._busy:
            self._enter()  # raises
        self._busy = True
        try:
            if self._error is not None:
                raise_protocol_error(self._protocol_error, self._error)
            if self._pending:
                if len(self._buf) - self._pos + self._pending < self._need:
                    return self._not_enough_data
                self._join()
            try:
                return self._parse(shouldDecode)
            except _Failure as failure:
                errstr = str(failure)
            # Outside the except block, so the raised error has no internal context.
            self._break(errstr)
            raise_protocol_error(self._protocol_error, errstr)
        finally:
            self._busy = False

    # -- internals -----------------------------------------------------------

    def _enter(self) -> None:
        if self._busy:
            raise RuntimeError("Reader is already in use (by another thread or a callback)")
        self._busy = True

    def _join(self) -> None:
        self._chunks.insert(0, self._buf[self._pos :])
        self._scan -= self._pos
        self._buf = b"".join(self._chunks)
        self._chunks.clear()
        self._pos = 0
        self._pending = 0

    def _break(self, errstr: str) -> None:
        """Enter the error state: forget every byte and every partial reply."""
        self._error = errstr
        self._buf = b""
        self._pos = self._pending = self._need = self._scan = 0
        self._chunks.clear()
        self._stack.clear()
        self._deferred = None

    def _defer(self, exc: BaseException) -> None:
        if self._deferred is None:
            self._deferred = exc

    def _decode(self, data: bytes) -> Any:
        try:
            return data.decode(self._encoding, self._errors)  # type: ignore[arg-type]
        except Exception as exc:  # the first decode error is raised with the whole reply
            self._defer(exc)
            return None

    def _server_error(self, data: bytes) -> Any:
        try:
            return self._reply_error(data.decode("utf-8", "replace"))
        except Exception as exc:
            self._defer(exc)
            return None

    def _build(self, kind: int, items: list[Any]) -> Any:
        """The container for a finished aggregate (None for an attribute: dropped)."""
        if kind == _ARRAY:
            return items
        if kind == _MAP:
            result: dict[Any, Any] = {}
            for index in range(0, len(items), 2):
                try:
                    result[items[index]] = items[index + 1]
                except Exception as exc:  # unhashable key: raised with the whole reply
                    self._defer(exc)
            return result
        if kind == _SET:
            if self._convert_sets:
                return items
            members: set[Any] = set()
            for item in items:
                try:
                    members.add(item)
                except Exception as exc:
                    self._defer(exc)
            return members
        if kind == _PUSH:
            return PushNotification(items)
        return None

    def _parse(self, decode: bool) -> Any:
        """Parse from ``self._pos``; return a whole reply or the notEnoughData object.

        An element is consumed only once it is complete: ``pos`` always points at
        the start of an element, and the open aggregates hold exactly the elements
        before it.  The innermost one lives in locals while parsing (for speed);
        it and ``self._pos`` are written back on every way out, including
        exceptions, so a reader can resume after a callable raised mid-reply.
        """
        value: Any
        buf = self._buf
        find = buf.find
        end = len(buf)
        lengths = _LENGTHS
        stack = self._stack
        encoding = self._encoding if decode else None
        pos = self._pos
        if self._scan > pos:
            # The element at pos was waiting for the end of its line: look only at
            # the new bytes, so a long line fed in small pieces is scanned once.
            if buf.find(b"\r\n", self._scan) < 0:
                self._scan = end - 1
                self._need = end - pos + 1
                return self._not_enough_data
            self._scan = 0
        if stack:
            top_kind, top_left, top_items = stack[-1]
            top_append = top_items.append
        else:
            top_kind = top_left = 0
            top_items = top_append = None
        try:
            while True:
                if pos >= end:
                    self._need = 1
                    return self._not_enough_data
                kind = buf[pos]
                eol = find(b"\r\n", pos + 1)
                if eol < 0:
                    if kind not in _TYPE_BYTES:
                        raise _Failure(
                            protocol_error_message("invalid reply type byte", buf[pos : pos + 1])
                        )
                    # Resume the search at the last byte: it may be a CR whose LF is late.
                    self._scan = end - 1
                    self._need = end - pos + 1
                    return self._not_enough_data
                line = buf[pos + 1 : eol]
                nxt = eol + 2

                if kind == _BULK:
                    try:
                        size = lengths[line]
                    except KeyError:
                        size = _length(line)
                    if size >= 0:
                        stop = nxt + size
                        if stop + 2 > end:
                            self._need = stop + 2 - pos
                            return self._not_enough_data
                        # (Indexing: much cheaper than a slice, which makes an object.)
                        if buf[stop] != 0x0D or buf[stop + 1] != 0x0A:
                            raise _Failure(
                                protocol_error_message(
                                    "bulk not followed by CRLF", buf[stop : stop + 2]
                                )
                            )
                        value = buf[nxt:stop]
                        nxt = stop + 2
                        if encoding is not None:
                            value = self._decode(value)
                    else:
                        value = None

                elif kind in (_VERBATIM, _BULK_ERROR):
                    try:
                        size = lengths[line]
                    except KeyError:
                        size = _length(line)
                    if size >= 0:
                        stop = nxt + size
                        if stop + 2 > end:
                            self._need = stop + 2 - pos
                            return self._not_enough_data
                        if buf[stop] != 0x0D or buf[stop + 1] != 0x0A:
                            raise _Failure(
                                protocol_error_message(
                                    "bulk not followed by CRLF", buf[stop : stop + 2]
                                )
                            )
                        value = buf[nxt:stop]
                        nxt = stop + 2
                        if kind == _BULK_ERROR:
                            value = self._server_error(value)
                        elif size < 4 or value[3] != 0x3A:
                            raise _Failure(protocol_error_message("bad verbatim string", value))
                        elif encoding is not None:
                            value = self._decode(value[4:])
                        else:
                            value = value[4:]
                    elif kind == _VERBATIM:
                        value = None
                    else:
                        raise _Failure(protocol_error_message("bad length", line))

                elif kind in (_SIMPLE, _ERROR):
                    # (int membership: much faster than searching for b"\r")
                    if 0x0D in line or 0x0A in line:
                        raise _Failure(protocol_error_message("CR or LF in simple string", line))
                    if kind == _ERROR:
                        value = self._server_error(line)
                    elif encoding is not None:
                        value = self._decode(line)
                    else:
                        value = line

                elif kind in (_INTEGER, _BIG_NUMBER):
                    if not _is_canonical_integer(line):
                        raise _Failure(protocol_error_message("bad integer", line))
                    value = int(line)

                elif kind == _NULL:
                    if line:
                        raise _Failure(protocol_error_message("bad null", line))
                    value = None

                elif kind == _DOUBLE:
                    value = _SPECIAL_DOUBLES.get(line.lower())
                    if value is None:
                        if not _FINITE_DOUBLE.fullmatch(line):
                            raise _Failure(protocol_error_message("bad double", line))
                        value = float(line)
                        if not math.isfinite(value):
                            raise _Failure(protocol_error_message("bad double", line))

                elif kind == _BOOLEAN:
                    value = _BOOLEANS.get(line)
                    if value is None:
                        raise _Failure(protocol_error_message("bad boolean", line))

                elif kind in _AGGREGATES:
                    try:
                        count = lengths[line]
                    except KeyError:
                        count = _length(line)
                    if count > MAX_LENGTH // 2:
                        raise _Failure(protocol_error_message("length out of range", line))
                    if count > 0:
                        # Consume the header; the elements fill the new innermost aggregate.
                        if top_items is not None:
                            stack[-1][1] = top_left
                        top_kind = kind
                        top_left = count * 2 if kind in _PAIRS else count
                        top_items = []
                        top_append = top_items.append
                        stack.append([top_kind, top_left, top_items])
                        pos = nxt
                        continue
                    if kind == _ATTRIBUTE:
                        # An empty (or null) attribute annotates the next reply: skip it.
                        pos = nxt
                        continue
                    value = None if count < 0 else self._build(kind, [])

                else:
                    raise _Failure(
                        protocol_error_message("invalid reply type byte", buf[pos : pos + 1])
                    )

                # The element is complete: consume it and hand it to its aggregate,
                # finishing every aggregate it completes on the way up.
                pos = nxt
                while top_append is not None:
                    top_append(value)
                    top_left -= 1
                    if top_left:
                        break
                    done_kind, done_items = top_kind, top_items
                    stack.pop()
                    if stack:
                        top_kind, top_left, top_items = stack[-1]
                        top_append = top_items.append
                    else:
                        top_items = top_append = None
                    if done_kind == _ATTRIBUTE:
                        break  # dropped: the annotated reply comes next at this level
                    value = self._build(done_kind, done_items)
                else:
                    self._need = 0
                    deferred = self._deferred
                    if deferred is not None:
                        self._deferred = None
                        raise deferred
                    return value
        finally:
            self._pos = pos
            if top_items is not None:
                stack[-1][1] = top_left
