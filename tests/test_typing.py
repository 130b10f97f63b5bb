"""The public API as type checkers see it: mypy accepts the correct uses in
``tests/typing/good_usage.py`` and rejects exactly the misuses marked
``# E: <code>`` in ``tests/typing/bad_usage.py``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "typing"
ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")
EXPECTED = re.compile(r"#\s*E:\s*(?P<code>[a-z-]+)")


def _mypy(path: Path) -> tuple[set[tuple[int, str]], str]:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    errors = set()
    for line in result.stdout.splitlines():
        match = ERROR.match(line)
        if match and Path(match["path"]).resolve() == path:
            errors.add((int(match["line"]), match["code"]))
    return errors, result.stdout


@pytest.mark.timeout(900)
def test_mypy_accepts_correct_usage() -> None:
    errors, output = _mypy(CASES / "good_usage.py")
    assert not errors, output
    assert "Success" in output, output


@pytest.mark.timeout(900)
def test_mypy_rejects_exactly_the_marked_misuses() -> None:
    path = CASES / "bad_usage.py"
    expected = {
        (number, match["code"])
        for number, text in enumerate(path.read_text().splitlines(), start=1)
        if (match := EXPECTED.search(text))
    }
    assert len(expected) >= 10
    errors, output = _mypy(path)
    assert errors == expected, output
