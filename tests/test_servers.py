"""Tests of the test infrastructure itself: real servers start, answer, stop,
and leave nothing running; the fixtures give what their docstrings promise."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import valkey

from tests.servers import (
    ValkeyServer,
    ValkeyServerError,
    ValkeyServerNotFound,
    find_binary,
    free_port,
    running_servers,
)

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent


def port_accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def server(tmp_path: Path):
    """A private server for tests that stop, pause or kill it."""
    srv = ValkeyServer(name="private", workdir=tmp_path)
    yield srv
    srv.stop()


# Helpers ---------------------------------------------------------------------


def test_free_port_can_be_bound_on_loopback() -> None:
    port = free_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_missing_binary_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ValkeyServerNotFound, match=r"valkey-server.*bookworm-backports"):
        find_binary()
    with pytest.raises(ValkeyServerNotFound, match="valkey-server"):
        ValkeyServer(workdir=tmp_path).start()


def test_no_port_and_no_socket_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="unixsocket"):
        ValkeyServer(port=0, workdir=tmp_path)


# Lifecycle -------------------------------------------------------------------


def test_start_answers_ping_on_a_loopback_port_then_stop_leaves_nothing(server) -> None:
    server.start()
    assert server in running_servers()
    assert server.host == "127.0.0.1"
    assert server.url == f"valkey://127.0.0.1:{server.port}"
    with server.client() as conn:
        assert conn.ping() is True
        config = conn.config_get("*")
    assert config["bind"] == "127.0.0.1"
    assert config["save"] == ""
    assert config["appendonly"] == "no"
    assert Path(config["dir"]) == server.workdir.resolve()
    pid = server.pid

    server.stop()
    assert not server.running
    assert not pid_alive(pid)
    assert not port_accepts(server.port)
    assert server not in running_servers()
    server.stop()  # idempotent


def test_log_file_is_written_in_the_workdir(server) -> None:
    server.start()
    assert server.logfile.parent == server.workdir
    assert wait_until(lambda: "Ready to accept connections" in server.logfile.read_text())


def test_context_manager_starts_and_stops(tmp_path) -> None:
    with ValkeyServer(workdir=tmp_path) as srv:
        assert srv.ping()
        pid = srv.pid
    assert not pid_alive(pid)


def test_failed_start_reports_the_log_tail(tmp_path) -> None:
    srv = ValkeyServer(workdir=tmp_path, args=("--no-such-directive", "1"))
    with pytest.raises(ValkeyServerError, match="no-such-directive") as excinfo:
        srv.start()
    assert "exited with status" in str(excinfo.value)
    assert not srv.running
    assert srv not in running_servers()


def test_port_taken_by_someone_else_is_reported(tmp_path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        srv = ValkeyServer(port=port, workdir=tmp_path)
        with pytest.raises(ValkeyServerError, match="already in use"):
            srv.start()
    assert srv not in running_servers()


def test_restart_keeps_the_port_and_loses_the_data(server) -> None:
    server.start()
    port, pid = server.port, server.pid
    with server.client() as conn:
        conn.set("k", "v")
    server.restart()
    assert server.port == port
    assert server.pid != pid
    with server.client() as conn:
        assert conn.get("k") is None


def test_pause_freezes_and_resume_thaws(server) -> None:
    server.start()
    with server.client(socket_timeout=0.2) as conn:
        assert conn.ping()
        server.pause()
        with pytest.raises(valkey.exceptions.TimeoutError):
            conn.ping()
        server.resume()
    assert server.ping()


def test_stop_works_on_a_paused_server(server) -> None:
    server.start()
    pid = server.pid
    server.pause()
    server.stop(timeout=5)
    assert not pid_alive(pid)


def test_kill_ends_the_process_like_a_crash(server) -> None:
    server.start()
    pid = server.pid
    server.kill()
    assert not pid_alive(pid)
    assert not server.running
    assert server not in running_servers()
    with pytest.raises(ValkeyServerError, match="not running"):
        server.pause()


def test_kill_with_sigterm(server) -> None:
    server.start()
    server.kill(signal.SIGTERM)
    assert not server.running


def test_flushall_empties_every_database(server) -> None:
    server.start()
    for db in (0, 3):
        with server.client(db=db) as conn:
            conn.set("k", "v")
    server.flushall()
    for db in (0, 3):
        with server.client(db=db) as conn:
            assert conn.dbsize() == 0


def test_generic_args_reach_the_server_as_for_a_replica(tmp_path) -> None:
    # The shape later replica fixtures use: a second server with --replicaof.
    with ValkeyServer(name="primary", workdir=tmp_path / "p") as primary:
        args = ("--replicaof", primary.host, str(primary.port))
        replica = ValkeyServer(name="replica", workdir=tmp_path / "r", args=args)
        with replica, replica.client() as conn:
            assert conn.info("replication")["role"] == "slave"
            assert conn.config_get("replicaof")["replicaof"] == f"{primary.host} {primary.port}"


def test_config_text_is_written_and_passed_first(tmp_path) -> None:
    srv = ValkeyServer(workdir=tmp_path, config="maxmemory-policy allkeys-lru\n")
    with srv, srv.client() as conn:
        assert conn.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
    assert (tmp_path / "valkey.conf").read_text().startswith("maxmemory-policy")


# Safety nets -----------------------------------------------------------------


def _run_child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_atexit_stops_servers_a_process_forgot() -> None:
    child = _run_child(
        """
        from tests.servers import ValkeyServer
        server = ValkeyServer().start()
        print(server.pid, server.port, server.workdir, flush=True)
        """
    )
    assert child.returncode == 0, child.stderr
    pid, port, workdir = child.stdout.split()
    assert wait_until(lambda: not pid_alive(int(pid)))
    assert not port_accepts(int(port))
    assert not Path(workdir).exists()


def test_servers_die_with_a_killed_test_process(tmp_path: Path) -> None:
    # SIGKILL skips atexit; the server must still go (PR_SET_PDEATHSIG).
    child = _run_child(
        f"""
        import os, signal
        from tests.servers import ValkeyServer
        server = ValkeyServer(workdir={str(tmp_path)!r}).start()
        print(server.pid, server.port, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    assert child.returncode == -signal.SIGKILL
    pid, port = map(int, child.stdout.split())
    assert wait_until(lambda: not port_accepts(port))
    assert wait_until(lambda: not pid_alive(pid))


# Fixtures --------------------------------------------------------------------


def test_valkey_server_fixture(valkey_server: ValkeyServer) -> None:
    assert valkey_server.running
    assert valkey_server.host == "127.0.0.1"
    assert valkey_server.url == f"valkey://127.0.0.1:{valkey_server.port}"
    with valkey_server.client() as conn:
        assert conn.ping()


def test_valkey_unix_server_fixture(valkey_unix_server: ValkeyServer) -> None:
    srv = valkey_unix_server
    assert srv.running
    assert srv.port == 0
    assert srv.unix_url == f"unix://{srv.unixsocket}"
    assert os.path.exists(srv.unixsocket)
    with valkey.Valkey.from_url(srv.unix_url) as conn:
        assert conn.ping()
        assert conn.config_get("port")["port"] == "0"
    with pytest.raises(ValkeyServerError, match="no TCP port"):
        srv.url  # noqa: B018 - the property raises


def test_make_cache_flushes_every_database_first(
    valkey_server: ValkeyServer, request: pytest.FixtureRequest
) -> None:
    with valkey_server.client(db=5) as conn:
        conn.set("left-over", "1")
    request.getfixturevalue("make_cache")
    with valkey_server.client(db=5) as conn:
        assert conn.dbsize() == 0


def test_closing_a_made_cache_leaves_no_connection_open(
    valkey_server: ValkeyServer, make_cache
) -> None:
    import uuid

    from tests.conftest import close_cache

    # The session server and the process-wide pools are shared with other
    # tests: a client name of its own makes this cache's connections (and
    # its pool) its own.
    name = f"closing-{uuid.uuid4().hex[:12]}"
    cache = make_cache(OPTIONS={"CONNECTION_POOL_KWARGS": {"client_name": name}})
    cache.set("key", "value")
    cache.get_many(["key"])
    with valkey_server.client() as conn:

        def mine() -> list[str]:
            return [c["name"] for c in conn.client_list() if c["name"] == name]

        assert mine()
        close_cache(cache)
        assert mine() == []


def test_speedups_fixture_activates_the_chosen_implementation(speedups: str) -> None:
    import django_valkey._speedups as active
    from tests.impls import speedups_module

    assert speedups == active.IMPLEMENTATION
    assert active.COMPILED is (speedups == "compiled")
    assert active.KeyMaker is speedups_module("keys", speedups).KeyMaker
    assert active.Codec is speedups_module("codec", speedups).Codec
    assert active.Reader is speedups_module("reader", speedups).Reader


def test_no_compiled_switch_deselects_the_compiled_params() -> None:
    target = "tests/test_servers.py::test_speedups_fixture_activates_the_chosen_implementation"
    collected = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--collect-only",
            "-q",
            "--no-compiled",
            target,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"{target}[pure]" in collected.stdout, collected.stdout + collected.stderr
    assert "[compiled]" not in collected.stdout
    assert "1 deselected" in collected.stdout
