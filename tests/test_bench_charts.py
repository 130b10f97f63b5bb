"""docs/performance.md and its charts are what bench/charts.py makes of the
committed benchmark JSON (so neither was edited by hand nor left stale)."""

from __future__ import annotations

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = sorted((ROOT / "bench" / "results").glob("cachebench-*.json"))

# Wheel builds copy only tests/ (cibuildwheel's test-sources): no bench/ there.
pytestmark = pytest.mark.skipif(
    not (ROOT / "bench" / "charts.py").exists(), reason="bench/ is not in this tree"
)


def charts_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_charts", ROOT / "bench" / "charts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def charts() -> ModuleType:
    return charts_module()


@pytest.fixture(scope="module")
def data(charts: ModuleType) -> dict:
    assert RESULTS, "no committed benchmark run in bench/results/"
    return charts.load(RESULTS[-1])


def test_the_page_tables_come_from_the_latest_run(charts: ModuleType, data: dict) -> None:
    page = charts.PAGE.read_text(encoding="utf-8")
    assert charts.page_with_tables(page, data) == page, (
        f"rerun: python bench/charts.py {RESULTS[-1].relative_to(ROOT)}"
    )


def test_the_charts_come_from_the_latest_run(charts: ModuleType, data: dict) -> None:
    for path, text in charts.outputs(data).items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name} is stale"
        root = ET.fromstring(text)
        assert root.tag.endswith("svg")
        assert path.name in (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")


def test_the_run_compares_the_promised_backends(data: dict) -> None:
    names = set(data["backends"])
    for wanted in (
        "ours",
        "ours-pure",
        "django-valkey+libvalkey",
        "django-redis+hiredis",
        "django-builtin-redis",
        "raw-valkey-py+libvalkey",
    ):
        assert wanted in names
    assert not data["errors"]


def test_tables_show_every_workload(charts: ModuleType, data: dict) -> None:
    text = charts.tables_markdown(data)
    for workload in data["workloads"]:
        assert f"`{workload}`" in text
