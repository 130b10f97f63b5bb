"""Load one implementation (compiled or pure) of a speedups module, for tests.

The compiled module is skipped only when it was not built and the run does not
require it; CI sets DJANGO_VALKEY_REQUIRE_EXTENSIONS=1, so there a missing
compiled module fails the test instead of skipping it.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

IMPLS = ("compiled", "pure")
REQUIRE_COMPILED = os.environ.get("DJANGO_VALKEY_REQUIRE_EXTENSIONS") == "1"


def speedups_module(stem: str, impl: str) -> ModuleType:
    """``speedups_module("codec", "pure")`` -> django_valkey._speedups._codec_py."""
    suffix = "_py" if impl == "pure" else ""
    name = f"django_valkey._speedups._{stem}{suffix}"
    try:
        return importlib.import_module(name)
    except ImportError:
        if impl == "pure" or REQUIRE_COMPILED:
            raise
        pytest.skip(f"{name} is not built")
