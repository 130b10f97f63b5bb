"""Shared fixtures: real throwaway servers, caches built as Django builds them,
and the choice of speedups implementation (compiled or pure) per test.

Fixtures (other test modules rely on these names and behaviours):

* ``valkey_server`` (session): a started ``tests.servers.ValkeyServer`` on
  127.0.0.1 and a free TCP port.
* ``valkey_unix_server`` (session): a server on a unix socket only (``--port 0``).
* ``speedups`` (function, params ``compiled``/``pure``): makes that
  implementation the active one for every cache built during the test.
* ``make_cache`` (function): ``make_cache(backend=..., location=None, **params)``
  builds a backend as Django does, on a freshly flushed server; every cache
  it made is closed at teardown.
* ``cache`` (function): ``make_cache()`` under both implementations.
* ``django_caches`` (function): ``settings.CACHES`` pointed at the test server
  ("default" on db 0, "other" on db 1) for code that goes through
  ``django.core.cache.caches`` (cache_page, sessions, template fragments).

Command-line switch ``--no-compiled``: deselects every test that would run the
compiled speedups (any parameter whose value is the string ``"compiled"``, as
the ``speedups`` fixture and fixtures parametrized over ``tests.impls.IMPLS``
have, and tests marked ``compiled_only``), for environments without a C
compiler.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches
from django.test import override_settings
from django.utils.module_loading import import_string

# Fixtures of the asyncio concurrency tests (modules may define their own).
from tests.asyncfixtures import amake_fixture, backend_fixture, own_server_fixture  # noqa: F401
from tests.impls import IMPLS, speedups_module
from tests.servers import ValkeyServer

DEFAULT_BACKEND = "django_valkey.cache.ValkeyCache"

# Run the cache tests through another parser / RESP version (CI does this
# with django_valkey.parsers.Parser under protocol 3):
#   DJANGO_VALKEY_TEST_PARSER=django_valkey.parsers.Parser DJANGO_VALKEY_TEST_PROTOCOL=3
TEST_PARSER = os.environ.get("DJANGO_VALKEY_TEST_PARSER", "")
TEST_PROTOCOL = os.environ.get("DJANGO_VALKEY_TEST_PROTOCOL", "")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-compiled",
        action="store_true",
        default=False,
        help="deselect the tests of the compiled speedups (no C compiler here)",
    )


def _runs_compiled(item: pytest.Item) -> bool:
    if item.get_closest_marker("compiled_only") is not None:
        return True
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return False
    return any(isinstance(value, str) and value == "compiled" for value in callspec.params.values())


# Fixtures that start or use a real server: tests using them are marked
# ``server`` automatically, so ``-m "not server"`` (wheel builds) skips them.
SERVER_FIXTURES = frozenset(
    {"valkey_server", "valkey_unix_server", "make_cache", "cache", "django_caches"}
)


# Tests of what Django 4.2 lacks (async sessions, async cache_page views,
# Signal.asend), by module: deselected there, collected on Django >= 5.0.
DJANGO_5_ONLY: dict[str, tuple[str, ...]] = {
    "test_sessions.py": ("test_async_",),
    "test_cache_middleware.py": ("test_cache_page_on_an_async_view",),
    "test_async_lifecycle.py": (
        "test_request_finished_asend",
        "test_close_async_caches_connected_by_hand",
    ),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import django

    if django.VERSION < (5, 0):
        too_new = [
            item for item in items if item.name.startswith(DJANGO_5_ONLY.get(item.path.name, ()))
        ]
        if too_new:
            config.hook.pytest_deselected(items=too_new)
            items[:] = [item for item in items if item not in too_new]
    if os.environ.get("DJANGO_VALKEY_NO_FASTPATH", "") not in ("", "0"):
        # The direct path is off: its own tests are deselected, not skipped.
        off = [item for item in items if item.get_closest_marker("fastpath") is not None]
        if off:
            config.hook.pytest_deselected(items=off)
            items[:] = [item for item in items if item not in off]
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)
    if not config.getoption("--no-compiled"):
        return
    kept, dropped = [], []
    for item in items:
        (dropped if _runs_compiled(item) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# Servers ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def valkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyServer]:
    """A real valkey-server on 127.0.0.1 and a free port, for the whole session."""
    server = ValkeyServer(name="valkey", workdir=tmp_path_factory.mktemp("valkey"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def valkey_unix_server() -> Iterator[ValkeyServer]:
    """A real valkey-server listening on a unix socket only (no TCP port)."""
    # A short directory of its own: unix socket paths are limited to ~107 bytes,
    # and pytest's basetemp can be longer than that.
    workdir = Path(tempfile.mkdtemp(prefix="valkey-unix-"))
    server = ValkeyServer(
        name="valkey-unix", port=0, unixsocket=workdir / "valkey.sock", workdir=workdir
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# Implementations -------------------------------------------------------------


@pytest.fixture(params=IMPLS, ids=IMPLS)
def speedups(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make ``request.param`` ("compiled" or "pure") the active implementation.

    Backends read ``django_valkey._speedups.KeyMaker``/``Codec``/``Reader``
    through the module when a cache is built, so patching the module's
    attributes switches every cache constructed during the test.  Run with
    ``--no-compiled`` to deselect the "compiled" half.
    """
    import django_valkey._speedups as active

    impl: str = request.param
    monkeypatch.setattr(active, "KeyMaker", speedups_module("keys", impl).KeyMaker)
    monkeypatch.setattr(active, "Codec", speedups_module("codec", impl).Codec)
    monkeypatch.setattr(active, "Reader", speedups_module("reader", impl).Reader)
    monkeypatch.setattr(active, "NearStore", speedups_module("nearcache", impl).NearStore)
    monkeypatch.setattr(active, "COMPILED", impl == "compiled")
    monkeypatch.setattr(active, "IMPLEMENTATION", impl)
    return impl


# Caches ----------------------------------------------------------------------


def _raw_clients(cache: Any) -> list[Any]:
    """The raw valkey-py clients a backend has already created (never creates one)."""
    client = vars(cache).get("_client") or vars(cache).get("client")
    if client is None:
        return []
    raws = [raw for raw in getattr(client, "_clients", None) or () if raw is not None]
    server_dict = getattr(client, "_server_dict", None) or {}
    raws.extend(raw for raw in server_dict.values() if raw is not None)
    return raws


def disconnect_pools(cache: Any) -> None:
    """Drop the sockets of a backend's sync pools, so none leaks into the next test.

    Async pools are left alone: their connections belong to an event loop
    that is closed by now; async tests close their caches inside the loop.
    """
    for raw in _raw_clients(cache):
        with contextlib.suppress(Exception):
            if hasattr(raw, "disconnect_connection_pools"):  # ValkeyCluster
                raw.disconnect_connection_pools()
                continue
            pool = getattr(raw, "connection_pool", None)
            disconnect = getattr(pool, "disconnect", None)
            if disconnect is not None and not inspect.iscoroutinefunction(disconnect):
                disconnect()


def close_cache(cache: Any) -> None:
    """``cache.close()`` as Django's request_finished handler does, then drop sockets."""
    try:
        result = cache.close()
        if inspect.isawaitable(result):
            # An async backend's close(): best effort in a loop of its own.
            try:
                asyncio.run(result)  # type: ignore[arg-type]
            except Exception:
                with contextlib.suppress(Exception):
                    result.close()  # type: ignore[union-attr]
    finally:
        disconnect_pools(cache)


def _close_all(made: list[Any]) -> None:
    # Close every cache even if one close() fails; the first failure is reported.
    errors = []
    for cache in reversed(made):
        try:
            close_cache(cache)
        except Exception as exc:
            errors.append(exc)
    made.clear()
    if errors:
        raise errors[0]


@pytest.fixture
def make_cache(valkey_server: ValkeyServer) -> Iterator[Callable[..., Any]]:
    """Factory of backends built as Django builds them, closed at teardown.

    ``make_cache(backend="django_valkey.cache.ValkeyCache", location=None,
    **params)``: ``location`` defaults to db 0 of ``valkey_server``;
    ``params`` are the other keys of a CACHES entry (``OPTIONS``,
    ``KEY_PREFIX``, ``TIMEOUT``, ``VERSION``, ``KEY_FUNCTION``...).  The
    server is flushed (all databases) once, before the test.
    """
    valkey_server.flushall()
    made: list[Any] = []

    def factory(backend: str = DEFAULT_BACKEND, location: Any = None, **params: Any) -> Any:
        if location is None:
            location = f"{valkey_server.url}/0"
            if TEST_PROTOCOL:
                location += f"?protocol={TEST_PROTOCOL}"
        if TEST_PARSER:
            options = dict(params.get("OPTIONS") or {})
            if "PARSER_CLASS" not in options and "PARSER_CLS" not in options:
                options["PARSER_CLASS"] = TEST_PARSER
            params = {**params, "OPTIONS": options}
        cache = import_string(backend)(location, params)
        made.append(cache)
        return cache

    yield factory
    _close_all(made)


@pytest.fixture
def cache(speedups: str, make_cache: Callable[..., Any]) -> Any:
    """A default ``ValkeyCache`` on db 0, once per speedups implementation."""
    return make_cache()


@pytest.fixture
def django_caches(valkey_server: ValkeyServer) -> Iterator[Any]:
    """``settings.CACHES`` on the test server: "default" = db 0, "other" = db 1.

    Returns ``django.core.cache.caches`` (rebuilt lazily from these settings);
    the caches are closed at teardown.  Request ``speedups`` as well to run a
    test under both implementations.
    """
    valkey_server.flushall()
    settings_caches = {
        "default": {"BACKEND": DEFAULT_BACKEND, "LOCATION": f"{valkey_server.url}/0"},
        "other": {"BACKEND": DEFAULT_BACKEND, "LOCATION": f"{valkey_server.url}/1"},
    }
    # override_settings fires setting_changed, whose Django handler closes the
    # current caches and makes `caches` rebuild them from the new CACHES.
    with override_settings(CACHES=settings_caches):
        try:
            yield caches
        finally:
            _close_all(caches.all(initialized_only=True))


# The async session API arrived in Django 5.0: on 4.2 that module is not collected.


def pytest_ignore_collect(collection_path: Any, config: pytest.Config) -> bool | None:
    import django

    if django.VERSION < (5, 0) and collection_path.name == "test_async_sessions.py":
        return True
    # Django's own cache tests are fetched (pip download) when their module is
    # imported: not in runs that leave server tests out (wheel builds).
    if collection_path.name == "test_django_own_suite.py" and "not server" in (
        config.getoption("markexpr", "") or ""
    ):
        return True
    return None
