"""Selects the compiled speedups or their pure-Python twins.

Each hot path has two implementations with the same API and byte-identical
results: ``_<name>.pyx`` (compiled with Cython) and ``_<name>_py.py`` (the
readable specification).  This module picks one set, all compiled or all pure,
so that ``COMPILED`` tells the whole truth:

* ``DJANGO_VALKEY_NO_EXTENSIONS=1`` (any non-empty value but ``0``) forces the
  pure twins;
* on interpreters other than CPython the pure twins are used;
* otherwise the compiled modules are used when they were built, and the pure
  twins when any of them is missing (a source install without a compiler).

Nothing here knows about Django or servers.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING

__all__ = [
    "COMPILED",
    "IMPLEMENTATION",
    "Codec",
    "KeyMaker",
    "NearStore",
    "Reader",
    "implementation",
]

#: The hot paths, by module stem; each has ``_<stem>`` and ``_<stem>_py``.
MODULES = ("keys", "codec", "reader", "nearcache")

NO_EXTENSIONS = (
    os.environ.get("DJANGO_VALKEY_NO_EXTENSIONS", "") not in ("", "0")
    or sys.implementation.name != "cpython"
)


def implementation(compiled: bool) -> dict[str, ModuleType]:
    """Import one implementation of every hot path (raises ImportError if absent)."""
    suffix = "" if compiled else "_py"
    return {stem: importlib.import_module(f"{__name__}._{stem}{suffix}") for stem in MODULES}


def _select() -> tuple[bool, dict[str, ModuleType]]:
    if not NO_EXTENSIONS:
        try:
            return True, implementation(compiled=True)
        except ImportError:
            pass
    return False, implementation(compiled=False)


if TYPE_CHECKING:
    from ._codec_py import Codec
    from ._keys_py import KeyMaker
    from ._nearcache_py import NearStore
    from ._reader_py import Reader

    COMPILED: bool
else:
    COMPILED, _modules = _select()
    KeyMaker = _modules["keys"].KeyMaker
    Codec = _modules["codec"].Codec
    Reader = _modules["reader"].Reader
    NearStore = _modules["nearcache"].NearStore
    del _modules

#: "compiled" or "pure": which implementation this process uses.
IMPLEMENTATION = "compiled" if COMPILED else "pure"
