"""Every Python example of the documentation (docs/**/*.md and README.md) runs.

One test per page: its blocks run in order (see ``tests/docs_blocks.py`` for
the kinds of block), settings blocks with every LOCATION pointed at a real
server started by the fixtures: the session's server for ``valkey://`` and
``redis://`` URLs, the unix-socket server for ``unix://``, a primary, a
replica and a sentinel for Sentinel settings, the shared six-node cluster for
the cluster backends.  A page's examples pass only if each block runs
without an error; the examples state their results with ``assert``.
"""

from __future__ import annotations

import contextlib
import doctest
import sys
import types
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.cache import caches
from django.test import override_settings

from tests.conftest import _close_all
from tests.docs_blocks import DOCS, PYTHON_LANGS, ROOT, Block, blocks_of, counts, pages
from tests.sentinels import SERVICE, sentinel_topology

pytestmark = pytest.mark.server


class Servers:
    """The servers a page's settings need, started (or fetched) on first use."""

    def __init__(self, request: pytest.FixtureRequest, stack: contextlib.ExitStack) -> None:
        self._request = request
        self._stack = stack
        self.users: set[tuple[str, str]] = set()

    @cached_property
    def tcp(self) -> Any:
        server = self._request.getfixturevalue("valkey_server")
        server.flushall()
        return server

    @cached_property
    def unix(self) -> Any:
        server = self._request.getfixturevalue("valkey_unix_server")
        server.flushall()
        return server

    @cached_property
    def sentinel(self) -> Any:
        return self._stack.enter_context(sentinel_topology())

    @cached_property
    def cluster(self) -> Any:
        from tests.cluster import shared_topology

        topology = shared_topology()
        topology.flushall()
        return topology

    def add_user(self, username: str, password: str) -> None:
        """An ACL user on the TCP server, for URLs that carry credentials."""
        if (username, password) in self.users:
            return
        with self.tcp.client() as conn:
            conn.acl_setuser(
                username,
                enabled=True,
                passwords=[f"+{password}"],
                keys=["*"],
                channels=["*"],
                commands=["+@all"],
                reset=True,
            )
        self.users.add((username, password))
        self._stack.callback(self._drop_user, username)

    def _drop_user(self, username: str) -> None:
        with self.tcp.client() as conn:
            conn.acl_deluser(username)


def rewrite_url(url: str, servers: Servers) -> str:
    """``url`` pointed at a test server: same scheme, credentials, db and query."""
    parts = urlsplit(url.strip())
    if parts.scheme == "unix":
        return urlunsplit(("unix", "", servers.unix.unixsocket, parts.query, ""))
    if parts.scheme not in ("valkey", "redis"):
        raise AssertionError(
            f"LOCATION {url!r}: no test server for {parts.scheme}://; "
            "mark the block compile-only and say why in its title"
        )
    auth = ""
    if parts.username:
        password = parts.password or ""
        servers.add_user(parts.username, password)
        auth = f"{parts.username}:{password}@"
    netloc = f"{auth}{servers.tcp.host}:{servers.tcp.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def rewrite_entry(entry: dict[str, Any], servers: Servers) -> dict[str, Any]:
    """One CACHES entry with its LOCATION (and SENTINELS) on the test servers."""
    entry = dict(entry)
    options = dict(entry.get("OPTIONS") or {})
    location = entry.get("LOCATION")
    if "cluster_cache" in entry.get("BACKEND", ""):
        # Any node will do: the cluster is discovered from it.
        urls = servers.cluster.urls
        entry["LOCATION"] = urls[: len(location)] if isinstance(location, list) else urls[0]
        return entry
    if "SENTINELS" in options:
        # The service name is the URL's host: it must be the one the test
        # sentinel monitors; the sentinels themselves are the test ones.
        assert urlsplit(location).hostname == SERVICE, f"the service must be {SERVICE!r}"
        options["SENTINELS"] = servers.sentinel.sentinels
        entry["OPTIONS"] = options
        return entry
    if entry.get("BACKEND", "").startswith("django.core.cache.backends."):
        # Django's own backends (locmem, database...) stay as written, except
        # its Redis backend, which would reach a server the tests did not start.
        assert "redis" not in entry["BACKEND"], "Django's RedisCache: no test server for it"
        return entry
    assert location, f"a cache without LOCATION: {entry}"
    if isinstance(location, str):
        urls = [rewrite_url(u, servers) for u in location.split(",")]
        entry["LOCATION"] = ",".join(urls)
    else:
        entry["LOCATION"] = [rewrite_url(u, servers) for u in location]
    return entry


def run_doctest(block: Block, namespace: dict[str, Any]) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(block.source, namespace, block.where, str(block.page), block.line)
    out: list[str] = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test, out=out.append)
    assert runner.failures == 0, "".join(out)


@contextlib.contextmanager
def module_namespace(name: str) -> Iterator[types.ModuleType]:
    """A fresh module importable as ``name`` (parents made as needed), then forgotten."""
    parts = name.split(".")
    added: list[str] = []
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        if parent not in sys.modules:
            package = types.ModuleType(parent)
            package.__path__ = []
            sys.modules[parent] = package
            added.append(parent)
    module = types.ModuleType(name)
    sys.modules[name] = module
    added.append(name)
    if len(parts) > 1:
        setattr(sys.modules[".".join(parts[:-1])], parts[-1], module)
    try:
        yield module
    finally:
        for added_name in reversed(added):
            sys.modules.pop(added_name, None)


def run_page(page: Path, servers: Servers, stack: contextlib.ExitStack) -> int:
    """Run (or compile) every Python block of ``page``; the number of blocks run."""
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    ran = 0
    for block in blocks_of(page):
        if block.kind == "other":
            continue
        # Compiled as the page itself, padded so that tracebacks show the
        # page's own lines.
        padded = "\n" * block.line + block.source
        code = compile(padded, str(block.page), "exec") if block.kind != "doctest" else None
        if block.kind == "compile":
            assert block.title, f"{block.where}: a compile-only block's title must say why"
            continue
        try:
            if block.kind == "doctest":
                run_doctest(block, namespace)
            elif block.kind == "settings":
                values: dict[str, Any] = {}
                exec(code, values)
                overrides = {k: v for k, v in values.items() if k.isupper()}
                if "CACHES" in overrides:
                    overrides["CACHES"] = {
                        alias: rewrite_entry(entry, servers)
                        for alias, entry in overrides["CACHES"].items()
                    }
                # Django forgets (without closing) the caches of the settings it
                # replaces: close them first, or their pooled connections stay open.
                _close_all(caches.all(initialized_only=True))
                stack.enter_context(override_settings(**overrides))
                # Closed before the settings are restored (the stack unwinds backwards).
                stack.callback(lambda: _close_all(caches.all(initialized_only=True)))
            elif block.kind == "module":
                module = stack.enter_context(module_namespace(block.module_name))
                exec(code, module.__dict__)
            else:
                exec(code, namespace)
        except Exception as exc:
            raise AssertionError(f"the example at {block.where} failed: {exc!r}") from exc
        ran += 1
    return ran


def _page_params() -> list[Any]:
    return [pytest.param(page, id=str(page.relative_to(ROOT))) for page in pages()]


# The pages show the default configuration (the Async page counts the one
# pipelined connection), so they run with the direct path on.
@pytest.mark.fastpath
@pytest.mark.parametrize("page", _page_params())
def test_page_examples_run(page: Path, request: pytest.FixtureRequest) -> None:
    with contextlib.ExitStack() as stack:
        # A page's near caches keep invalidation channels (threads, connections)
        # open on the session server: stopped last, after the caches are closed.
        from django_valkey import near

        stack.callback(near.shutdown_all)
        servers = Servers(request, stack)
        run_page(page, servers, stack)


def test_pages_have_runnable_examples() -> None:
    """The site is there and most of its Python examples run (not just compile)."""
    names = {p.relative_to(ROOT).as_posix() for p in pages()}
    for expected in (
        "docs/index.md",
        "docs/install.md",
        "docs/quickstart.md",
        "docs/configuration.md",
        "docs/topologies.md",
        "docs/cluster.md",
        "docs/async.md",
        "docs/near-cache.md",
        "docs/operations.md",
        "docs/customizing.md",
        "docs/migrating.md",
        "docs/performance.md",
        "docs/reliability.md",
        "docs/changelog.md",
    ):
        assert expected in names
    tally = counts()
    ran = sum(tally.get(kind, 0) for kind in ("doctest", "settings", "module", "code"))
    assert ran >= 40, tally
    assert tally.get("compile", 0) < ran / 4, tally


def test_every_fence_names_its_language() -> None:
    """An unlabelled fence would escape both the highlighter and these tests."""
    known = PYTHON_LANGS | {"sh", "console", "text", "toml", "ini", "yaml", "json", "mermaid"}
    for page in sorted(DOCS.rglob("*.md")):  # the README is the lead's to rework
        for block in blocks_of(page):
            assert block.lang in known, f"{block.where}: fence language {block.lang!r}"
