"""Tables and charts for docs/performance.md from one benchmark run's JSON.

Reads the ``--json`` output of the shared yardstick (``cachebench.py``, see
docs/performance.md for the command), then:

* writes ``docs/img/cpu-sync.svg`` and ``docs/img/cpu-async.svg``: client CPU
  per operation of each backend relative to the reference (paired per-round
  ratios, medians), one bar per backend and workload;
* replaces the tables between the ``<!-- charts.py:tables:begin -->`` and
  ``<!-- charts.py:tables:end -->`` markers of docs/performance.md.

    python bench/charts.py bench/results/cachebench-2026-12-04.json

The output depends on the JSON only (no dates, no randomness), so the test
suite regenerates both and compares them with the committed files.  Only the
standard library is used: SVG is plain text.
"""

from __future__ import annotations

import argparse
import json
import re
from html import escape
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "performance.md"
IMG = ROOT / "docs" / "img"
BEGIN = "<!-- charts.py:tables:begin -->"
END = "<!-- charts.py:tables:end -->"

# What each backend of the run is called on the page (runs without one are skipped).
LABELS = {
    "ours": "django-valkey-compiled",
    "ours-parser": "compiled + PARSER_CLASS Parser",
    "ours-pure": "pure-Python twins",
    "ours-async": "compiled AsyncValkeyCache",
    "django-valkey+libvalkey": "django-valkey 0.4.1 + libvalkey",
    "django-valkey-async+libvalkey": "django-valkey 0.4.1 async + libvalkey",
    "django-redis+hiredis": "django-redis 7 + hiredis",
    "django-builtin-redis": "Django RedisCache + hiredis",
    "raw-valkey-py+libvalkey": "raw valkey-py + libvalkey",
}
# Bar colours, by backend (the package's own in blues, the others in greys and ambers).
COLOURS = {
    "ours": "#1f5fa8",
    "ours-parser": "#4a8fd9",
    "ours-pure": "#9cc3ec",
    "ours-async": "#1f5fa8",
    "django-valkey+libvalkey": "#d08c2a",
    "django-valkey-async+libvalkey": "#d08c2a",
    "django-redis+hiredis": "#8a8a8a",
    "django-builtin-redis": "#bdbdbd",
    "raw-valkey-py+libvalkey": "#3c3c3c",
}
SYNC_ORDER = [
    "ours",
    "ours-pure",
    "django-redis+hiredis",
    "django-builtin-redis",
    "raw-valkey-py+libvalkey",
]
ASYNC_ORDER = ["ours", "ours-async", "ours-pure"]


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for key in ("meta", "workloads", "results"):
        if key not in data:
            raise SystemExit(f"{path}: not a cachebench JSON (no {key!r})")
    return data


def workloads(data: dict[str, Any], is_async: bool) -> list[str]:
    return [w for w, spec in data["workloads"].items() if bool(spec.get("async")) == is_async]


def present(data: dict[str, Any], names: list[str], wanted: list[str]) -> list[str]:
    """The backends of ``wanted`` that have a result for at least one of ``names``."""
    return [b for b in wanted if any(b in data["results"].get(w, {}) for w in names)]


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def cell(data: dict[str, Any], workload: str, backend: str, field: str) -> float | None:
    result = data["results"].get(workload, {}).get(backend)
    if result is None:
        return None
    value = result.get(field)
    if isinstance(value, dict):
        value = value.get("median")
    return float(value) if value is not None else None


def table(data: dict[str, Any], is_async: bool) -> str:
    """Client CPU µs per op (median) and the ratio to the baseline, as Markdown."""
    names = workloads(data, is_async)
    baseline = data["meta"]["async_baseline" if is_async else "baseline"]
    backends = [baseline, *present(data, names, ASYNC_ORDER if is_async else SYNC_ORDER)]
    head = ["workload", *(LABELS[b] for b in backends)]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * len(backends) + "|"]
    for workload in names:
        row = [f"`{workload}`"]
        for backend in backends:
            cpu = cell(data, workload, backend, "cpu_us")
            ratio = cell(data, workload, backend, "cpu_ratio")
            if cpu is None:
                row.append("—")
            elif backend == baseline or ratio is None:
                row.append(_fmt(cpu))
            else:
                row.append(f"{_fmt(cpu)} ({ratio:.2f})")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def throughput(data: dict[str, Any]) -> str:
    """Median ops/s of every sync workload, as Markdown."""
    names = workloads(data, False)
    backends = [data["meta"]["baseline"], *present(data, names, SYNC_ORDER)]
    head = ["workload", *(LABELS[b] for b in backends)]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * len(backends) + "|"]
    for workload in names:
        values = [_fmt(cell(data, workload, b, "ops_s"), 0) for b in backends]
        lines.append("| " + " | ".join([f"`{workload}`", *values]) + " |")
    return "\n".join(lines)


def tables_markdown(data: dict[str, Any]) -> str:
    meta = data["meta"]
    versions = meta.get("versions", {})
    server = meta.get("server_info", {}).get("valkey_version", "?")
    about = (
        f"Run of {meta.get('date', '?')}: {meta.get('rounds')} rounds, Python "
        f"{versions.get('python', '?')}, Django {versions.get('Django', '?')}, valkey-py "
        f"{versions.get('valkey', '?')}, Valkey {server}, "
        f"{meta.get('machine', {}).get('cpus', '?')} CPUs (client and server pinned to one)."
    )
    return "\n\n".join(
        [
            about,
            "**Sync: client CPU per call, µs (ratio to django-valkey 0.4.1; lower is better)**",
            table(data, False),
            "**Async: client CPU per call, µs (ratio to django-valkey 0.4.1's "
            "AsyncValkeyCache; lower is better)**",
            table(data, True),
            "**Sync: throughput, calls per second (median; higher is better)**",
            throughput(data),
        ]
    )


def svg_chart(data: dict[str, Any], is_async: bool) -> str:
    """Horizontal bars: each backend's CPU ratio to the baseline, per workload."""
    names = workloads(data, is_async)
    backends = present(data, names, ASYNC_ORDER if is_async else SYNC_ORDER)
    baseline = LABELS[data["meta"]["async_baseline" if is_async else "baseline"]]
    ratios = [cell(data, w, b, "cpu_ratio") for w in names for b in backends]
    # The axis stops at 2.0: past that a bar ends at the edge and its label gives the value
    # (one backend at 3.8 would otherwise squeeze every ratio below 1 into a few pixels).
    top = min(2.0, max(1.2, max((r for r in ratios if r is not None), default=1.0) * 1.05))
    bar, gap, left, width, plot = 9, 10, 150, 860, 560
    legend_h = 18 * len(backends) + 10
    height = 60 + len(names) * (len(backends) * bar + gap) + legend_h + 30
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">Client CPU per call relative '
        f"to {escape(baseline)} (1.0; lower is better)</text>",
    ]
    y0 = 40

    def x_of(ratio: float) -> float:
        return left + plot * min(ratio, top) / top

    # Grid at every 0.2, the baseline (1.0) emphasised.
    tick = 0.0
    grid_bottom = y0 + len(names) * (len(backends) * bar + gap)
    while tick <= top + 1e-9:
        x = x_of(tick)
        stroke = "#d08c2a" if abs(tick - 1.0) < 1e-9 else "#e0e0e0"
        out.append(
            f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{grid_bottom}" stroke="{stroke}"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{grid_bottom + 14}" text-anchor="middle">{tick:.1f}</text>'
        )
        tick = round(tick + 0.2, 10)
    y = y0
    for workload in names:
        out.append(
            f'<text x="{left - 8}" y="{y + len(backends) * bar / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(workload)}</text>'
        )
        for backend in backends:
            ratio = cell(data, workload, backend, "cpu_ratio")
            if ratio is not None:
                out.append(
                    f'<rect x="{left}" y="{y}" width="{x_of(ratio) - left:.1f}" height="{bar - 1}" '
                    f'fill="{COLOURS[backend]}"/>'
                )
                out.append(
                    f'<text x="{x_of(ratio) + 3:.1f}" y="{y + bar - 1}" font-size="9">'
                    f"{ratio:.2f}</text>"
                )
            y += bar
        y += gap
    y = grid_bottom + 30
    for backend in backends:
        out.append(f'<rect x="{left}" y="{y}" width="12" height="12" fill="{COLOURS[backend]}"/>')
        out.append(f'<text x="{left + 18}" y="{y + 10}">{escape(LABELS[backend])}</text>')
        y += 18
    out.append("</svg>")
    return "\n".join(out) + "\n"


def outputs(data: dict[str, Any]) -> dict[Path, str]:
    """Every file this script writes, with its content."""
    return {
        IMG / "cpu-sync.svg": svg_chart(data, False),
        IMG / "cpu-async.svg": svg_chart(data, True),
    }


def page_with_tables(page_text: str, data: dict[str, Any]) -> str:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), flags=re.S)
    if not pattern.search(page_text):
        raise SystemExit(f"{PAGE}: the {BEGIN} / {END} markers are missing")
    block = f"{BEGIN}\n\n{tables_markdown(data)}\n\n{END}"
    return pattern.sub(lambda _: block, page_text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json", type=Path, help="a cachebench --json output")
    args = parser.parse_args()
    data = load(args.json)
    IMG.mkdir(parents=True, exist_ok=True)
    for path, text in outputs(data).items():
        path.write_text(text, encoding="utf-8")
        print("wrote", path.relative_to(ROOT))
    PAGE.write_text(page_with_tables(PAGE.read_text(encoding="utf-8"), data), encoding="utf-8")
    print("updated", PAGE.relative_to(ROOT))


if __name__ == "__main__":
    main()
