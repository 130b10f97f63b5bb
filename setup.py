"""Build the compiled speedups; fall back to the pure-Python twins when that fails.

A source install without a working compiler still installs a working package
(the `_*_py.py` twins are used at run time).  Under cibuildwheel
(CIBUILDWHEEL=1) or with DJANGO_VALKEY_REQUIRE_EXTENSIONS=1 a failed compile
fails the build, so a wheel never ships without its compiled modules.
"""

import os
import sys
from glob import glob

from setuptools import setup
from setuptools.command.build_ext import build_ext

STRICT = os.environ.get("CIBUILDWHEEL") == "1" or os.environ.get(
    "DJANGO_VALKEY_REQUIRE_EXTENSIONS"
) == "1"
SKIP = os.environ.get("DJANGO_VALKEY_NO_EXTENSIONS") == "1"


def speedup_extensions():
    if SKIP or sys.implementation.name != "cpython":
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    sources = sorted(glob(os.path.join("django_valkey", "_speedups", "*.pyx")))
    free_threaded = bool(getattr(sys, "_is_gil_enabled", lambda: True)() is False)
    extensions = [
        Extension(
            "django_valkey._speedups." + os.path.splitext(os.path.basename(src))[0],
            [src],
            extra_compile_args=["-O2"] if os.name != "nt" else [],
        )
        for src in sources
    ]
    directives = {
        "language_level": "3",
        "boundscheck": False,
        "wraparound": False,
        "cdivision": True,
        "embedsignature": True,
        "freethreading_compatible": True,
    }
    if free_threaded:
        directives["freethreading_compatible"] = True
    return cythonize(extensions, compiler_directives=directives, quiet=True)


class OptionalBuildExt(build_ext):
    """build_ext that reports a failed compile instead of aborting (unless strict)."""

    def run(self):
        try:
            super().run()
        except Exception as exc:
            self._fallback(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fallback(exc, ext.name)

    def _fallback(self, exc, name="the speedups"):
        if STRICT:
            raise
        sys.stderr.write(
            "\n*** django-valkey: could not compile %s (%s).\n"
            "*** Installing the pure-Python implementation instead: everything works,\n"
            "*** only slower. Install a C compiler and the Python headers to get the\n"
            "*** compiled speedups.\n\n" % (name, exc)
        )


try:
    ext_modules = speedup_extensions()
except Exception as exc:  # Cython missing or broken: pure twins only
    if STRICT:
        raise
    sys.stderr.write("\n*** django-valkey: cannot cythonize (%s); pure Python only.\n\n" % exc)
    ext_modules = []

setup(ext_modules=ext_modules, cmdclass={"build_ext": OptionalBuildExt})
