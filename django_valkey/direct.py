"""Sending one command on a pooled valkey-py connection directly.

valkey-py's ``execute_command`` is general: retries, client-side caching,
health polling of every pooled connection before each command.  For the
plain configuration (a plain ``Valkey`` over a plain ``ConnectionPool``, no
retries, no client-side caching, not a single-connection client) the cache
sends the command on a pooled connection itself, with the same packing,
parsing, response callbacks and error semantics:

* sync: a command is written with one ``writev`` and its reply read with
  the parser (``poll`` + ``recv`` under a socket timeout): three system
  calls for a GET.  A dead pooled connection is learnt from the write or
  read that fails, not from a check before every command (see
  :func:`_round_trip` for when the command is sent again); the process id
  is tracked with a fork hook instead of two ``getpid()`` calls;
* async: see :func:`execute_async`; plain commands are pipelined
  automatically (``django_valkey.mux``) when the factory set it up.

Errors disconnect the connection (valkey-py's ``send_packed_command`` and
``read_response`` do), so a half-read reply never returns to the pool.
Anything unusual goes through valkey-py unchanged.  Nothing here knows about
Django or about cache semantics.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from typing import Any

import valkey
from valkey.asyncio.client import Valkey as _AsyncValkey
from valkey.asyncio.connection import ConnectionPool as _AsyncConnectionPool
from valkey.client import Valkey as _Valkey
from valkey.connection import ConnectionPool as _ConnectionPool
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import ResponseError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

__all__ = ["ENABLED", "execute_async", "execute_pipeline_sync", "execute_sync"]

#: DJANGO_VALKEY_NO_FASTPATH=1 sends everything through valkey-py's own
#: execute_command / pipelines (same results; for comparison and debugging).
ENABLED = os.environ.get("DJANGO_VALKEY_NO_FASTPATH", "") in ("", "0")

# execute_command options that only feed a response callback (SET ... GET).
_PLAIN_OPTIONS = frozenset({"get"})

# Commands that must never share a multiplexed connection: they block the
# connection, change its state for later commands, or span several replies.
_UNSHARED = frozenset(
    {
        "AUTH", "BLMOVE", "BLMPOP", "BLPOP", "BRPOP", "BRPOPLPUSH", "BZMPOP", "BZPOPMAX",
        "BZPOPMIN", "CLIENT", "DISCARD", "EXEC", "HELLO", "MONITOR", "MULTI", "PSUBSCRIBE",
        "PUNSUBSCRIBE", "QUIT", "READONLY", "READWRITE", "RESET", "SELECT", "SSUBSCRIBE",
        "SUBSCRIBE", "SUNSUBSCRIBE", "UNSUBSCRIBE", "UNWATCH", "WAIT", "WAITAOF", "WATCH",
        "XREAD", "XREADGROUP",
    }
)  # fmt: skip
_FALLBACK = object()

# The sync fast path uses pool internals of valkey-py 6 (checked here once).
_SYNC_ENABLED = valkey.__version__.split(".")[0] == "6" and all(
    hasattr(_ConnectionPool, name) for name in ("_checkpid", "make_connection", "reset")
)

_pid = os.getpid()


def _after_fork_in_child() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_after_fork_in_child)

# Commands a stale connection may re-send whatever happened: they change
# nothing on the server.
_READ_ONLY = frozenset(
    {
        "DBSIZE", "EXISTS", "GET", "GETRANGE", "HEXISTS", "HGET", "HGETALL", "HKEYS", "HLEN",
        "HMGET", "HVALS", "KEYS", "MGET", "PING", "PTTL", "SCAN", "SCARD", "SISMEMBER",
        "SMEMBERS", "SMISMEMBER", "SSCAN", "STRLEN", "TTL", "TYPE",
    }
)  # fmt: skip
# os.writev takes at most IOV_MAX (1024 on Linux) buffers.
_MAX_IOV = 512


def _pool_of(raw: Any) -> Any:
    """The pool to check a connection out of directly, or None (valkey-py's path)."""
    if (
        not ENABLED
        or not _SYNC_ENABLED
        or type(raw) is not _Valkey
        or type(pool := raw.connection_pool) is not _ConnectionPool
        or raw.connection is not None
    ):
        return None
    return pool


def _checkout(pool: Any) -> Any:
    if pool.pid != _pid:
        pool._checkpid()
    with pool._lock:
        try:
            conn = pool._available_connections.pop()
        except IndexError:
            conn = pool.make_connection()
        pool._in_use_connections.add(conn)
    return conn


def _release(pool: Any, conn: Any) -> None:
    with pool._lock:
        pool._in_use_connections.discard(conn)
        if conn.pid == pool.pid:
            pool._available_connections.append(conn)
        else:
            pool._created_connections -= 1
            conn.disconnect()


class _Unsent(Exception):
    """The socket refused the bytes: none of them reached the server."""


def _write(conn: Any, packed: list[bytes]) -> None:
    """Send ``packed``: one ``write``/``writev`` when the socket takes it all, which it
    does unless its buffer is full (Python's ``sendall`` on a socket with a
    timeout polls before every send); the rest through valkey-py's send,
    which waits under the socket timeout.  Raises :class:`_Unsent` when the
    socket refused everything (a connection the server already reset)."""
    sock = conn._sock
    if len(packed) > _MAX_IOV or type(sock) is not socket.socket:
        # A TLS socket must encrypt: never write to its descriptor directly.
        conn.send_packed_command(packed, check_health=False)
        return
    try:
        if len(packed) == 1:
            data = packed[0]
            sent = os.write(sock.fileno(), data)
            if sent == len(data):
                return
        else:
            sent = os.writev(sock.fileno(), packed)
            if sent == sum(map(len, packed)):
                return
    except BlockingIOError:
        sent = 0
    except OSError as exc:
        raise _Unsent from exc
    conn.send_packed_command([b"".join(packed)[sent:]], check_health=False)


def _refused(conn: Any, exc: BaseException) -> bool:
    """Did the server reset the connection without reading what was sent?

    A reset (RST) answers bytes that reach a socket the server has closed
    (``CLIENT KILL``, a restart), or a close with unread bytes: either way
    the command was never read whole, so never run.  A plain end of stream
    (FIN) after the command may follow its execution: not a refusal.
    """
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (ConnectionResetError, BrokenPipeError)):
            return True
        cause = cause.__cause__ or cause.__context__
    sock = conn._sock
    if sock is None:
        return False
    try:
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    except OSError:
        return False
    return error in (errno.ECONNRESET, errno.EPIPE)


def _round_trip(conn: Any, packed: list[bytes], count: int, read_only: bool) -> list[Any]:
    """Send ``packed`` (``count`` commands) and read their replies.

    A pooled connection found dead is learnt from the send or read that
    fails, not from a poll before every command; the commands are then sent
    again on a new connection when none of their bytes reached the server
    (the socket refused them, or the server reset the connection unread) or
    when they are all read-only.  Server error replies are kept in the list.
    Other errors disconnect (a half-read reply never returns to the pool).
    """
    fresh = conn._sock is None
    if fresh:
        conn.connect()
    try:
        try:
            _write(conn, packed)
            return _read_replies(conn, count)
        except _Unsent:
            if fresh:
                raise
        except ValkeyConnectionError as exc:
            # Of several commands, the server may have run the first ones
            # before a reset: only a lone command is known unrun.
            if fresh or not (read_only or (count == 1 and _refused(conn, exc))):
                raise
        conn.disconnect()
        conn.connect()
        _write(conn, packed)
        return _read_replies(conn, count)
    except _Unsent as unsent:
        conn.disconnect()
        raise ValkeyConnectionError(f"Error while writing to socket: {unsent.__cause__}") from None
    except BaseException:
        conn.disconnect()
        raise


def _read_replies(conn: Any, count: int) -> list[Any]:
    """``count`` replies; a failed read leaves the socket open (the caller
    may ask it whether the server reset it, then disconnects)."""
    if count == 1:
        try:
            return [_read_reply(conn)]
        except ResponseError as exc:  # a reply, not a broken stream
            return [exc]
    replies: list[Any] = []
    for _ in range(count):
        try:
            replies.append(_read_reply(conn))
        except ResponseError as exc:
            replies.append(exc)
    return replies


def _read_reply(conn: Any) -> Any:
    """``conn.read_response(disconnect_on_error=False)``, straight from the
    parser when valkey-py's wrapper would only add its error messages."""
    if conn.health_check_interval or conn.protocol in (3, "3"):
        return conn.read_response(disconnect_on_error=False)
    try:
        response = conn._parser.read_response(disable_decoding=False)
    except TimeoutError:
        raise ValkeyTimeoutError(f"Timeout reading from {conn._host_error()}") from None
    except OSError as exc:
        message = f"Error while reading from {conn._host_error()} : {exc.args}"
        raise ValkeyConnectionError(message) from exc
    if isinstance(response, ResponseError):
        raise response
    return response


def execute_sync(raw: Any, args: tuple[Any, ...], options: Any = None) -> Any:
    """``raw.execute_command(*args, **options)``, lean for the common case."""
    pool = _pool_of(raw)
    if pool is None or (options and not options.keys() <= _PLAIN_OPTIONS):
        return raw.execute_command(*args, **(options or {}))
    conn = _checkout(pool)
    try:
        if conn.retry_on_error or conn.client_cache is not None:
            usable = False
        else:
            usable = True
            packed = conn._command_packer.pack(*args)
            (response,) = _round_trip(conn, packed, 1, args[0] in _READ_ONLY)
    finally:
        _release(pool, conn)
    if not usable:
        return raw.execute_command(*args, **(options or {}))
    if isinstance(response, ResponseError):
        raise response
    # Command names are upper case here: skip the case-folding get().
    callback = dict.get(raw.response_callbacks, args[0])
    if callback is None:
        return response
    return callback(response, **options) if options else callback(response)


def _valkey_pipeline(raw: Any, commands: list[tuple[Any, ...]], raise_on_error: bool) -> Any:
    pipe = raw.pipeline(transaction=False)
    for args in commands:
        pipe.execute_command(*args)
    return pipe.execute(raise_on_error=raise_on_error)


def execute_pipeline_sync(
    raw: Any, commands: list[tuple[Any, ...]], raise_on_error: bool = True
) -> list[Any]:
    """A non-transactional pipeline of ``commands`` in one write and one
    read pass, with valkey-py's response callbacks; like
    ``raw.pipeline(transaction=False)`` + ``execute(raise_on_error)``."""
    pool = _pool_of(raw)
    if pool is None:
        return _valkey_pipeline(raw, commands, raise_on_error)
    conn = _checkout(pool)
    try:
        if conn.retry_on_error or conn.client_cache is not None:
            usable = False
        else:
            usable = True
            read_only = all(args[0] in _READ_ONLY for args in commands)
            replies = _round_trip(conn, conn.pack_commands(commands), len(commands), read_only)
    finally:
        _release(pool, conn)
    if not usable:
        return _valkey_pipeline(raw, commands, raise_on_error)
    callbacks = raw.response_callbacks
    for i, (args, reply) in enumerate(zip(commands, replies)):
        if isinstance(reply, ResponseError):
            if raise_on_error:
                raise reply
            continue
        callback = dict.get(callbacks, args[0])
        if callback is not None:
            replies[i] = callback(reply)
    return replies


def _stale(reader: Any) -> bool:
    # What the event loop already knows about an idle pooled connection: the
    # server closed it, it failed, or it holds bytes nobody asked for.
    return reader.at_eof() or reader.exception() is not None or bool(reader._buffer)


async def _send(conn: Any, packed: list[bytes]) -> None:
    """``conn.send_packed_command(packed)`` without its per-command timer task.

    A command the socket took at once (the transport buffers nothing) has
    nothing to wait for; only otherwise is the drain awaited, under the
    socket timeout.  Failures disconnect, as in valkey-py.
    """
    writer = conn._writer
    try:
        writer.writelines(packed)
        if writer.transport.get_write_buffer_size():
            timeout = conn.socket_timeout
            if timeout:
                await asyncio.wait_for(writer.drain(), timeout)
            else:
                await writer.drain()
    except asyncio.TimeoutError:
        await conn.disconnect(nowait=True)
        raise ValkeyTimeoutError("Timeout writing to socket") from None
    except OSError as exc:
        await conn.disconnect(nowait=True)
        raise ValkeyConnectionError(f"Error while writing to socket: {exc}") from exc
    except BaseException:
        await conn.disconnect(nowait=True)
        raise


async def execute_async(raw: Any, args: tuple[Any, ...], options: Any = None) -> Any:
    """``await raw.execute_command(*args, **options)``, lean for the common case.

    With automatic pipelining (the factory put a ``django_valkey.mux``
    multiplexer on the pool) a plain command shares the loop's connection
    with the other callers'; commands in ``_UNSHARED`` take a pooled one.

    On a plain asyncio ``Valkey`` over a plain ``ConnectionPool`` (no retries,
    no client-side caching, not a single-connection client) the command is
    sent on a pooled connection directly.  valkey-py's own path polls each
    pooled connection with an extra event-loop turn before every command,
    about a third of the client's CPU per command; here a pooled connection
    is checked against what the loop has already read (end of stream, error,
    unread bytes) and reconnected if stale.  Anything else goes through
    valkey-py unchanged.  Errors and cancellation disconnect the connection
    (valkey-py's ``send_packed_command``/``read_response`` do), so a
    half-read reply never returns to the pool.
    """
    if (
        not ENABLED
        or type(raw) is not _AsyncValkey
        or raw.single_connection_client
        or (options and not options.keys() <= _PLAIN_OPTIONS)
    ):
        return await raw.execute_command(*args, **(options or {}))
    pool = raw.connection_pool
    mux = pool.__dict__.get("_dv_mux")
    if mux is not None and args[0] not in _UNSHARED:
        timeout = pool.connection_kwargs.get("socket_timeout")
        response = await mux.execute(args, timeout, args[0] in _READ_ONLY)
    elif type(pool) is not _AsyncConnectionPool:
        return await raw.execute_command(*args, **(options or {}))
    else:
        response = await _execute_pooled(raw, pool, args, options)
        if response is _FALLBACK:
            return await raw.execute_command(*args, **(options or {}))
    # Command names are upper case here: skip the case-folding get().
    callbacks: Any = raw.response_callbacks
    callback = dict.get(callbacks, args[0])
    if callback is None:
        return response
    return callback(response, **options) if options else callback(response)


async def _execute_pooled(raw: Any, pool: Any, args: tuple[Any, ...], options: Any) -> Any:
    """The command on a pooled connection of its own (or _FALLBACK)."""
    conn = pool.get_available_connection()
    if conn.retry_on_error or conn.client_cache is not None:
        await pool.release(conn)
        return _FALLBACK
    try:
        reader = conn._reader
        if reader is None or conn._writer is None or _stale(reader):
            if reader is not None:
                await conn.disconnect(nowait=True)
            # A handshake cut short (error, cancellation) disconnects itself.
            await conn.connect()
        if conn.health_check_interval:
            await conn.check_health()
        await _send(conn, conn.pack_command(*args))
        return await conn.read_response()
    finally:
        await pool.release(conn)
