"""The configuration reference (docs/configuration.md) matches the code.

* Every ``### `KEY``` heading of its "OPTIONS keys" and "Serializer and
  compressor settings" sections is a key of
  ``django_valkey.options.KNOWN_OPTIONS``, and every known key has one.
* Every key of ``KNOWN_OPTIONS`` is read somewhere in the package's source
  (no stale entry), and every string the source reads from OPTIONS
  (``options.get("X")``, ``options["X"]``) is a known key, except the keys
  of ``OPTIONS["NEAR_CACHE"]``'s own dict, which the near cache page's
  options table documents (each with its default).
* Every Django setting the source reads (``getattr(settings, "X", ...)``) is
  in the page's settings table.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import django_valkey
from django_valkey.near import DEFAULTS as NEAR_DEFAULTS
from django_valkey.near import parse_options
from django_valkey.options import KNOWN_OPTIONS
from tests.docs_blocks import DOCS, ROOT

PAGE = DOCS / "configuration.md"
NEAR_PAGE = DOCS / "near-cache.md"
# The keys of OPTIONS["NEAR_CACHE"]'s dict (parse_options fills each one in).
NEAR_KEYS = frozenset(parse_options({}))
# The package as imported (a wheel's test run has no source tree beside the tests).
PACKAGE = Path(django_valkey.__file__).resolve().parent

# Wheel builds copy only tests/ (cibuildwheel's test-sources): no docs there.
pytestmark = pytest.mark.skipif(not PAGE.exists(), reason="docs/ is not in this tree")

OPTION_SECTIONS = ("OPTIONS keys", "Serializer and compressor settings")


def sections(text: str) -> dict[str, str]:
    """The page's ``## `` sections, by title (fenced code cannot hold a ``## ``
    line here: the page's code blocks are Python)."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2])}


def documented_options() -> list[str]:
    by_title = sections(PAGE.read_text(encoding="utf-8"))
    keys: list[str] = []
    for title in OPTION_SECTIONS:
        assert title in by_title, f"{PAGE.name} lost its {title!r} section"
        keys += re.findall(r"^### `([A-Z0-9_]+)`\s*$", by_title[title], flags=re.M)
    return keys


def package_source() -> str:
    return "\n".join(
        path.read_text(encoding="utf-8")
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "options.py"
    )


def test_every_known_option_is_documented_once() -> None:
    keys = documented_options()
    duplicates = {k for k in keys if keys.count(k) > 1}
    assert not duplicates, f"documented twice: {sorted(duplicates)}"
    missing = set(KNOWN_OPTIONS) - set(keys)
    assert not missing, f"KNOWN_OPTIONS keys without a heading in {PAGE.name}: {sorted(missing)}"


def test_every_documented_option_is_known() -> None:
    unknown = set(documented_options()) - set(KNOWN_OPTIONS)
    assert not unknown, f"documented in {PAGE.name} but not in KNOWN_OPTIONS: {sorted(unknown)}"


def test_known_options_are_one_line_descriptions() -> None:
    for key, description in KNOWN_OPTIONS.items():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]+", key), key
        assert description and "\n" not in description, key


def test_every_known_option_is_read_by_the_code() -> None:
    source = package_source()
    stale = [key for key in KNOWN_OPTIONS if f'"{key}"' not in source]
    assert not stale, f"KNOWN_OPTIONS keys the package never reads: {stale}"


def test_every_option_the_code_reads_is_known() -> None:
    source = package_source()
    read = set(re.findall(r'options(?:\.get\(|\[)\s*"([A-Z][A-Z0-9_]+)"', source))
    read |= set(re.findall(r'_setting\(\s*"([A-Z][A-Z0-9_]+)"', source))
    read |= set(re.findall(r'self\.setting\(\s*"([A-Z][A-Z0-9_]+)"', source))
    assert read, "the patterns no longer match how the package reads OPTIONS"
    unknown = read - set(KNOWN_OPTIONS) - NEAR_KEYS
    assert not unknown, f"OPTIONS keys read by the code but not in KNOWN_OPTIONS: {sorted(unknown)}"


def test_near_cache_options_table_matches_the_code() -> None:
    """Every key of the near cache's dict is a row of the page's options table,
    with its default, and every row is a key the near cache accepts."""
    assert set(NEAR_DEFAULTS) <= NEAR_KEYS
    text = NEAR_PAGE.read_text(encoding="utf-8")
    table = re.search(r"^## Options$(.*?)^## ", text, flags=re.M | re.S)
    assert table, f"{NEAR_PAGE.name} lost its 'Options' section"
    rows = dict(re.findall(r"^\| `([A-Z_]+)` \| `([^`]+)`", table[1], flags=re.M))
    assert set(rows) == NEAR_KEYS, sorted(set(rows) ^ NEAR_KEYS)
    defaults = parse_options({})
    for key, shown in rows.items():
        assert eval(shown, {}) == defaults[key], (key, shown, defaults[key])


def test_every_setting_the_code_reads_is_documented() -> None:
    source = package_source()
    settings_read = set(re.findall(r'getattr\(\s*settings,\s*"([A-Z][A-Z0-9_]+)"', source))
    assert "DJANGO_VALKEY_SCAN_ITERSIZE" in settings_read
    table = sections(PAGE.read_text(encoding="utf-8"))["Django settings"]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", table)) | set(KNOWN_OPTIONS)
    missing = settings_read - documented
    assert not missing, f"settings read by the code but not in {PAGE.name}: {sorted(missing)}"


def test_page_exists_in_the_site_navigation() -> None:
    nav = Path(ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "configuration.md" in nav
