"""A batch of commands on one valkey-py connection, packed and read in bulk.

The cluster routers send a multi-key cache operation as one command per hash
slot: ``get_many`` of 100 keys is often 100 ``MGET``s.  valkey-py would pack
them argument by argument and read each reply through three layers of
Python; here the whole batch is packed with one join and the replies are
read straight off the socket by the compiled RESP ``Reader``
(``django_valkey._speedups``).  valkey-py still owns the connection: it is
taken from and given back to its pool, opened, health-checked and written by
valkey-py; this module only reads a connection valkey-py left idle (nothing
buffered), and drops the connection whenever a read fails.

Connections this path cannot serve exactly like valkey-py (decoded
responses, another encoding, client-side caching) are left to valkey-py:
see :func:`eligible`.
"""

from __future__ import annotations

from typing import Any

from valkey.cluster import ClusterParser
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import DataError, InvalidResponse
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from django_valkey import _speedups

__all__ = ["async_read_replies", "eligible", "pack", "read_replies"]

_NOT_ENOUGH = object()
_BUFFER_SIZE = 65536
# valkey-py's cluster parser turns MOVED/ASK/... into its exception classes.
_reply_error = ClusterParser.parse_error


def eligible(conn: Any) -> bool:
    """Whether replies on ``conn`` may be read here (raw bytes, UTF-8 keys,
    no client-side cache that would interleave invalidation pushes)."""
    encoder = conn.encoder
    return (
        not encoder.decode_responses
        and encoder.encoding in ("utf-8", "utf8")
        and getattr(conn, "client_cache", None) is None
    )


def _arg(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, bool):
        raise DataError(
            "Invalid input of type: 'bool'. Convert to a bytes, string, int or float first."
        )
    if isinstance(value, (int, float)):
        return repr(value).encode()
    raise DataError(
        f"Invalid input of type: '{type(value).__name__}'. "
        "Convert to a bytes, string, int or float first."
    )


# b"*<args>\r\n$<len>\r\n<name>\r\n" by (name, number of arguments).
_HEADS: dict[tuple[Any, int], bytes] = {}


def _head(name: Any, size: int) -> bytes:
    head = _HEADS.get((name, size))
    if head is None:
        data = name if type(name) is bytes else _arg(name)
        head = b"*%d\r\n$%d\r\n%b\r\n" % (size, len(data), data)
        if len(_HEADS) < 256:
            _HEADS[(name, size)] = head
    return head


def pack(commands: list[tuple[Any, ...]]) -> bytes:
    """The RESP encoding of ``commands`` (arguments as valkey-py encodes them)."""
    parts: list[bytes] = []
    append = parts.append
    last: Any = None
    last_size = 0
    head = b""
    for args in commands:
        size = len(args)
        if args[0] is not last or size != last_size:
            last, last_size = args[0], size
            head = _HEADS.get((last, size)) or _head(last, size)
        if size == 2:
            # One key (get_many's MGET per slot): one format for the command.
            value = args[1]
            if type(value) is not bytes:
                value = _arg(value)
            append(b"%b$%d\r\n%b\r\n" % (head, len(value), value))
            continue
        append(head)
        for value in args[1:]:
            if type(value) is not bytes:
                value = _arg(value)
            append(b"$%d\r\n%b\r\n" % (len(value), value))
    return b"".join(parts)


def _reader() -> Any:
    return _speedups.Reader(
        protocolError=InvalidResponse, replyError=_reply_error, notEnoughData=_NOT_ENOUGH
    )


def _collect(reader: Any, replies: list[Any], count: int) -> None:
    while len(replies) < count:
        reply = reader.gets(False)
        if reply is _NOT_ENOUGH:
            return
        replies.append(reply)


def read_replies(conn: Any, count: int) -> list[Any]:
    """The next ``count`` replies on ``conn`` (server errors as exception
    values).  A failed read drops the connection and raises valkey-py's
    ``TimeoutError`` or ``ConnectionError``."""
    sock = conn._sock
    if sock is None:
        raise ValkeyConnectionError("Connection closed by the client")
    reader = _reader()
    replies: list[Any] = []
    buffer = bytearray(_BUFFER_SIZE)
    try:
        while len(replies) < count:
            size = sock.recv_into(buffer)
            if not size:
                raise ValkeyConnectionError("Connection closed by server.")
            reader.feed(buffer, 0, size)
            _collect(reader, replies, count)
    except TimeoutError:
        conn.disconnect()
        raise ValkeyTimeoutError(f"Timeout reading from {conn.host}:{conn.port}") from None
    except OSError as exc:
        conn.disconnect()
        raise ValkeyConnectionError(
            f"Error while reading from {conn.host}:{conn.port}: {exc.args}"
        ) from exc
    except BaseException:
        conn.disconnect()
        raise
    if reader.has_data():
        # More bytes than replies: the stream is out of step with the requests.
        conn.disconnect()
        raise InvalidResponse("unexpected data after the pipelined replies")
    return replies


async def async_read_replies(conn: Any, count: int) -> list[Any]:
    """The asyncio twin of :func:`read_replies` (valkey-py's asyncio ``Connection``)."""
    import asyncio

    # asyncio.timeout where valkey-py trusts it (3.11+), else its backport.
    from valkey._parsers.base import async_timeout

    stream = conn._reader
    if stream is None:
        raise ValkeyConnectionError("Connection closed by the client")
    reader = _reader()
    replies: list[Any] = []
    timeout = conn.socket_timeout
    try:
        while len(replies) < count:
            if timeout is None:
                data = await stream.read(_BUFFER_SIZE)
            else:
                async with async_timeout(timeout):
                    data = await stream.read(_BUFFER_SIZE)
            if not data:
                raise ValkeyConnectionError("Connection closed by server.")
            reader.feed(data)
            _collect(reader, replies, count)
    except (TimeoutError, asyncio.TimeoutError):
        await conn.disconnect(nowait=True)
        raise ValkeyTimeoutError(f"Timeout reading from {conn.host}:{conn.port}") from None
    except OSError as exc:
        await conn.disconnect(nowait=True)
        raise ValkeyConnectionError(
            f"Error while reading from {conn.host}:{conn.port}: {exc.args}"
        ) from exc
    except BaseException:
        await conn.disconnect(nowait=True)
        raise
    if reader.has_data():
        await conn.disconnect(nowait=True)
        raise InvalidResponse("unexpected data after the pipelined replies")
    return replies
