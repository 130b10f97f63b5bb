"""Automatic pipelining of plain commands on the asyncio path.

Commands issued concurrently on one event loop share a small set of
connections per pool (one by default): each is packed and queued on a
connection at once, and everything queued during one loop iteration leaves
in a single ``write`` at the end of it (the first command on an idle
connection goes out at once, so a lone caller pays no extra loop turn).  The
connection's transport hands received bytes straight to the wire (its
protocol is replaced once the handshake is done: no reader task), which
parses the replies and resolves the callers' futures in order.

Invariants that keep the reply stream in step (any breach is fatal for the
connection, never for the stream of another):

* a command's future is appended to ``pending`` in the same synchronous step
  as its bytes are queued, and bytes are only ever written in queue order;
* every command queued has exactly one entry; a caller that gives up
  (cancelled, timed out) leaves its entry in place, done, and the reader
  drops the reply it was waiting for;
* a connection that fails (EOF, read or write error, a reply nobody waits
  for, a server that sent nothing while a caller's timeout ran out) is
  closed, every entry still pending gets the error, and the next command
  opens a new connection.

Sentinel pools are multiplexed too: a shared connection to a primary that
answers READONLY (demoted by a failover) is failed like a lost one, so the
next command asks the sentinels for the new primary.

Only plain, connection-neutral commands come here (``direct.execute_async``
decides): blocking commands, MULTI/EXEC, WATCH, pipelines, locks and
anything that changes connection state keep a pooled connection of their
own.  Nothing here knows about Django or about cache semantics.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import deque
from typing import Any

from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import ReadOnlyError, ResponseError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from django_valkey.parsers import _NOT_ENOUGH_DATA, _make_reader, _push_type

__all__ = ["DEFAULT_CONNECTIONS", "DEFAULT_MAX_IN_FLIGHT", "DISABLED_BY_ENV", "Multiplexer"]

#: DJANGO_VALKEY_NO_PIPELINING=1 turns automatic pipelining off everywhere
#: (whatever OPTIONS say): for comparisons and for running the test suite
#: both ways.
DISABLED_BY_ENV = os.environ.get("DJANGO_VALKEY_NO_PIPELINING", "") not in ("", "0")
DEFAULT_CONNECTIONS = 1
#: Commands in flight per pool and loop before callers wait (the server
#: queues the replies of a pipeline in memory; a few thousand are cheap).
DEFAULT_MAX_IN_FLIGHT = 4096

_READ_SIZE = 65536
_CLOSED = "Connection closed by server."


class _Wire:
    """One shared connection: its queue of unanswered commands, the bytes
    waiting for this iteration's flush, and the task reading the replies."""

    __slots__ = (
        "conn",
        "dead",
        "flush_handle",
        "loop",
        "mux",
        "out",
        "pending",
        "push_type",
        "reader",
        "reads",
        "transport",
    )

    def __init__(self, mux: Multiplexer, conn: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.mux = mux
        self.conn = conn
        self.loop = loop
        self.transport = conn._writer.transport
        self.pending: deque[asyncio.Future[Any]] = deque()
        self.out: list[bytes] = []
        self.flush_handle: asyncio.Handle | None = None
        self.dead: BaseException | None = None
        # Chunks received so far: a timed-out caller compares it with the
        # count when its command was queued (no bytes since: the server is
        # not answering, the connection is given up).
        self.reads = 0
        self.reader = _make_reader(conn._parser, None, conn.encoder)
        self.push_type = _push_type()
        # From now on the transport feeds this wire directly (no reader
        # task: a reply wakes its caller one loop turn after it arrives).
        leftover = bytes(conn._reader._buffer)
        self.transport.set_protocol(_WireProtocol(self))
        if leftover:
            self.received(leftover)

    def submit(self, packed: list[bytes]) -> asyncio.Future[Any]:
        """Queue one command packed as ``packed``: the future of its reply."""
        future = self.loop.create_future()
        pending = self.pending
        if not pending and self.flush_handle is None:
            # Nothing else queued in this iteration: no reason to wait for one.
            pending.append(future)
            self.transport.writelines(packed)
            return future
        pending.append(future)
        self.out.extend(packed)
        if self.flush_handle is None:
            self.flush_handle = self.loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self.flush_handle = None
        out, self.out = self.out, []
        if self.dead is None:
            # A transport that lost its connection drops the bytes; the read
            # loop sees the loss and fails every pending entry.
            self.transport.write(b"".join(out))

    def received(self, data: bytes) -> None:
        """Bytes from the server: hand every whole reply to its caller."""
        if self.dead is not None:
            return
        self.reads += 1
        reader = self.reader
        pending = self.pending
        release = self.mux.release_slot
        try:
            reader.feed(data)
            while True:
                reply = reader.gets()
                if reply is _NOT_ENOUGH_DATA:
                    return
                if type(reply) is self.push_type:
                    continue  # never a reply: pushes are not routed here
                if not pending:
                    raise ValkeyConnectionError("reply with no command waiting for it")
                if type(reply) is ReadOnlyError and getattr(self.mux.pool, "is_master", False):
                    # A sentinel-managed primary that became a replica:
                    # the next connection asks the sentinels again.
                    raise ValkeyConnectionError("The previous master is now a slave")
                future = pending.popleft()
                release()
                if not future.done():
                    future.set_result(reply)
        except Exception as exc:  # a broken stream fails the wire
            if not isinstance(exc, (ValkeyConnectionError, ValkeyTimeoutError)):
                exc = ValkeyConnectionError(f"Error while reading from socket: {exc!r}")
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        """Close for good: every command still waiting gets ``exc``."""
        if self.dead is not None:
            return
        self.dead = exc
        self.mux.forget(self)
        if self.flush_handle is not None:
            self.flush_handle.cancel()
            self.flush_handle = None
        self.out.clear()
        self.conn._close()
        pending = self.pending
        while pending:
            future = pending.popleft()
            self.mux.release_slot()
            if not future.done():
                # One instance per caller: a shared one would collect every
                # caller's traceback.
                future.set_exception(type(exc)(*exc.args))

    def expire(self, future: asyncio.Future[Any], reads: int) -> None:
        """A caller's timeout ran out: its reply will be dropped; if nothing
        at all came since its command was queued, the server is not
        answering and the connection is given up (as valkey-py does)."""
        if future.done():
            return
        error = ValkeyTimeoutError("Timeout reading from socket")
        future.set_exception(error)
        if self.reads == reads:
            self.fail(error)


class _WireProtocol(asyncio.Protocol):
    """The transport's protocol once a connection is shared."""

    __slots__ = ("wire",)

    def __init__(self, wire: _Wire) -> None:
        self.wire = wire

    def data_received(self, data: bytes) -> None:
        self.wire.received(data)

    def eof_received(self) -> bool:
        self.wire.fail(ValkeyConnectionError(_CLOSED))
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"Error while reading from socket: {exc!r}" if exc else _CLOSED
        self.wire.fail(ValkeyConnectionError(reason))

    # Writing is bounded by the commands in flight (PIPELINING_MAX_IN_FLIGHT),
    # not by pausing: the transport buffers what the socket has not taken.
    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass


class Multiplexer:
    """The shared connections of one asyncio pool (pools are per loop)."""

    __slots__ = (
        "connecting",
        "in_flight",
        "max_in_flight",
        "pool",
        "size",
        "slot_waiters",
        "wires",
    )

    def __init__(
        self,
        pool: Any,
        size: int = DEFAULT_CONNECTIONS,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self.pool = pool
        self.size = max(1, size)
        self.max_in_flight = max(1, max_in_flight)
        self.wires: list[_Wire] = []
        self.connecting: asyncio.Task[_Wire] | None = None
        self.in_flight = 0
        self.slot_waiters: deque[asyncio.Future[None]] = deque()

    # ------------------------------------------------------------ slots
    def release_slot(self) -> None:
        """One command answered (or failed): wake one caller waiting for room."""
        self.in_flight -= 1
        self._wake_one()

    def _wake_one(self) -> None:
        waiters = self.slot_waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _wait_for_slot(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self.slot_waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            # Woken, then cancelled before running: pass the wake-up on.
            if waiter.done() and not waiter.cancelled():
                self._wake_one()
            raise

    # ------------------------------------------------------ connections
    def forget(self, wire: _Wire) -> None:
        if wire in self.wires:
            self.wires.remove(wire)

    async def _connect(self) -> _Wire:
        conn = self.pool.make_connection()
        await conn.connect()
        wire = _Wire(self, conn, asyncio.get_running_loop())
        self.wires.append(wire)
        return wire

    def _start_connect(self) -> asyncio.Task[_Wire]:
        task = self.connecting
        if task is None:
            task = self.connecting = asyncio.ensure_future(self._connect())
            task.add_done_callback(self._connected)
        return task

    def _connected(self, task: asyncio.Task[_Wire]) -> None:
        if self.connecting is task:
            self.connecting = None
        if not task.cancelled():
            task.exception()  # retrieved: the callers awaiting it report it

    async def execute(self, args: tuple[Any, ...], timeout: float | None, read_only: bool) -> Any:
        """The reply to one command (a server error reply is raised).

        A read-only command whose connection is lost before its reply came
        is sent once more on a new connection (the first command after a
        server restart finds the old connection dead only by using it), but
        only if that connection had answered before: a new one that fails is
        the server's failure, left to the caller (and to OPTIONS["RETRY"],
        whose ATTEMPTS then count every send).
        """
        retry = read_only
        while True:
            wire = self._ready_wire()
            if wire is None:
                wire = await self._wait_for_wire()
            # No await between the choice of the wire and the queueing (I1).
            future = wire.submit(wire.conn.pack_command(*args))
            self.in_flight += 1
            answered_before = wire.reads > 0
            try:
                reply = await (_wait(wire, future, timeout) if timeout else future)
            except ValkeyConnectionError:
                if not (retry and answered_before):
                    raise
                retry = False
                continue
            if isinstance(reply, ResponseError):
                raise reply
            return reply

    def _ready_wire(self) -> _Wire | None:
        """A live wire with room for one more command, or None."""
        if self.in_flight >= self.max_in_flight:
            return None
        wires = self.wires  # dead wires leave this list at once
        if not wires:
            return None
        if len(wires) == 1 and self.size == 1:
            return wires[0]
        wire = min(wires, key=_load)
        if len(wires) < self.size and wire.pending and self.connecting is None:
            self._start_connect()  # busy and below the configured count: one more
        return wire

    async def _wait_for_wire(self) -> _Wire:
        while True:
            if self.in_flight >= self.max_in_flight:
                await self._wait_for_slot()
            elif not self.wires:
                # Shielded: a caller cancelled while waiting must not cancel
                # the dial that other callers wait on too.
                await asyncio.shield(self._start_connect())
            wire = self._ready_wire()
            if wire is not None:
                return wire

    def close_idle(self) -> None:
        """Close the connections with nothing in flight."""
        for wire in [wire for wire in self.wires if not wire.pending]:
            wire.fail(ValkeyConnectionError("Connection closed by the client."))

    async def aclose(self) -> None:
        """Close every connection (the loop is ending): callers still
        waiting get a connection error."""
        self.shut_down()

    def shut_down(self) -> None:
        """Close every connection now; also usable once the loop is closed
        (then the sockets are only shut down: the loop can run nothing)."""
        for wire in list(self.wires):
            if wire.loop.is_closed():
                self.wires.remove(wire)
                wire.dead = ValkeyConnectionError("Connection closed by the client.")
                sock = wire.transport.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                wire.conn._reader = wire.conn._writer = None
            else:
                wire.fail(ValkeyConnectionError("Connection closed by the client."))
        if self.connecting is not None and not self.connecting.get_loop().is_closed():
            self.connecting.cancel()


def _load(wire: _Wire) -> int:
    return len(wire.pending)


async def _wait(wire: _Wire, future: asyncio.Future[Any], timeout: float | None) -> Any:
    if not timeout:
        return await future
    handle = wire.loop.call_later(timeout, wire.expire, future, wire.reads)
    try:
        return await future
    finally:
        handle.cancel()
