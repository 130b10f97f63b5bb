"""An optional circuit breaker: fail fast while the servers look dead.

``OPTIONS["CIRCUIT_BREAKER"] = {"FAILURES": 5, "RESET_TIMEOUT": 30}`` makes a
client stop talking to its servers after ``FAILURES`` consecutive
connection-level failures (``valkey.exceptions.ConnectionError``,
``valkey.exceptions.TimeoutError``, ``socket.timeout``): for the next
``RESET_TIMEOUT`` seconds every request raises :class:`CircuitOpenError`
before touching the network, so a dead cache costs microseconds per call
instead of a connect timeout.  :class:`CircuitOpenError` is a
``valkey.exceptions.ConnectionError``, so the usual paths apply: the backend
raises it (as the cause of ``ConnectionInterrupted`` at client level), or,
with ``IGNORE_EXCEPTIONS``, returns Django's documented fallbacks.

After ``RESET_TIMEOUT`` one trial request is let through (half-open): if it
reaches the server the breaker closes, if it fails the breaker opens again for
``RESET_TIMEOUT``.  Any request that reaches a server (a reply, or a server
error such as ``WRONGTYPE``) resets the failure count.

The state is shared by the whole process: one breaker per (LOCATION list,
FAILURES, RESET_TIMEOUT), so every backend instance built from the same
settings, in every thread, and its asyncio twin, see the same breaker.  The
breaker covers a client's whole LOCATION list (primary and replicas
together); requests sent on a caller-supplied raw client (``client=``) are
not guarded.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from valkey.exceptions import ConnectionError as ValkeyConnectionError
from valkey.exceptions import ResponseError
from valkey.exceptions import TimeoutError as ValkeyTimeoutError

__all__ = [
    "DEFAULT_FAILURES",
    "DEFAULT_RESET_TIMEOUT",
    "CircuitBreaker",
    "CircuitOpenError",
    "breaker_from_options",
    "get_breaker",
]

DEFAULT_FAILURES = 5
DEFAULT_RESET_TIMEOUT = 30.0

#: The failures that count: the server could not be reached or did not answer.
CONNECTION_FAILURES: tuple[type[BaseException], ...] = (
    ValkeyConnectionError,
    ValkeyTimeoutError,
    socket.timeout,
)

T = TypeVar("T")


class CircuitOpenError(ValkeyConnectionError):
    """Raised instead of sending a request while the circuit is open."""


class CircuitBreaker:
    """Consecutive-failure counter with closed / open / half-open states.

    Thread safe: state changes happen under a lock; the closed-state checks
    on the hot path read two attributes and take no lock.
    """

    __slots__ = ("_failures", "_lock", "_opened_at", "_trial", "failures", "reset_timeout")

    def __init__(
        self, failures: int = DEFAULT_FAILURES, reset_timeout: float = DEFAULT_RESET_TIMEOUT
    ):
        self.failures = failures
        self.reset_timeout = reset_timeout
        self._lock = threading.Lock()
        self._failures = 0  # consecutive connection failures
        self._opened_at: float | None = None  # None: closed
        self._trial = False  # a half-open trial request is in flight

    def __repr__(self) -> str:
        return (
            f"<CircuitBreaker {self.state} failures={self._failures}/{self.failures} "
            f"reset_timeout={self.reset_timeout}>"
        )

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"`` (a trial may go through)."""
        opened_at = self._opened_at
        if opened_at is None:
            return "closed"
        if time.monotonic() - opened_at >= self.reset_timeout:
            return "half-open"
        return "open"

    def before(self) -> bool:
        """Called before a request: raise :class:`CircuitOpenError` while
        open; returns True when the request is the half-open trial."""
        if self._opened_at is None:
            return False
        with self._lock:
            opened_at = self._opened_at
            if opened_at is None:
                return False
            remaining = opened_at + self.reset_timeout - time.monotonic()
            if remaining <= 0 and not self._trial:
                self._trial = True
                return True
        raise CircuitOpenError(
            f"circuit breaker open after {self.failures} consecutive connection failures "
            f"(retry in {max(remaining, 0.0):.3g}s)"
        )

    def success(self) -> None:
        """A request reached the server: close the circuit, reset the count."""
        if self._failures == 0 and self._opened_at is None:
            return
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial = False

    def failure(self, trial: bool = False) -> None:
        """A request could not reach the server."""
        with self._lock:
            if self._opened_at is not None:
                # Already open: only the trial's failure re-opens for a full
                # period (a request sent before it opened changes nothing).
                if trial:
                    self._opened_at = time.monotonic()
                    self._trial = False
                return
            self._failures += 1
            if self._failures >= self.failures:
                self._opened_at = time.monotonic()
                self._trial = False

    def release(self, trial: bool) -> None:
        """A request ended without telling whether the server is alive
        (cancelled, or failed before any I/O): let another trial through."""
        if trial:
            with self._lock:
                self._trial = False

    def _outcome(self, exc: BaseException, trial: bool) -> None:
        if isinstance(exc, CONNECTION_FAILURES):
            self.failure(trial)
        elif isinstance(exc, ResponseError):
            # A server error (WRONGTYPE, NOSCRIPT...): the server is reachable.
            self.success()
        else:
            self.release(trial)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` guarded by the breaker."""
        trial = self.before()
        try:
            result = fn(*args)
        except BaseException as exc:
            self._outcome(exc, trial)
            raise
        self.success()
        return result

    async def acall(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await fn(*args)`` guarded by the breaker."""
        trial = self.before()
        try:
            result = await fn(*args)
        except BaseException as exc:
            self._outcome(exc, trial)
            raise
        self.success()
        return result

    def reset(self) -> None:
        """Back to closed with no failures counted."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial = False


_registry: dict[tuple[Any, ...], CircuitBreaker] = {}
_registry_lock = threading.Lock()


def get_breaker(
    locations: Iterable[str],
    failures: int = DEFAULT_FAILURES,
    reset_timeout: float = DEFAULT_RESET_TIMEOUT,
) -> CircuitBreaker:
    """The process-wide breaker for these servers and settings."""
    key = (tuple(locations), failures, float(reset_timeout))
    breaker = _registry.get(key)
    if breaker is None:
        with _registry_lock:
            breaker = _registry.get(key)
            if breaker is None:
                breaker = _registry[key] = CircuitBreaker(failures, float(reset_timeout))
    return breaker


def breaker_from_options(setting: Any, locations: Iterable[str]) -> CircuitBreaker | None:
    """The breaker ``OPTIONS["CIRCUIT_BREAKER"]`` asks for (None: off)."""
    if setting is None:
        return None
    if not isinstance(setting, Mapping):
        raise ImproperlyConfigured(
            "OPTIONS['CIRCUIT_BREAKER'] must be a dict like "
            f'{{"FAILURES": 5, "RESET_TIMEOUT": 30}} or None, not {type(setting).__name__}'
        )
    unknown = set(setting) - {"FAILURES", "RESET_TIMEOUT"}
    if unknown:
        raise ImproperlyConfigured(
            f"OPTIONS['CIRCUIT_BREAKER']: unknown keys {sorted(map(str, unknown))} "
            "(expected FAILURES, RESET_TIMEOUT)"
        )
    failures = setting.get("FAILURES", DEFAULT_FAILURES)
    if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
        raise ImproperlyConfigured(
            f"OPTIONS['CIRCUIT_BREAKER']['FAILURES'] must be an int >= 1, not {failures!r}"
        )
    reset_timeout = setting.get("RESET_TIMEOUT", DEFAULT_RESET_TIMEOUT)
    if (
        isinstance(reset_timeout, bool)
        or not isinstance(reset_timeout, (int, float))
        or not math.isfinite(reset_timeout)
        or reset_timeout <= 0
    ):
        raise ImproperlyConfigured(
            "OPTIONS['CIRCUIT_BREAKER']['RESET_TIMEOUT'] must be a number of seconds > 0, "
            f"not {reset_timeout!r}"
        )
    return get_breaker(locations, failures, reset_timeout)
