"""The fenced code blocks of the documentation, and how each one is run.

``tests/test_docs_examples.py`` runs every page's Python blocks against real
servers; this module only reads Markdown and classifies blocks (no Django, no
servers), so ``python -m tests.docs_blocks`` can print what runs and what only
compiles.

A fence opens with three or more backticks (or tildes), possibly indented
(admonitions and tabs indent their content), followed by an info string in
one of the two forms the site's Markdown (pymdownx.superfences) renders:

* ``python title="settings.py"``: a language, then ``key="value"`` pairs;
* ``{ .python .compile-only title="..." }``: classes and pairs in braces.

The kind of a Python block (the rules the pages follow, see
``docs/contributing.md``):

* ``compile-only`` class: compiled, never run; it must have a ``title`` that
  tells the reader why (a TLS certificate, a server's password, ...);
* starts with ``>>>``: a doctest, run and its output compared;
* ``title`` ending in ``settings.py``, or top-level code assigning ``CACHES``:
  a Django settings fragment; its upper-case names become Django settings
  (``CACHES`` with every LOCATION pointed at a test server) for the blocks
  after it on the page;
* another ``title`` ending in ``.py``: a module, imported under that name
  (``myproject/serializers.py`` becomes ``myproject.serializers``), so that
  settings can name its classes by dotted path;
* anything else: run, in one namespace shared by the page's blocks in order.

Blocks in other languages (``sh``, ``text``, ``toml``...) are never run.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

PYTHON_LANGS = frozenset({"python", "py", "pycon"})

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
_PAIR = re.compile(r'([A-Za-z_][\w-]*)="([^"]*)"')


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    classes: tuple[str, ...]
    attrs: dict[str, str] = field(hash=False)
    source: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def title(self) -> str:
        return self.attrs.get("title", "")

    @property
    def kind(self) -> str:
        """``other``, ``compile``, ``doctest``, ``settings``, ``module`` or ``code``."""
        if self.lang not in PYTHON_LANGS:
            return "other"
        if "compile-only" in self.classes:
            return "compile"
        if self.source.lstrip().startswith(">>>"):
            return "doctest"
        if self.title.endswith("settings.py") or assigns_caches(self.source):
            return "settings"
        if self.title.endswith(".py"):
            return "module"
        return "code"

    @property
    def module_name(self) -> str:
        """The import name of a ``module`` block (``a/b.py`` -> ``a.b``)."""
        return self.title.removesuffix(".py").replace("/", ".")


def assigns_caches(source: str) -> bool:
    """Whether the top level of ``source`` assigns ``CACHES``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "CACHES" for t in targets):
            return True
    return False


def parse_info(info: str) -> tuple[str, tuple[str, ...], dict[str, str]]:
    """``(language, classes, attributes)`` of a fence's info string."""
    info = info.strip()
    if info.startswith("{") and info.endswith("}"):
        inner = info[1:-1]
        attrs = dict(_PAIR.findall(inner))
        words = _PAIR.sub(" ", inner).split()
        classes = [w[1:] for w in words if w.startswith(".")]
        lang = classes[0] if classes else ""
        return lang.lower(), tuple(classes[1:]), attrs
    word, _, rest = info.partition(" ")
    return word.lower(), (), dict(_PAIR.findall(rest))


def blocks_of(page: Path) -> list[Block]:
    """Every fenced block of ``page``, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, fence = match["indent"], match["fence"]
        lang, classes, attrs = parse_info(match["info"])
        body: list[str] = []
        j = i + 1
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                break
            # Content is indented like its fence (inside admonitions and tabs).
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        else:
            raise ValueError(f"{page}:{i + 1}: unclosed code fence")
        found.append(Block(page, i + 1, lang, classes, attrs, "\n".join(body) + "\n"))
        i = j + 1
    return found


def pages() -> list[Path]:
    """README.md and every Markdown page under docs/, in a stable order."""
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def counts() -> dict[str, int]:
    """How many Python blocks of each kind the pages hold (``other``: non-Python)."""
    tally: dict[str, int] = {}
    for page in pages():
        for block in blocks_of(page):
            tally[block.kind] = tally.get(block.kind, 0) + 1
    return tally


if __name__ == "__main__":
    tally = counts()
    run = sum(n for kind, n in tally.items() if kind in ("doctest", "settings", "module", "code"))
    compiled = tally.get("compile", 0)
    print(f"{len(pages())} pages; python blocks run: {run}, compile only: {compiled}")
    for kind in sorted(tally):
        print(f"  {kind}: {tally[kind]}")
