"""A short coverage-guided fuzz run of the compiled Reader and Codec (atheris).

The harness is ``bench/fuzz_atheris.py`` (run it for minutes by hand); here
each target runs for two seconds in its own process, which must exit cleanly:
no crash, no undocumented exception, compiled and pure twins in agreement.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.impls import speedups_module

pytestmark = pytest.mark.slow

HARNESS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "bench", "fuzz_atheris.py")


def test_fuzz_reader_and_codec(tmp_path):
    import atheris  # noqa: F401  (requirements-test.txt installs it)

    # The harness fuzzes the compiled modules: they must be there.
    speedups_module("reader", "compiled")
    speedups_module("codec", "compiled")
    result = subprocess.run(
        [sys.executable, HARNESS, "--seconds", "2", "--artifacts", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for target in ("reader-default", "reader-custom", "codec-pickle-zlib", "codec-json"):
        (line,) = [line for line in lines if line.startswith(target)]
        assert line.split()[1:3] == ["exit", "0"], line
