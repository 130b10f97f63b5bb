"""Detect the upstream ``django-valkey`` installed next to this package.

Both distributions own the ``django_valkey`` import name, so installing one
after the other overwrites the files they share: which modules run then
depends on the install order, and uninstalling either one breaks the other.
Only a clean reinstall fixes that.  This module must keep working when the
upstream files have overwritten ours (it has no upstream counterpart, and it
imports nothing from the package).
"""

from __future__ import annotations

import os
import sys

__all__ = ["OURS", "UPSTREAM", "check_installation", "conflict_message"]

OURS = "django-valkey-compiled"
UPSTREAM = "django-valkey"


def _maybe_upstream() -> bool:
    """A cheap look for upstream's metadata directory on ``sys.path``, so that
    a normal import does not pay for ``importlib.metadata`` (tens of ms)."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue  # not a directory (a zip, a missing path): not installed there
        for name in names:
            # "django_valkey-0.4.1.dist-info", "django-valkey.egg-info", ...
            # (not "django_valkey_compiled-...": the 14th character differs).
            if (
                name[:13].lower().replace("-", "_") == "django_valkey"
                and name[13:14] in ("-", ".")
                and name.endswith((".dist-info", ".egg-info"))
            ):
                return True
    return False


def _version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def conflict_message(quick: bool = False) -> str | None:
    """What is wrong and how to fix it, when both distributions are installed;
    None otherwise.  ``quick``: skip ``importlib.metadata`` unless a directory
    on ``sys.path`` looks like upstream's metadata (the import-time check)."""
    if quick and not _maybe_upstream():
        return None
    upstream = _version(UPSTREAM)
    if upstream is None:
        return None
    ours = _version(OURS)
    if ours is None:
        return None
    return (
        f"Both {OURS} {ours} and {UPSTREAM} {upstream} are installed. They provide the "
        f"same 'django_valkey' package, so one has overwritten the other's files and "
        f"the cache backend is a mix of both. Fix: "
        f"pip uninstall -y {UPSTREAM} {OURS} && pip install {OURS}"
    )


def check_installation() -> None:
    """Raise ``ImportError`` when both distributions are installed."""
    message = conflict_message(quick=True)
    if message is not None:
        raise ImportError(message)
