"""OpenTelemetry spans and metrics for each command sent (``OPTIONS["OPENTELEMETRY"]``).

``True`` uses the global tracer and meter providers; a dict may name
``TRACER_PROVIDER`` / ``METER_PROVIDER`` objects and ``QUERY_TEXT: True``
(adds ``db.query.text``: the command name and its first argument, the key;
never values).  Needs ``opentelemetry-api`` (the ``opentelemetry`` extra).

Per command sent: a CLIENT span named after the operation (``GET``,
``PIPELINE`` for batches) with the database client conventions
(``db.system.name``, ``db.operation.name``, ``db.operation.batch.size``,
``db.namespace``, ``server.address``, ``server.port``, ``error.type``), one
``db.client.operation.duration`` histogram point (seconds), and for ``GET``
/ ``MGET`` the counters ``django_valkey.cache.hits`` and
``django_valkey.cache.misses`` with the attribute ``django_valkey.cache.alias``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

__all__ = ["Telemetry", "telemetry_from_options"]

SYSTEM = "valkey"


def _operation(request: Any) -> tuple[str, int | None]:
    """(operation name, batch size or None)."""
    commands = getattr(request, "commands", None)
    if commands is not None:
        return ("MULTI" if request.transaction else "PIPELINE"), len(commands)
    name = getattr(request, "name", None)
    if name is not None:
        return name.upper(), None
    first = request.args[0]
    return (first.decode() if isinstance(first, bytes) else str(first)).upper(), None


class Telemetry:
    __slots__ = (
        "_alias_attrs",
        "_client_kind",
        "_hits",
        "_misses",
        "_server_attrs",
        "duration",
        "query_text",
        "status_error",
        "tracer",
    )

    def __init__(
        self, alias: str, tracer_provider: Any, meter_provider: Any, query_text: bool
    ) -> None:
        from opentelemetry import metrics, trace

        from django_valkey import __version__

        self.tracer = trace.get_tracer("django_valkey", __version__, tracer_provider)
        meter = metrics.get_meter("django_valkey", __version__, meter_provider)
        self.duration = meter.create_histogram(
            "db.client.operation.duration",
            unit="s",
            description="Duration of database client operations.",
        )
        self._hits = meter.create_counter(
            "django_valkey.cache.hits", unit="{hit}", description="Keys found by GET/MGET."
        )
        self._misses = meter.create_counter(
            "django_valkey.cache.misses", unit="{miss}", description="Keys missed by GET/MGET."
        )
        self._alias_attrs = {"django_valkey.cache.alias": alias}
        self.query_text = query_text
        self.status_error = trace.Status(trace.StatusCode.ERROR)
        self._client_kind = trace.SpanKind.CLIENT
        # Per pool (pools live as long as the process): its server attributes.
        self._server_attrs: dict[int, dict[str, Any]] = {}

    def _attributes(self, conn: Any) -> dict[str, Any]:
        pool = getattr(conn, "connection_pool", None)
        attrs = self._server_attrs.get(id(pool))
        if attrs is None:
            attrs = {"db.system.name": SYSTEM}
            kwargs = getattr(pool, "connection_kwargs", None) or {}
            if kwargs.get("host"):
                attrs["server.address"] = str(kwargs["host"])
                if kwargs.get("port"):
                    attrs["server.port"] = int(kwargs["port"])
            elif kwargs.get("path"):
                attrs["server.address"] = str(kwargs["path"])
            attrs["db.namespace"] = str(kwargs.get("db", 0))
            self._server_attrs[id(pool)] = attrs
        return attrs

    def start(self, conn: Any, request: Any) -> tuple[Any, dict[str, Any]]:
        name, batch = _operation(request)
        attrs = dict(self._attributes(conn))
        attrs["db.operation.name"] = name
        if batch is not None:
            attrs["db.operation.batch.size"] = batch
        span_attrs = attrs
        if self.query_text and batch is None:
            args: tuple[Any, ...] = getattr(request, "args", ())
            text = name if len(args) < 2 else f"{name} {args[1]!s}"
            span_attrs = {**attrs, "db.query.text": text}
        span = self.tracer.start_span(name, kind=self._client_kind, attributes=span_attrs)
        return span, attrs

    def end(
        self,
        started: tuple[Any, dict[str, Any]],
        elapsed: float,
        hits: int,
        misses: int,
        exc: BaseException | None = None,
    ) -> None:
        span, attrs = started
        if exc is not None:
            error_type = type(exc).__qualname__
            attrs["error.type"] = error_type
            span.set_attribute("error.type", error_type)
            span.set_status(self.status_error)
        span.end()
        self.duration.record(elapsed, attrs)
        if hits:
            self._hits.add(hits, self._alias_attrs)
        if misses:
            self._misses.add(misses, self._alias_attrs)


def telemetry_from_options(setting: Any, alias: str) -> Telemetry | None:
    """The telemetry ``OPTIONS["OPENTELEMETRY"]`` asks for (None: off)."""
    if not setting:
        return None
    if setting is True:
        setting = {}
    if not isinstance(setting, Mapping):
        raise ImproperlyConfigured(
            f"OPTIONS['OPENTELEMETRY'] must be True, False or a dict, not {type(setting).__name__}"
        )
    unknown = set(setting) - {"TRACER_PROVIDER", "METER_PROVIDER", "QUERY_TEXT"}
    if unknown:
        raise ImproperlyConfigured(
            f"OPTIONS['OPENTELEMETRY']: unknown keys {sorted(map(str, unknown))} "
            "(expected TRACER_PROVIDER, METER_PROVIDER, QUERY_TEXT)"
        )
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError as exc:
        raise ImproperlyConfigured(
            "OPTIONS['OPENTELEMETRY'] needs opentelemetry-api: "
            "pip install 'django-valkey-compiled[opentelemetry]'"
        ) from exc
    return Telemetry(
        alias,
        setting.get("TRACER_PROVIDER"),
        setting.get("METER_PROVIDER"),
        bool(setting.get("QUERY_TEXT", False)),
    )
