"""What runs around each request a client sends: retries, statistics, traces.

The drivers (``django_valkey.driver``) call ``client._guard`` for every
request when it is not None, else send the request directly; so with none
of ``RETRY``, ``STATISTICS``, ``OPENTELEMETRY`` and ``CIRCUIT_BREAKER`` set
a request pays one ``is not None`` test.  With only the circuit breaker,
``_guard`` is the breaker itself.  Otherwise it is a :class:`Guard`, which
retries (outermost: each attempt is its own observed command), observes
(statistics, OpenTelemetry), then sends through the breaker if there is one.

Retry policy (``OPTIONS["RETRY"] = {"ATTEMPTS": 3, "BACKOFF": 0.05}``):
connection errors and timeouts are retried up to ``ATTEMPTS`` tries in all,
sleeping ``BACKOFF * 2**(n-1)`` seconds (capped by ``MAX_BACKOFF``, default
2) with jitter (between half and all of it) before the n-th retry.  A
request is re-sent after a failure only when that is safe: always when its
bytes cannot have reached the server (the connection could not be made, or
the server answered ``LOADING``); otherwise only when the command gives the
same result and leaves the same data if run twice (:data:`RESEND_SAFE`).
``INCR``, ``DECR``, ``SET ... NX``/``GET``, ``DEL``, Lua scripts and the
like are never re-sent once they may have been sent.
"""

from __future__ import annotations

import asyncio
import math
import random
import socket
import time
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from valkey.exceptions import AuthenticationError, AuthorizationError, BusyLoadingError
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

from django_valkey.breaker import CircuitOpenError
from django_valkey.driver import Call, Cmd, Local, Pipe

__all__ = [
    "RESEND_SAFE",
    "Guard",
    "RetryPolicy",
    "guard_from_options",
    "may_resend",
    "retry_from_options",
]

DEFAULT_ATTEMPTS = 3
DEFAULT_BACKOFF = 0.05
DEFAULT_MAX_BACKOFF = 2.0

#: Errors worth another attempt: the server could not be reached or did not answer.
RETRYABLE: tuple[type[BaseException], ...] = (
    ValkeyConnectionError,
    ValkeyTimeoutError,
    socket.timeout,
)
#: ...except these: retrying cannot help (wrong password) or must not (the
#: breaker's fail-fast would turn into a slow loop).
NOT_RETRYABLE: tuple[type[BaseException], ...] = (
    AuthenticationError,
    AuthorizationError,
    CircuitOpenError,
)

#: Commands that give the same reply and leave the same data when the
#: server runs them twice: re-sent even if the first copy may have arrived.
RESEND_SAFE = frozenset(
    {
        # reads
        "GET", "MGET", "EXISTS", "TTL", "PTTL", "TYPE", "STRLEN", "KEYS", "SCAN",
        "SSCAN", "SMEMBERS", "SCARD", "SISMEMBER", "SMISMEMBER", "SRANDMEMBER", "SDIFF",
        "SINTER", "SUNION", "HGET", "HMGET", "HLEN", "HKEYS", "HEXISTS", "HGETALL",
        "PING", "INFO", "DBSIZE", "ECHO",
        # writes whose second run changes nothing and answers the same
        "MSET", "EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT", "SDIFFSTORE",
        "SINTERSTORE", "SUNIONSTORE", "FLUSHDB",
    }
)  # fmt: skip
# SET is safe unless it is conditional (NX: the second run answers "not
# set") or returns the old value (GET: the second run returns the new one).
_SET_UNSAFE = frozenset({"NX", "GET"})


def _name(arg: Any) -> str:
    return (arg.decode() if isinstance(arg, bytes) else str(arg)).upper()


def _command_safe(args: tuple[Any, ...]) -> bool:
    name = _name(args[0])
    if name == "SET":
        return not any(isinstance(a, (str, bytes)) and _name(a) in _SET_UNSAFE for a in args[3:])
    return name in RESEND_SAFE


def _not_sent(exc: BaseException) -> bool:
    """Whether ``exc`` proves the request never reached the server."""
    if isinstance(exc, BusyLoadingError):
        return True  # the server refused it while loading its data
    # valkey-py's messages for a failed connect (sync and asyncio).
    message = str(exc)
    return " connecting to " in message or message.startswith("Timeout connecting")


def may_resend(request: Any, exc: BaseException) -> bool:
    """Whether ``request`` may be sent again after it failed with ``exc``."""
    if _not_sent(exc):
        return True
    kind = type(request)
    if kind is Cmd:
        return _command_safe(request.args)
    if kind is Pipe:
        return not request.transaction and all(_command_safe(c) for c in request.commands)
    if kind is Call:
        return request.name.upper() in RESEND_SAFE
    return False  # CmdWith (SET ... GET) and anything unknown


class RetryPolicy:
    __slots__ = ("attempts", "backoff", "max_backoff")

    def __init__(self, attempts: int, backoff: float, max_backoff: float) -> None:
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff

    def delay(self, retry: int) -> float:
        """Seconds before retry number ``retry`` (1-based), with jitter."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def should_retry(self, attempt: int, request: Any, exc: BaseException) -> bool:
        return (
            attempt < self.attempts
            and isinstance(exc, RETRYABLE)
            and not isinstance(exc, NOT_RETRYABLE)
            and may_resend(request, exc)
        )


def _number(setting: Any, key: str, default: float, low: float) -> float:
    value = setting.get(key, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < low
    ):
        raise ImproperlyConfigured(
            f"OPTIONS['RETRY']['{key}'] must be a number >= {low}, not {value!r}"
        )
    return value


def retry_from_options(setting: Any) -> RetryPolicy | None:
    """The policy ``OPTIONS["RETRY"]`` asks for (None: no retries)."""
    if setting is None or setting is False:
        return None
    if not isinstance(setting, Mapping):
        raise ImproperlyConfigured(
            "OPTIONS['RETRY'] must be a dict like "
            f'{{"ATTEMPTS": 3, "BACKOFF": 0.05}} or None, not {type(setting).__name__}'
        )
    unknown = set(setting) - {"ATTEMPTS", "BACKOFF", "MAX_BACKOFF"}
    if unknown:
        raise ImproperlyConfigured(
            f"OPTIONS['RETRY']: unknown keys {sorted(map(str, unknown))} "
            "(expected ATTEMPTS, BACKOFF, MAX_BACKOFF)"
        )
    attempts = setting.get("ATTEMPTS", DEFAULT_ATTEMPTS)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ImproperlyConfigured(
            f"OPTIONS['RETRY']['ATTEMPTS'] must be an int >= 1, not {attempts!r}"
        )
    backoff = _number(setting, "BACKOFF", DEFAULT_BACKOFF, 0)
    max_backoff = _number(setting, "MAX_BACKOFF", DEFAULT_MAX_BACKOFF, 0)
    return RetryPolicy(attempts, float(backoff), float(max_backoff))


def _hits(request: Any, reply: Any) -> tuple[int, int]:
    """(hits, misses) in a GET or MGET reply, or in the GETs of a pipeline
    (the near cache reads its misses that way)."""
    if type(request) is Pipe and isinstance(reply, list):
        hits = misses = 0
        for command, value in zip(request.commands, reply):
            if command[0] == "GET":
                if value is None:
                    misses += 1
                else:
                    hits += 1
        return hits, misses
    if type(request) is not Cmd:
        return 0, 0
    name = request.args[0]
    if name == "GET":
        return (0, 1) if reply is None else (1, 0)
    if name == "MGET" and isinstance(reply, list):
        misses = reply.count(None)
        return len(reply) - misses, misses
    return 0, 0


class Guard:
    """Retries, statistics and telemetry around a client's requests.

    ``call(send, conn, request)`` / ``acall(...)``: the same interface as
    the circuit breaker's, so the drivers use either the same way.
    """

    __slots__ = ("breaker", "retry", "stats", "telemetry")

    def __init__(self, breaker: Any, retry: Any, stats: Any, telemetry: Any) -> None:
        self.breaker = breaker
        self.retry = retry
        self.stats = stats
        self.telemetry = telemetry

    def _observed(self, send: Callable[..., Any], conn: Any, request: Any) -> Any:
        stats, telemetry, breaker = self.stats, self.telemetry, self.breaker
        if telemetry is None:
            if stats is None:
                if breaker is not None:
                    return breaker.call(send, conn, request)
                return send(conn, request)
            # Statistics alone: the path meant to stay on, kept short.
            start = perf_counter()
            try:
                if breaker is not None:
                    reply = breaker.call(send, conn, request)
                else:
                    reply = send(conn, request)
            except BaseException:
                stats.record(0, 0, True, perf_counter() - start)
                raise
            elapsed = perf_counter() - start
            hits, misses = _hits(request, reply)
            stats.record(hits, misses, False, elapsed)
            return reply
        span = telemetry.start(conn, request)
        start = perf_counter()
        try:
            if breaker is not None:
                reply = breaker.call(send, conn, request)
            else:
                reply = send(conn, request)
        except BaseException as exc:
            self._failed(span, exc, perf_counter() - start)
            raise
        self._done(span, request, reply, perf_counter() - start)
        return reply

    async def _aobserved(self, send: Callable[..., Any], conn: Any, request: Any) -> Any:
        stats, telemetry, breaker = self.stats, self.telemetry, self.breaker
        if stats is None and telemetry is None:
            if breaker is not None:
                return await breaker.acall(send, conn, request)
            return await send(conn, request)
        span = telemetry.start(conn, request) if telemetry is not None else None
        start = perf_counter()
        try:
            if breaker is not None:
                reply = await breaker.acall(send, conn, request)
            else:
                reply = await send(conn, request)
        except BaseException as exc:
            self._failed(span, exc, perf_counter() - start)
            raise
        self._done(span, request, reply, perf_counter() - start)
        return reply

    def _done(self, span: Any, request: Any, reply: Any, elapsed: float) -> None:
        hits, misses = _hits(request, reply)
        if self.stats is not None:
            self.stats.record(hits, misses, False, elapsed)
        if span is not None:
            self.telemetry.end(span, elapsed, hits, misses)

    def _failed(self, span: Any, exc: BaseException, elapsed: float) -> None:
        if self.stats is not None:
            self.stats.record(0, 0, True, elapsed)
        if span is not None:
            self.telemetry.end(span, elapsed, 0, 0, exc)

    def call(self, send: Callable[..., Any], conn: Any, request: Any) -> Any:
        if type(request) is Local:
            return send(conn, request)  # no I/O (a Lock object is built)
        retry = self.retry
        attempt = 1
        while True:
            try:
                return self._observed(send, conn, request)
            except RETRYABLE as exc:
                if retry is None or not retry.should_retry(attempt, request, exc):
                    raise
            time.sleep(retry.delay(attempt))
            attempt += 1

    async def acall(self, send: Callable[..., Any], conn: Any, request: Any) -> Any:
        if type(request) is Local:
            return await send(conn, request)
        retry = self.retry
        attempt = 1
        while True:
            try:
                return await self._aobserved(send, conn, request)
            except RETRYABLE as exc:
                if retry is None or not retry.should_retry(attempt, request, exc):
                    raise
            await asyncio.sleep(retry.delay(attempt))
            attempt += 1


def alias_of(server: Any, params: Mapping[str, Any]) -> str:
    """The ``CACHES`` alias a backend was built from (Django passes no alias:
    the entry whose LOCATION and other keys match), else its LOCATION."""
    from django.conf import settings

    for alias, entry in (getattr(settings, "CACHES", None) or {}).items():
        if not isinstance(entry, Mapping) or entry.get("LOCATION", "") != server:
            continue
        rest = {k: v for k, v in entry.items() if k not in ("BACKEND", "LOCATION")}
        if rest == dict(params):
            return str(alias)
    if isinstance(server, (list, tuple)):
        return ",".join(map(str, server))
    return str(server)


def guard_from_options(options: Mapping[str, Any], breaker: Any, server: Any, params: Any) -> Any:
    """What the drivers call around each request: None (nothing to do), the
    breaker alone, or a :class:`Guard`."""
    retry = retry_from_options(options.get("RETRY"))
    want_stats = bool(options.get("STATISTICS"))
    want_telemetry = options.get("OPENTELEMETRY")
    if retry is None and not want_stats and not want_telemetry:
        return breaker
    stats = telemetry = None
    if want_stats or want_telemetry:
        alias = alias_of(server, params)
        if want_stats:
            from django_valkey.stats import statistics

            stats = statistics(alias)
        if want_telemetry:
            from django_valkey.telemetry import telemetry_from_options

            telemetry = telemetry_from_options(want_telemetry, alias)
    return Guard(breaker, retry, stats, telemetry)
