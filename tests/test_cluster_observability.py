"""RETRY, STATISTICS and OPENTELEMETRY on the cluster backend: the cluster
client runs the same drivers, so the same guard wraps its requests."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from django_valkey.guard import Guard
from django_valkey.stats import statistics
from tests.cluster import (  # noqa: F401 - fixtures
    ClusterTopology,
    cluster_fixture,
    make_cluster_cache_fixture,
)

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_cluster_statistics_and_spans(make_cluster_cache: Any, cluster: ClusterTopology) -> None:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    statistics(cluster.url).reset()
    cache = make_cluster_cache(
        OPTIONS={
            "STATISTICS": True,
            "RETRY": {"ATTEMPTS": 2},
            "OPENTELEMETRY": {"TRACER_PROVIDER": provider},
        }
    )
    assert isinstance(cache.client._guard, Guard)
    cache.set("a", 1)
    assert cache.get("a") == 1
    assert cache.get("b") is None
    assert cache.get_many(["a", "b", "c"]) == {"a": 1}
    stats = statistics(cluster.url).snapshot()
    assert (stats["hits"], stats["misses"]) == (2, 3)
    names = [span.name for span in spans.get_finished_spans()]
    assert names[:3] == ["SET", "GET", "GET"]
    assert all(span.attributes["db.system.name"] == "valkey" for span in spans.get_finished_spans())
