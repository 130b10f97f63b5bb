"""valkey-py parser classes over the RESP ``Reader`` of ``django_valkey._speedups``.

Use them as valkey-py's ``parser_class`` (the cache's ``OPTIONS["PARSER_CLASS"]``):

* ``Parser`` for ``valkey.Valkey`` and sync pools, ``AsyncParser`` for
  ``valkey.asyncio``;
* ``ClusterParser`` / ``AsyncClusterParser`` add the cluster redirection errors
  (ASK, MOVED, ...) to the error table, as valkey-py's ``ClusterParser`` does.
  valkey-py's cluster clients install their own parser on node connections, so
  these only take effect where the cluster code is told to use them.

They follow the contract of valkey-py's libvalkey parser (the parser-interface
spec, §2-§4 and §8): server errors are returned as exception
instances (``ConnectionError`` kinds are raised at once), protocol errors raise
``InvalidResponse``, and I/O problems become valkey-py's ``TimeoutError`` /
``ConnectionError``.  Bytes already read stay in the ``Reader`` whatever
happens, so an interrupted (or, in asyncio, cancelled) read resumes where it
stopped.  One reader parses RESP2 and RESP3, so the classes do not subclass
``_RESP2Parser`` (which valkey-py swaps out under RESP3).

RESP3 pushes come out of the ``Reader`` as ``PushNotification`` lists and are
routed like valkey-py's RESP3 parsers route them: an ``invalidate`` push goes to
the invalidation handler, others to the pub/sub handler, and an unsolicited
push (``push_request`` false) is consumed out of band while the next reply is
read.  One exception keeps pub/sub working when libvalkey is installed (then
valkey-py neither passes ``push_request`` nor sets a handler): a pub/sub push
meets the default handler only, and is returned to the caller as libvalkey's
parser would return it.

The ``Reader`` is looked up when a connection is made, never at import time:
``reader_class`` on a subclass picks one explicitly (the tests use that to run
both twins), otherwise the active implementation of ``django_valkey._speedups``
is used.  Nothing here knows about Django.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import inspect
import logging
from typing import Any

# async_timeout: asyncio.timeout where valkey-py trusts it, else the backport.
from valkey._parsers.base import AsyncBaseParser, BaseParser, async_timeout
from valkey._parsers.socket import (
    NONBLOCKING_EXCEPTION_ERROR_NUMBERS,
    NONBLOCKING_EXCEPTIONS,
    SENTINEL,
    SERVER_CLOSED_CONNECTION_ERROR,
)
from valkey.exceptions import (
    AskError,
    ClusterCrossSlotError,
    ClusterDownError,
    ConnectionError,
    InvalidResponse,
    MasterDownError,
    MovedError,
    TimeoutError,
    TryAgainError,
)

__all__ = ["AsyncClusterParser", "AsyncParser", "ClusterParser", "Parser"]

logger = logging.getLogger(__name__)

# What the Reader returns while a reply is incomplete: False and None are real
# RESP3 values, so a private object.
_NOT_ENOUGH_DATA: Any = object()

_INVALIDATE = (b"invalidate", "invalidate")

_CLUSTER_EXCEPTION_CLASSES = {
    "ASK": AskError,
    "TRYAGAIN": TryAgainError,
    "MOVED": MovedError,
    "CLUSTERDOWN": ClusterDownError,
    "CROSSSLOT": ClusterCrossSlotError,
    "MASTERDOWN": MasterDownError,
}


def _make_reader(parser: BaseParser, reader_class: type | None, encoder: Any) -> Any:
    """A Reader configured the way valkey-py configures libvalkey's."""
    if reader_class is None:
        from django_valkey import _speedups

        reader_class = _speedups.Reader
    kwargs: dict[str, Any] = {
        "protocolError": InvalidResponse,
        "replyError": parser.parse_error,
        "notEnoughData": _NOT_ENOUGH_DATA,
        "errors": encoder.encoding_errors,
        "convertSetsToLists": True,
    }
    if encoder.decode_responses:
        kwargs["encoding"] = encoder.encoding
    return reader_class(**kwargs)


def _push_type() -> type:
    from django_valkey._speedups._reader_py import PushNotification

    return PushNotification


def _raise_connection_errors(response: Any) -> None:
    """Raise a ConnectionError reply (or one heading a list) now, as valkey-py does."""
    if isinstance(response, ConnectionError):
        raise response
    if isinstance(response, list) and response and isinstance(response[0], ConnectionError):
        raise response[0]


class _PushHandlers:
    """RESP3 push handlers and routing, shared by the sync and async parsers."""

    def _init_push_handlers(self) -> None:
        self.pubsub_push_handler_func: Any = self.handle_pubsub_push_response
        self.invalidation_push_handler_func: Any = None
        # valkey-py's RESP3 parsers set this misspelled name and read the one
        # above; both exist so that code written against either finds it.
        self.invalidations_push_handler_func: Any = None

    def handle_pubsub_push_response(self, response: Any) -> Any:
        logger.debug("Push response: %r", response)
        return response

    def set_pubsub_push_handler(self, pubsub_push_handler_func: Any) -> None:
        self.pubsub_push_handler_func = pubsub_push_handler_func

    def set_invalidation_push_handler(self, invalidation_push_handler_func: Any) -> None:
        self.invalidation_push_handler_func = invalidation_push_handler_func

    def _route_push(self, push: Any, push_request: bool) -> tuple[bool, Any]:
        """Hand a push to its handler: (is it the caller's reply?, the result).

        The result may be awaitable (an async handler); the async parser awaits it.
        """
        if push and push[0] in _INVALIDATE:
            handler = self.invalidation_push_handler_func
            result = handler(push) if handler is not None else push
            return push_request, result
        handler = self.pubsub_push_handler_func
        if push_request or handler is None:
            return True, handler(push) if handler is not None else push
        if handler == self.handle_pubsub_push_response:
            # Nobody asked for pushes out of band: this is pub/sub reading its
            # messages without push_request (libvalkey installed), so return it.
            return True, push
        return False, handler(push)


class Parser(_PushHandlers, BaseParser):
    """Sync valkey-py parser reading RESP2 and RESP3 with the speedups ``Reader``."""

    #: The Reader class; None means the active one of ``django_valkey._speedups``.
    #: What a ValkeyCache's async methods use when this class is its PARSER_CLASS.
    async_twin = "django_valkey.parsers.AsyncParser"
    reader_class: type | None = None

    def __init__(self, socket_read_size: int) -> None:
        self.socket_read_size = socket_read_size
        # Reused for every recv_into; the Reader copies what it is fed.
        self._buffer = bytearray(socket_read_size)
        self._sock: Any = None
        self._socket_timeout: float | None = None
        self._reader: Any = None
        self._push_type: type | None = None
        self._next_response: Any = _NOT_ENOUGH_DATA
        self._init_push_handlers()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.on_disconnect()

    def on_connect(self, connection: Any) -> None:
        self._sock = connection._sock
        self._socket_timeout = connection.socket_timeout
        self._reader = _make_reader(self, self.reader_class, connection.encoder)
        self._push_type = _push_type()
        self._next_response = _NOT_ENOUGH_DATA

    def on_disconnect(self) -> None:
        self._sock = None
        self._reader = None
        self._next_response = _NOT_ENOUGH_DATA

    def can_read(self, timeout: float | None) -> bool:
        """Is a reply (or at least some data) there?  A whole reply is kept for later."""
        if self._reader is None:
            raise ConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
        if self._next_response is _NOT_ENOUGH_DATA:
            self._next_response = self._reader.gets()
            if self._next_response is _NOT_ENOUGH_DATA:
                return self.read_from_socket(timeout=timeout, raise_on_timeout=False)
        return True

    def read_from_socket(self, timeout: Any = SENTINEL, raise_on_timeout: bool = True) -> bool:
        """Feed one ``recv`` to the Reader: True if data came, False on a tolerated timeout."""
        sock = self._sock
        if sock is None:
            raise ConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
        custom_timeout = timeout is not SENTINEL
        try:
            if custom_timeout:
                sock.settimeout(timeout)
            count = sock.recv_into(self._buffer)
            if count == 0:
                raise ConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
            self._reader.feed(self._buffer, 0, count)
            return True
        except builtins.TimeoutError:  # socket.timeout
            if raise_on_timeout:
                raise TimeoutError("Timeout reading from socket") from None
            return False
        except NONBLOCKING_EXCEPTIONS as exc:
            # A non-blocking socket with nothing to read is a timeout of zero.
            allowed = NONBLOCKING_EXCEPTION_ERROR_NUMBERS.get(exc.__class__, -1)
            if not raise_on_timeout and exc.errno == allowed:
                return False
            raise ConnectionError(f"Error while reading from socket: {exc.args}") from exc
        finally:
            if custom_timeout:
                sock.settimeout(self._socket_timeout)

    def read_response(self, disable_decoding: bool = False, push_request: bool = False) -> Any:
        """One reply: server errors returned as exceptions, pushes routed (see module doc)."""
        reader = self._reader
        if reader is None:
            raise ConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
        decode = not disable_decoding
        while True:
            response = self._next_response
            if response is not _NOT_ENOUGH_DATA:
                self._next_response = _NOT_ENOUGH_DATA
            else:
                response = reader.gets(decode)
                while response is _NOT_ENOUGH_DATA:
                    self.read_from_socket()
                    response = reader.gets(decode)
            if type(response) is not self._push_type:
                break
            is_reply, result = self._route_push(response, push_request)
            if is_reply:
                return result
        _raise_connection_errors(response)
        return response


class AsyncParser(_PushHandlers, AsyncBaseParser):
    """asyncio valkey-py parser reading RESP2 and RESP3 with the speedups ``Reader``.

    Cancellation-safe: bytes read from the stream are fed to the Reader at once
    and a partial reply stays in it, so a cancelled ``read_response`` loses nothing.
    """

    #: The Reader class; None means the active one of ``django_valkey._speedups``.
    reader_class: type | None = None

    def __init__(self, socket_read_size: int) -> None:
        super().__init__(socket_read_size)
        self._reader: Any = None
        self._push_type: type | None = None
        self._connected = False
        self._next_response: Any = _NOT_ENOUGH_DATA
        self._init_push_handlers()

    def on_connect(self, connection: Any) -> None:
        self._stream = connection._reader
        if self._stream is None:
            raise ConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
        self._reader = _make_reader(self, self.reader_class, connection.encoder)
        self._push_type = _push_type()
        self._next_response = _NOT_ENOUGH_DATA
        self._connected = True

    def on_disconnect(self) -> None:
        # Reads in progress may finish; new ones raise.
        self._connected = False

    async def can_read_destructive(self) -> bool:
        """Is anything there?  Polls the stream without waiting; keeps a whole reply."""
        if not self._connected:
            raise ConnectionError(SERVER_CLOSED_CONNECTION_ERROR)
        if self._next_response is not _NOT_ENOUGH_DATA:
            return True
        self._next_response = self._reader.gets()
        if self._next_response is not _NOT_ENOUGH_DATA:
            return True
        try:
            async with async_timeout(0):
                return await self.read_from_socket()
        except asyncio.TimeoutError:
            return False

    async def read_from_socket(self) -> bool:
        assert self._stream is not None
        data = await self._stream.read(self._read_size)
        if not data or not isinstance(data, bytes):
            raise ConnectionError(SERVER_CLOSED_CONNECTION_ERROR) from None
        self._reader.feed(data)
        return True

    async def read_response(
        self, disable_decoding: bool = False, push_request: bool = False
    ) -> Any:
        """One reply: server errors returned as exceptions, pushes routed (see module doc)."""
        if not self._connected:
            raise ConnectionError(SERVER_CLOSED_CONNECTION_ERROR) from None
        reader = self._reader
        decode = not disable_decoding
        while True:
            response = self._next_response
            if response is not _NOT_ENOUGH_DATA:
                self._next_response = _NOT_ENOUGH_DATA
            else:
                response = reader.gets(decode)
                while response is _NOT_ENOUGH_DATA:
                    await self.read_from_socket()
                    response = reader.gets(decode)
            if type(response) is not self._push_type:
                break
            is_reply, result = self._route_push(response, push_request)
            if inspect.isawaitable(result):
                result = await result
            if is_reply:
                return result
        _raise_connection_errors(response)
        return response


class ClusterParser(Parser):
    """``Parser`` that also maps the cluster errors (ASK, MOVED, ...)."""

    EXCEPTION_CLASSES = {**Parser.EXCEPTION_CLASSES, **_CLUSTER_EXCEPTION_CLASSES}
    async_twin = "django_valkey.parsers.AsyncClusterParser"


class AsyncClusterParser(AsyncParser):
    """``AsyncParser`` that also maps the cluster errors (ASK, MOVED, ...)."""

    EXCEPTION_CLASSES = {**AsyncParser.EXCEPTION_CLASSES, **_CLUSTER_EXCEPTION_CLASSES}
