"""Runs command definitions against valkey-py clients, sync or async.

Every cache command is defined once, in ``django_valkey.operations``, as a
generator: it makes keys and arguments, *yields* the requests it needs sent
and receives their replies, then *returns* the decoded result.  It never
touches a socket.  This module holds the request types and the two tiny
drivers that run such a generator: one calls valkey-py's sync client, the
other awaits valkey-py's asyncio client.  Sync and async therefore differ only
here, in how bytes reach the server.

Operations that stream results (``iter_keys``, ``sscan_iter``) yield
:class:`Emit` requests; they are driven into a sync or an async generator.

With ``CIRCUIT_BREAKER``, ``RETRY``, ``STATISTICS`` or ``OPENTELEMETRY`` in
``OPTIONS`` the client's ``_guard`` (see ``django_valkey.guard``) wraps each
request sent on the client's own connections; without them the drivers pay
one ``is not None`` test per request.
"""

from __future__ import annotations

import inspect
import socket
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from functools import wraps
from typing import Any

from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import ResponseError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from django_valkey.breaker import CircuitOpenError
from django_valkey.direct import execute_async, execute_pipeline_sync, execute_sync
from django_valkey.exceptions import ConnectionInterrupted

#: Errors a client method turns into ``ConnectionInterrupted`` (the backend
#: then re-raises the original or, with IGNORE_EXCEPTIONS, swallows it).
MAIN_EXCEPTIONS: tuple[type[BaseException], ...] = (
    ValkeyTimeoutError,
    ResponseError,
    ValkeyConnectionError,
    socket.timeout,
)


class Cmd:
    """One command sent with ``execute_command`` (valkey-py applies its
    response callback for the command name)."""

    __slots__ = ("args", "write")

    def __init__(self, write: bool, *args: Any) -> None:
        self.write = write
        self.args = args

    def run(self, raw: Any) -> Any:
        return raw.execute_command(*self.args)


class CmdWith(Cmd):
    """A :class:`Cmd` with options for valkey-py's response callback
    (``get=True`` for ``SET ... GET``); kept apart so that plain commands
    build no options dict."""

    __slots__ = ("options",)

    def __init__(self, write: bool, *args: Any, **options: Any) -> None:
        self.write = write
        self.args = args
        self.options = options

    def run(self, raw: Any) -> Any:
        return raw.execute_command(*self.args, **self.options)


class Call:
    """A named valkey-py client method, for commands whose argument handling
    valkey-py already does well (SCAN cursors, locks)."""

    __slots__ = ("args", "kwargs", "name", "write")

    def __init__(self, write: bool, name: str, *args: Any, **kwargs: Any) -> None:
        self.write = write
        self.name = name
        self.args = args
        self.kwargs = kwargs

    def run(self, raw: Any) -> Any:
        return getattr(raw, self.name)(*self.args, **self.kwargs)


class Local(Call):
    """A client method that does no I/O (``lock`` builds a Lock object): its
    result is used as is, never awaited."""

    __slots__ = ()


class Pipe:
    """Several commands in one round trip, without MULTI/EXEC.

    The reply is the list of replies; with ``raise_on_error=False`` a failed
    command's slot holds its exception instead of raising.
    """

    __slots__ = ("commands", "raise_on_error", "transaction", "write")

    def __init__(
        self,
        write: bool,
        commands: list[tuple[Any, ...]],
        raise_on_error: bool = True,
        transaction: bool = False,
    ) -> None:
        self.write = write
        self.commands = commands
        self.raise_on_error = raise_on_error
        self.transaction = transaction

    def run(self, raw: Any) -> Any:
        pipe = raw.pipeline(transaction=self.transaction)
        for args in self.commands:
            pipe.execute_command(*args)
        return pipe.execute(raise_on_error=self.raise_on_error)


class Emit:
    """Items a streaming operation hands to its caller (no I/O)."""

    __slots__ = ("items",)
    write = False

    def __init__(self, items: Any) -> None:
        self.items = items


Request = Cmd | CmdWith | Call | Pipe | Emit
Operation = Generator[Any, Any, Any]


def _may_write_elsewhere(client: Any, request: Any, exc: BaseException) -> bool:
    """With ``REPLICA_READ_ONLY = False`` a write that could not reach the
    primary is tried on the other servers (writable replicas)."""
    return (
        request.write
        and isinstance(exc, (ValkeyConnectionError, ValkeyTimeoutError))
        and not isinstance(exc, CircuitOpenError)
        and getattr(client, "_replica_read_only", True) is False
        and len(getattr(client, "_server", ())) > 1
    )


def _write_elsewhere(client: Any, request: Any) -> Any:
    tried = [0]
    while True:
        conn, index = client.get_client_with_index(write=True, tried=tried)
        if index in tried:
            raise ValkeyConnectionError("no server accepted the write")
        tried.append(index)
        try:
            return request.run(conn)
        except (ValkeyConnectionError, ValkeyTimeoutError):
            continue


async def _write_elsewhere_async(client: Any, request: Any) -> Any:
    tried = [0]
    while True:
        conn, index = await client.get_client_with_index(write=True, tried=tried)
        if index in tried:
            raise ValkeyConnectionError("no server accepted the write")
        tried.append(index)
        try:
            reply = request.run(conn)
            return reply if type(request) is Local else await reply
        except (ValkeyConnectionError, ValkeyTimeoutError):
            continue


def _send_sync(conn: Any, request: Any) -> Any:
    """One request on a sync connection (the guard's path; the driver
    inlines the same dispatch when there is no breaker)."""
    kind = type(request)
    if kind is Cmd:
        return execute_sync(conn, request.args)
    if kind is CmdWith:
        return execute_sync(conn, request.args, request.options)
    if kind is Pipe and not request.transaction:
        return execute_pipeline_sync(conn, request.commands, request.raise_on_error)
    return request.run(conn)


async def _send_async(conn: Any, request: Any) -> Any:
    """One request on an asyncio connection (the guard's path)."""
    kind = type(request)
    if kind is Cmd:
        return await execute_async(conn, request.args)
    if kind is CmdWith:
        return await execute_async(conn, request.args, request.options)
    if kind is Local:
        return request.run(conn)
    return await request.run(conn)


def _run(conn: Any, request: Any) -> Any:
    """A streaming operation's request (``request.run``, guard-shaped)."""
    return request.run(conn)


def run_sync(client: Any, op: Operation, raw: Any = None) -> Any:
    """Drive ``op`` on the sync client ``client`` (``raw``: a caller's valkey client)."""
    guard = getattr(client, "_guard", None) if raw is None else None
    try:
        request = op.send(None)
        while True:
            conn = raw if raw is not None else client._get_client(request.write)
            try:
                if guard is not None:
                    reply = guard.call(_send_sync, conn, request)
                else:
                    kind = type(request)
                    if kind is Cmd:
                        reply = execute_sync(conn, request.args)
                    elif kind is CmdWith:
                        reply = execute_sync(conn, request.args, request.options)
                    elif kind is Pipe and not request.transaction:
                        reply = execute_pipeline_sync(
                            conn, request.commands, request.raise_on_error
                        )
                    else:
                        reply = request.run(conn)
            except MAIN_EXCEPTIONS as exc:
                if raw is None and _may_write_elsewhere(client, request, exc):
                    try:
                        reply = _write_elsewhere(client, request)
                    except MAIN_EXCEPTIONS:
                        pass
                    else:
                        request = op.send(reply)
                        continue
                # The operation may handle the error itself (incr's fallback).
                try:
                    request = op.throw(exc)
                except MAIN_EXCEPTIONS as unhandled:
                    raise ConnectionInterrupted(connection=conn) from unhandled
                continue
            request = op.send(reply)
    except StopIteration as done:
        return done.value


async def run_async(client: Any, op: Operation, raw: Any = None) -> Any:
    """Drive ``op`` on the asyncio client ``client``."""
    guard = getattr(client, "_guard", None) if raw is None else None
    try:
        request = op.send(None)
        while True:
            conn = raw if raw is not None else await client._get_client(request.write)
            try:
                if guard is not None:
                    reply = await guard.acall(_send_async, conn, request)
                else:
                    kind = type(request)
                    if kind is Cmd:
                        reply = await execute_async(conn, request.args)
                    elif kind is CmdWith:
                        reply = await execute_async(conn, request.args, request.options)
                    elif kind is Local:
                        reply = request.run(conn)
                    else:
                        reply = await request.run(conn)
            except MAIN_EXCEPTIONS as exc:
                if raw is None and _may_write_elsewhere(client, request, exc):
                    try:
                        reply = await _write_elsewhere_async(client, request)
                    except MAIN_EXCEPTIONS:
                        pass
                    else:
                        request = op.send(reply)
                        continue
                try:
                    request = op.throw(exc)
                except MAIN_EXCEPTIONS as unhandled:
                    raise ConnectionInterrupted(connection=conn) from unhandled
                continue
            request = op.send(reply)
    except StopIteration as done:
        return done.value


def iterate_sync(client: Any, op: Operation, raw: Any = None) -> Iterator[Any]:
    """Drive a streaming ``op`` as a sync generator."""
    guard = getattr(client, "_guard", None) if raw is None else None
    try:
        request = op.send(None)
        while True:
            if type(request) is Emit:
                yield from request.items
                request = op.send(None)
                continue
            conn = raw if raw is not None else client._get_client(request.write)
            try:
                reply = guard.call(_run, conn, request) if guard is not None else request.run(conn)
            except MAIN_EXCEPTIONS as exc:
                raise ConnectionInterrupted(connection=conn) from exc
            request = op.send(reply)
    except StopIteration:
        return


async def iterate_async(client: Any, op: Operation, raw: Any = None) -> AsyncIterator[Any]:
    """Drive a streaming ``op`` as an async generator."""
    guard = getattr(client, "_guard", None) if raw is None else None
    try:
        request = op.send(None)
        while True:
            if type(request) is Emit:
                for item in request.items:
                    yield item
                request = op.send(None)
                continue
            conn = raw if raw is not None else await client._get_client(request.write)
            try:
                if guard is not None:
                    reply = await guard.acall(_run, conn, request)
                else:
                    reply = await request.run(conn)
            except MAIN_EXCEPTIONS as exc:
                raise ConnectionInterrupted(connection=conn) from exc
            request = op.send(reply)
    except StopIteration:
        return


def _with_client_param(definition: Callable[..., Any]) -> inspect.Signature:
    """The public signature: the definition's, plus a keyword ``client=None``
    (a raw valkey client or pipeline to run on instead of the pool's)."""
    sig = inspect.signature(definition)
    params = list(sig.parameters.values())
    if "client" not in sig.parameters:
        client = inspect.Parameter("client", inspect.Parameter.KEYWORD_ONLY, default=None)
        if params and params[-1].kind is inspect.Parameter.VAR_KEYWORD:
            params.insert(len(params) - 1, client)
        else:
            params.append(client)
    return sig.replace(parameters=params)


def sync_command(definition: Callable[..., Operation]) -> Callable[..., Any]:
    """A sync client method running ``definition`` with :func:`run_sync`."""

    @wraps(definition)
    def command(self: Any, *args: Any, client: Any = None, **kwargs: Any) -> Any:
        return run_sync(self, definition(self, *args, **kwargs), client)

    command.__signature__ = _with_client_param(definition)  # type: ignore[attr-defined]
    return command


def async_command(definition: Callable[..., Operation]) -> Callable[..., Any]:
    """An async client method (a coroutine function) running ``definition``."""

    @wraps(definition)
    async def command(self: Any, *args: Any, client: Any = None, **kwargs: Any) -> Any:
        return await run_async(self, definition(self, *args, **kwargs), client)

    command.__signature__ = _with_client_param(definition)  # type: ignore[attr-defined]
    return command


def sync_iterator(definition: Callable[..., Operation]) -> Callable[..., Iterator[Any]]:
    """A sync client method returning a generator over a streaming operation."""

    @wraps(definition)
    def command(self: Any, *args: Any, client: Any = None, **kwargs: Any) -> Iterator[Any]:
        return iterate_sync(self, definition(self, *args, **kwargs), client)

    command.__signature__ = _with_client_param(definition)  # type: ignore[attr-defined]
    return command


def async_iterator(definition: Callable[..., Operation]) -> Callable[..., AsyncIterator[Any]]:
    """An async client method returning an async generator."""

    @wraps(definition)
    def command(self: Any, *args: Any, client: Any = None, **kwargs: Any) -> AsyncIterator[Any]:
        return iterate_async(self, definition(self, *args, **kwargs), client)

    command.__signature__ = _with_client_param(definition)  # type: ignore[attr-defined]
    return command
