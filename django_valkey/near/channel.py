"""The invalidation channel: one dedicated connection per server, in a thread.

Mechanism (see ``/work/shared/design/near-cache.md`` §8, option A): the
connection registers itself with ``CLIENT TRACKING ON REDIRECT <own id> BCAST
[PREFIX <p>]`` and subscribes to ``__redis__:invalidate`` on RESP2.  The
server then reports every write under the prefix, by anyone, on this one
socket.  Data connections are untouched (no tracking, any protocol), so the
pools, pipelining, retries and the parsers know nothing of the near cache,
and coverage does not depend on which pooled connection read a key.

The thread blocks on the socket outside the GIL, so hits pay nothing for it.
It sends a PING after ``heartbeat`` idle seconds and drops the connection
when no reply comes within another ``heartbeat`` (half-open sockets).  Any
loss reports ``down`` (the near cache empties itself and serves nothing),
then the thread reconnects with a capped backoff and reports ``up`` once the
subscription is confirmed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from valkey.connection import ConnectionPool

logger = logging.getLogger("django_valkey.near")

CHANNEL = b"__redis__:invalidate"


class Channel:
    """Keeps one server's invalidation subscription alive and reports to the owner.

    ``on_state(channel, up)`` is called on every transition; ``on_keys(keys)``
    with the invalidated keys (``None``: the whole database was flushed).
    """

    def __init__(
        self,
        url: str,
        connection_kwargs: dict[str, Any],
        prefix: str,
        on_state: Callable[[Channel, bool], None],
        on_keys: Callable[[list[bytes] | None], None],
        heartbeat: float = 1.0,
        locate: Callable[[], tuple[str, int]] | None = None,
    ) -> None:
        # ``locate``: where the server is now (Sentinel: the current primary);
        # re-checked every heartbeat, a change drops the channel.
        self._locate = locate
        self.address: tuple[str, int] | None = None
        self.url = url
        self._kwargs = connection_kwargs
        self._prefix = prefix
        self._on_state = on_state
        self._on_keys = on_keys
        self._heartbeat = heartbeat
        self.up = False
        self.client_id: int | None = None
        self._conn: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # Lifecycle ------------------------------------------------------------

    def ensure_running(self) -> None:
        """Start the thread unless it runs (lazily: a forked child starts its own)."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            thread = self._thread
            if thread is not None and thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"django-valkey-near {self.url}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and close the connection (tests, shutdown)."""
        self._stop.set()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.disconnect()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def forget_after_fork(self) -> None:
        """In a forked child: the parent's thread does not exist here and its
        socket must not be used (or closed: that is the parent's)."""
        self._thread = None
        self._conn = None
        self.up = False
        self._stop = threading.Event()
        self._lock = threading.Lock()

    # The thread -----------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.05
        first = True
        while not self._stop.is_set():
            try:
                self._session()
                backoff = 0.05
            except Exception as exc:  # any failure means "channel lost"
                if not self._stop.is_set():
                    # A warning when a working channel is lost or cannot be set up
                    # at all (the near cache then never serves); retries are debug.
                    log = logger.warning if self.up or first else logger.debug
                    log("near cache: invalidation channel to %s lost: %s", self.url, exc)
            finally:
                self._lost()
            first = False
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 1.0)

    def _lost(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.disconnect()
        if self.up:
            self.up = False
            self._on_state(self, False)

    def _connect(self) -> Any:
        kwargs = dict(self._kwargs)
        kwargs["protocol"] = 2  # flush messages then arrive as a RESP2 nil
        if self._locate is not None:
            self.address = self._locate()
            pool = ConnectionPool(host=self.address[0], port=self.address[1], **kwargs)
        else:
            pool = ConnectionPool.from_url(self.url, **kwargs)
        conn = pool.make_connection()
        conn.connect()
        return conn

    def _session(self) -> None:
        conn = self._conn = self._connect()
        conn.send_command("CLIENT", "ID")
        self.client_id = int(conn.read_response())
        args: list[Any] = ["CLIENT", "TRACKING", "ON", "REDIRECT", self.client_id, "BCAST"]
        if self._prefix:
            args += ["PREFIX", self._prefix]
        conn.send_command(*args)
        conn.read_response()
        conn.send_command("SUBSCRIBE", CHANNEL)
        reply = conn.read_response()
        if not (isinstance(reply, list) and reply and bytes(reply[0]) == b"subscribe"):
            raise ConnectionError(f"unexpected SUBSCRIBE reply {reply!r}")
        self.up = True
        self._on_state(self, True)
        ping_sent = 0.0
        checked = time.monotonic()
        while not self._stop.is_set():
            if self._locate is not None and time.monotonic() - checked >= self._heartbeat:
                checked = time.monotonic()
                where = self._locate()
                if where != self.address:
                    raise ConnectionError(f"the server moved from {self.address} to {where}")
            if not conn.can_read(timeout=self._heartbeat):
                if ping_sent:
                    raise TimeoutError(f"no PING reply within {self._heartbeat} s")
                conn.send_command("PING")
                ping_sent = time.monotonic()
                continue
            message = conn.read_response()
            ping_sent = 0.0  # any traffic proves the socket alive
            self._dispatch(message)

    def _dispatch(self, message: Any) -> None:
        if not isinstance(message, list) or len(message) < 3 or bytes(message[0]) != b"message":
            return  # PONG (["pong", ""]) and subscription confirmations
        keys = message[2]
        self._on_keys(None if keys is None else list(keys))
