"""The upstream django-valkey installed next to ours is detected (both own
the ``django_valkey`` import name): at import and by ``manage.py check``.

A fake ``*.dist-info`` directory on a temporary ``sys.path`` entry stands
for each distribution; ``.ci/packaging`` checks the real upstream wheel.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from django_valkey import _conflict
from django_valkey.checks import check_upstream_conflict


def fake_distribution(where: Path, name: str, version: str) -> None:
    info = where / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


@pytest.fixture
def both_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_distribution(tmp_path, "django-valkey", "0.4.1")
    # Ours too, for runs from a source tree where it is not installed.
    fake_distribution(tmp_path, "django-valkey-compiled", "0.4.1")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_no_conflict_without_upstream() -> None:
    assert _conflict.conflict_message() is None
    assert _conflict.conflict_message(quick=True) is None
    _conflict.check_installation()
    assert check_upstream_conflict() == []


def test_conflict_names_both_and_the_fix(both_installed: Path) -> None:
    for quick in (False, True):
        message = _conflict.conflict_message(quick=quick)
        assert message is not None
        assert "django-valkey-compiled 0.4.1" in message and "django-valkey 0.4.1" in message
        assert "pip uninstall -y django-valkey django-valkey-compiled" in message
        assert message.endswith("pip install django-valkey-compiled")
    with pytest.raises(ImportError, match="Both django-valkey-compiled"):
        _conflict.check_installation()


def test_manage_py_check_reports_it(both_installed: Path) -> None:
    [error] = check_upstream_conflict()
    assert error.id == "django_valkey.E100"
    assert error.level >= 40  # an Error: manage.py check fails
    assert "django-valkey 0.4.1" in error.msg and "pip uninstall" in error.msg


def test_upstream_egg_info_counts_for_the_quick_look(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "django_valkey_compiled-1.0.dist-info").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _conflict._maybe_upstream() is False
    (tmp_path / "django-valkey.egg-info").mkdir()
    assert _conflict._maybe_upstream() is True


def test_import_fails_with_the_message(both_installed: Path) -> None:
    code = f"import sys; sys.path.insert(0, {str(both_installed)!r}); import django_valkey"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode != 0
    assert "ImportError: Both django-valkey-compiled" in done.stderr
