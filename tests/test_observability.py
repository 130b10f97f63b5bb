"""OPTIONS["STATISTICS"] and OPTIONS["OPENTELEMETRY"]: counters per alias and
spans/metrics per command, checked with OpenTelemetry's in-memory exporters."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from valkey.exceptions import ResponseError

from django_valkey.breaker import CircuitBreaker
from django_valkey.guard import Guard
from django_valkey.stats import all_statistics, statistics
from tests.servers import ValkeyServer

pytestmark = pytest.mark.server


class Otel:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def options(self, **extra: Any) -> dict[str, Any]:
        return {
            "TRACER_PROVIDER": self.tracer_provider,
            "METER_PROVIDER": self.meter_provider,
            **extra,
        }

    def finished(self) -> list[Any]:
        return list(self.spans.get_finished_spans())

    def metrics(self) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found


@pytest.fixture
def otel() -> Otel:
    return Otel()


def test_nothing_configured_means_no_guard(make_cache: Any) -> None:
    # The drivers' hot path: one `is not None` test per request.
    assert make_cache().client._guard is None
    breaker_only = make_cache(OPTIONS={"CIRCUIT_BREAKER": {"FAILURES": 3}}).client
    assert isinstance(breaker_only._guard, CircuitBreaker)
    assert breaker_only._guard is breaker_only._breaker
    assert isinstance(make_cache(OPTIONS={"STATISTICS": True}).client._guard, Guard)


def test_statistics_count_near_cache_reads_from_the_server(
    speedups: str, make_cache: Any, valkey_server: ValkeyServer
) -> None:
    location = f"{valkey_server.url}/4"
    stats = statistics(location)
    stats.reset()
    near = {"MAX_ENTRIES": 100, "MAX_BYTES": 2**20, "MAX_VALUE_BYTES": 2**16}
    cache = make_cache(location=location, OPTIONS={"STATISTICS": True, "NEAR_CACHE": near})
    cache.set("a", 1)
    assert cache.get("missing") is None  # read from the server (a pipelined GET)
    assert stats.snapshot()["misses"] == 1
    # A read the near cache answers locally sends nothing and counts nothing
    # (read until one is: the server's echo of our own SET may drop a copy).
    deadline = time.monotonic() + 10
    while True:
        assert time.monotonic() < deadline, "no read was answered locally"
        hits, commands = cache.near_cache_info()["hits"], stats.snapshot()["commands"]
        assert cache.get("a") == 1
        if cache.near_cache_info()["hits"] == hits + 1:
            break
    assert stats.snapshot()["commands"] == commands
    assert stats.snapshot()["misses"] == 1


def test_statistics_count_hits_misses_errors(
    speedups: str, make_cache: Any, valkey_server: ValkeyServer
) -> None:
    location = f"{valkey_server.url}/3"
    stats = statistics(location)
    stats.reset()
    cache = make_cache(location=location, OPTIONS={"STATISTICS": True})
    cache.set("a", 1)
    assert cache.get("a") == 1
    assert cache.get("missing") is None
    assert cache.get_many(["a", "b", "c"]) == {"a": 1}
    cache.set("text", "x")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        cache.sadd("text", 1)  # a set command on a string: a server error
    snap = stats.snapshot()
    assert snap["hits"] == 2
    assert snap["misses"] == 3
    assert snap["errors"] >= 1
    assert snap["commands"] >= 6
    assert snap["seconds"] > 0
    assert 0 < snap["max_seconds"] <= snap["seconds"]
    assert all_statistics()[location]["hits"] == 2

    async def scenario() -> None:
        assert await cache.aget("a") == 1
        assert await cache.aget("nope") is None
        await cache.async_client._close()

    asyncio.run(scenario())
    assert stats.hits == 3
    assert stats.misses == 4


def test_statistics_per_django_alias(django_caches: Any) -> None:
    entry = dict(__import__("django.conf").conf.settings.CACHES["default"])
    entry["OPTIONS"] = {"STATISTICS": True}
    with override_settings(CACHES={"default": entry}):
        statistics("default").reset()
        django_caches["default"].set("k", 1)
        django_caches["default"].get("k")
        assert statistics("default").hits == 1
        django_caches["default"].close()


def test_spans_follow_the_database_conventions(
    speedups: str, make_cache: Any, valkey_server: ValkeyServer, otel: Otel
) -> None:
    cache = make_cache(location=f"{valkey_server.url}/2", OPTIONS={"OPENTELEMETRY": otel.options()})
    cache.set("secret-key", "secret-value")
    cache.get("secret-key")
    cache.set_many({"a": 1, "b": 2})
    spans = otel.finished()
    names = [span.name for span in spans]
    assert names == ["SET", "GET", "PIPELINE"]
    for span in spans:
        attrs = dict(span.attributes)
        assert span.kind is SpanKind.CLIENT
        assert attrs["db.system.name"] == "valkey"
        assert attrs["db.operation.name"] == span.name
        assert attrs["db.namespace"] == "2"
        assert attrs["server.address"] == "127.0.0.1"
        assert attrs["server.port"] == valkey_server.port
        assert "error.type" not in attrs
        # No key or value text unless asked for.
        assert not any("secret" in str(value) for value in attrs.values())
    assert dict(spans[2].attributes)["db.operation.batch.size"] == 2


def test_failed_command_has_error_type(make_cache: Any, otel: Otel) -> None:
    cache = make_cache(OPTIONS={"OPENTELEMETRY": otel.options()})
    cache.set("text", "x")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        cache.sadd("text", 1)
    failed = otel.finished()[-1]
    assert failed.name == "SADD"
    assert failed.attributes["error.type"] == "ResponseError"
    assert failed.status.status_code is StatusCode.ERROR
    durations = otel.metrics()["db.client.operation.duration"]
    assert any(p.attributes.get("error.type") == "ResponseError" for p in durations)


def test_query_text_only_when_asked(make_cache: Any, otel: Otel) -> None:
    cache = make_cache(OPTIONS={"OPENTELEMETRY": otel.options(QUERY_TEXT=True)})
    cache.get("visible")
    (span,) = otel.finished()
    assert span.attributes["db.query.text"] == f"GET {cache.make_key('visible')}"


def test_metrics_duration_and_hit_counters(
    make_cache: Any, valkey_server: ValkeyServer, otel: Otel
) -> None:
    location = f"{valkey_server.url}/4"
    cache = make_cache(location=location, OPTIONS={"OPENTELEMETRY": otel.options()})
    cache.set("a", 1)
    cache.get("a")
    cache.get("b")
    cache.get_many(["a", "b", "c"])
    metrics = otel.metrics()
    durations = metrics["db.client.operation.duration"]
    by_operation = {p.attributes["db.operation.name"]: p for p in durations}
    assert by_operation["GET"].count == 2
    assert by_operation["SET"].count == 1
    assert by_operation["MGET"].count == 1
    assert all(p.sum > 0 for p in durations)
    (hits,) = metrics["django_valkey.cache.hits"]
    (misses,) = metrics["django_valkey.cache.misses"]
    assert hits.value == 2
    assert misses.value == 3
    assert hits.attributes == {"django_valkey.cache.alias": location}


def test_async_spans(make_cache: Any, otel: Otel) -> None:
    cache = make_cache(OPTIONS={"OPENTELEMETRY": otel.options()})

    async def scenario() -> None:
        await cache.aset("a", 1)
        assert await cache.aget("a") == 1
        await cache.aget_many(["a", "b"])
        await cache.async_client._close()

    asyncio.run(scenario())
    assert [span.name for span in otel.finished()] == ["SET", "GET", "MGET"]
    assert otel.metrics()["django_valkey.cache.hits"][0].value == 2


def test_global_providers_are_the_default(make_cache: Any) -> None:
    # True: the globally configured providers (here the API's no-op ones).
    cache = make_cache(OPTIONS={"OPENTELEMETRY": True})
    cache.set("a", 1)
    assert cache.get("a") == 1


@pytest.mark.parametrize("setting", ["yes", [1], {"TRACER": None}])
def test_bad_opentelemetry_settings(make_cache: Any, setting: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="OPENTELEMETRY"):
        make_cache(OPTIONS={"OPENTELEMETRY": setting}).client  # noqa: B018


def test_async_only_backend(make_cache: Any, valkey_server: ValkeyServer, otel: Otel) -> None:
    location = f"{valkey_server.url}/5"
    statistics(location).reset()
    cache = make_cache(
        backend="django_valkey.async_cache.cache.AsyncValkeyCache",
        location=location,
        OPTIONS={"STATISTICS": True, "OPENTELEMETRY": otel.options(), "RETRY": {"ATTEMPTS": 2}},
    )

    async def scenario() -> None:
        await cache.set("a", 1)
        assert await cache.get("a") == 1
        assert await cache.get("b") is None
        await cache.client._close()

    asyncio.run(scenario())
    assert [span.name for span in otel.finished()] == ["SET", "GET", "GET"]
    assert (statistics(location).hits, statistics(location).misses) == (1, 1)
