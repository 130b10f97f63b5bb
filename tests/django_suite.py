"""Django's own cache tests, fetched at test time for the installed Django.

``load_cache_tests()`` returns Django's ``tests/cache/tests.py`` module as
Django ships it in the sdist of the installed version.  The sdist is
downloaded once with pip (``pip download django==X --no-binary :all:
--no-deps``) into ``~/.cache/django-valkey-tests/`` (or
``$DJANGO_VALKEY_TESTS_CACHE``), and only its ``tests/cache/`` package is
extracted next to it; nothing of Django's is committed here.

The package is importable as ``cache`` (its own tests name it
``cache.tests``), and it is installed as a Django app for the rest of the
session: its ``Poll`` model needs an app, and the test database (created
after collection) then gets its table, as under Django's own runner.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

import django

__all__ = ["cache_dir", "load_cache_tests", "tests_root"]


def cache_dir() -> Path:
    """Where sdists and extracted test packages are kept between runs."""
    configured = os.environ.get("DJANGO_VALKEY_TESTS_CACHE")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "django-valkey-tests"


def _sdist(version: str, where: Path) -> Path:
    def found() -> Path | None:
        # Older sdists are named "Django-X.tar.gz", newer "django-X.tar.gz".
        for path in where.glob("*.tar.gz"):
            if path.name.lower() == f"django-{version}.tar.gz":
                return path
        return None

    path = found()
    if path is None:
        command = [sys.executable, "-m", "pip", "download", f"django=={version}"]
        command += ["--no-binary", ":all:", "--no-deps", "-d", str(where)]
        done = subprocess.run(command, capture_output=True, text=True)
        path = found()
        if path is None:
            raise RuntimeError(
                f"could not download Django {version}'s sdist for its cache tests:\n"
                + done.stdout[-2000:]
                + done.stderr[-2000:]
            )
    return path


def tests_root(version: str | None = None) -> Path:
    """A directory holding Django ``version``'s ``cache`` test package
    (the installed Django's by default), fetched on first use."""
    version = version or django.__version__
    root = cache_dir()
    target = root / f"django-{version}"
    if (target / "cache" / "tests.py").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    sdist = _sdist(version, root)
    # Extract into a private directory, then rename: a concurrent run sees
    # either nothing or the complete package.
    scratch = Path(tempfile.mkdtemp(prefix=".extract-", dir=root))
    try:
        inner = "tests/cache/"
        with tarfile.open(sdist) as archive:
            members = []
            for member in archive.getmembers():
                _, _, rest = member.name.partition("/")
                if rest.startswith(inner) and (member.isfile() or member.isdir()):
                    member.name = rest[len("tests/") :]
                    members.append(member)
            if not members:
                raise RuntimeError(f"{sdist} holds no tests/cache/ package")
            if hasattr(tarfile, "data_filter"):
                archive.extractall(scratch, members=members, filter="data")
            else:  # Python < 3.11.4: the members are plain files and directories
                archive.extractall(scratch, members=members)
        try:
            scratch.rename(target)
        except OSError:
            if not (target / "cache" / "tests.py").is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def load_cache_tests() -> ModuleType:
    """Django's ``cache.tests`` module, importable and with its app installed."""
    from django.apps import apps
    from django.conf import settings

    root = str(tests_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    if not apps.is_installed("cache"):
        # Never undone: the app must stay installed for the test database
        # (created lazily, after collection) to get the Poll table.
        apps.set_installed_apps([*settings.INSTALLED_APPS, "cache"])
    import cache.tests  # type: ignore[import-not-found]

    return cache.tests
