"""Which implementation is active, checked in fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.impls import REQUIRE_COMPILED

# Prints the active implementation, then for each hot path the module whose
# class is in use and the file that module was loaded from.
PROBE = """
import importlib, django_valkey._speedups as s
print(s.IMPLEMENTATION)
for stem, name in (("keys", "KeyMaker"), ("codec", "Codec"), ("reader", "Reader"),
                   ("nearcache", "NearStore")):
    for suffix in ("", "_py"):
        try:
            module = importlib.import_module(f"django_valkey._speedups._{stem}{suffix}")
        except ImportError:
            continue
        if getattr(module, name) is getattr(s, name):
            print(module.__name__, module.__file__.rsplit(".", 1)[-1])
"""


def run_probe(**env):
    environ = {k: v for k, v in os.environ.items() if k != "DJANGO_VALKEY_NO_EXTENSIONS"}
    environ.update(env)
    out = subprocess.run(
        [sys.executable, "-I", "-c", PROBE],
        capture_output=True,
        text=True,
        env=environ,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        check=True,
    )
    return out.stdout.split()


def compiled_built() -> bool:
    import importlib.util

    return all(
        importlib.util.find_spec(f"django_valkey._speedups._{stem}") is not None
        for stem in ("keys", "codec", "reader", "nearcache")
    )


def test_compiled_is_active_when_built():
    # -I ignores the current directory: this checks the installed package.
    if not compiled_built():
        if REQUIRE_COMPILED:
            pytest.fail("the compiled speedups are required but not built")
        pytest.skip("compiled speedups not built in this environment")
    impl, *modules = run_probe()
    assert impl == "compiled"
    assert modules == [
        "django_valkey._speedups._keys", "so",
        "django_valkey._speedups._codec", "so",
        "django_valkey._speedups._reader", "so",
        "django_valkey._speedups._nearcache", "so",
    ]  # fmt: skip


@pytest.mark.parametrize("value", ["1", "yes"])
def test_environment_variable_forces_pure(value):
    impl, *modules = run_probe(DJANGO_VALKEY_NO_EXTENSIONS=value)
    assert impl == "pure"
    assert modules == [
        "django_valkey._speedups._keys_py", "py",
        "django_valkey._speedups._codec_py", "py",
        "django_valkey._speedups._reader_py", "py",
        "django_valkey._speedups._nearcache_py", "py",
    ]  # fmt: skip


def test_zero_does_not_disable():
    impl, *_ = run_probe(DJANGO_VALKEY_NO_EXTENSIONS="0")
    assert impl == ("compiled" if compiled_built() else "pure")


def test_import_needs_no_settings():
    code = (
        "import django_valkey, django_valkey.cache, django_valkey.client, django_valkey.pool; "
        "print(django_valkey.__version__)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0.4.1"
