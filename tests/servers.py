"""Throwaway ``valkey-server`` processes for the tests, on loopback only.

``ValkeyServer`` starts one real server (TCP on 127.0.0.1, a unix socket, or
both), waits until it answers PING and stops it again; ``pause()``/``resume()``
and ``kill()`` are there for fault tests, ``config=`` and ``args=`` for the
replica, sentinel and cluster fixtures built on top of it.  Nothing here knows
about Django or about the package under test: the servers must behave the same
whatever the code under test does.

Every started server is registered so that it is stopped at interpreter exit
even if a fixture's teardown never ran, and (on Linux) it also dies with the
thread that started it when the test process is killed outright.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import valkey

__all__ = [
    "LOOPBACK",
    "ValkeyServer",
    "ValkeyServerError",
    "ValkeyServerNotFound",
    "find_binary",
    "free_port",
    "running_servers",
    "stop_all",
]

LOOPBACK = "127.0.0.1"
INSTALL_HINT = (
    "install the valkey-server package (Debian bookworm-backports: "
    "`apt-get install -t bookworm-backports valkey-server`), or put the binary on PATH"
)

# Servers that were started and not yet stopped, for the atexit safety net,
# and the work directories this module created (removed at exit).
_running: set[ValkeyServer] = set()
_running_lock = threading.Lock()
_owned_workdirs: list[Path] = []


def wait_replicated(primary: Any, timeout: float = 15.0) -> None:
    """Wait until every replica of ``primary`` acknowledged all it has written.

    (``WAIT`` from a new connection returns at once: it only waits for that
    connection's own writes, not for the ones the cache made.)  Replicas
    acknowledge about once a second, so this may take that long.
    """
    with primary.client(socket_timeout=5) as conn:
        target = int(conn.info("replication")["master_repl_offset"])
        deadline = time.monotonic() + timeout
        while True:
            info = conn.info("replication")
            replicas = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
            if replicas and all(int(replica["offset"]) >= target for replica in replicas):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"replicas of {primary!r} did not reach offset {target}: {info}")
            time.sleep(0.02)


class ValkeyServerError(RuntimeError):
    """A test server could not be started or stopped."""


class ValkeyServerNotFound(ValkeyServerError):
    """The ``valkey-server`` binary is not installed."""


def find_binary(name: str = "valkey-server") -> str:
    """Absolute path of ``name`` on PATH, or a clear error saying what to install."""
    path = shutil.which(name)
    if path is None:
        raise ValkeyServerNotFound(f"{name!r} was not found on PATH: {INSTALL_HINT}")
    return path


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def running_servers() -> list[ValkeyServer]:
    """The servers started by this process and not stopped yet."""
    with _running_lock:
        return list(_running)


def stop_all() -> None:
    """Stop every server this process started (the end-of-session safety net)."""
    for server in running_servers():
        with contextlib.suppress(Exception):
            server.stop()


def _at_exit() -> None:
    # Servers first: they write into their work directories until they stop.
    stop_all()
    for workdir in _owned_workdirs:
        shutil.rmtree(workdir, ignore_errors=True)


atexit.register(_at_exit)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL the child when the thread that spawned it ends.

    Covers what atexit cannot: the test process killed by SIGKILL or leaving
    through ``os._exit`` (pytest-timeout's thread method).
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(libc_name, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class ValkeyServer:
    """One ``valkey-server`` process for tests.

    ``port=None`` picks a free port, ``port=0`` disables TCP (then give a
    ``unixsocket``).  ``config`` is the text of a configuration file written to
    the work directory and passed first on the command line (sentinels need
    one); ``args`` are extra command-line options, e.g.
    ``("--replicaof", host, str(port))``.  The work directory holds the log,
    the server's stdout/stderr and any file the server writes.
    """

    host = LOOPBACK

    def __init__(
        self,
        *,
        port: int | None = None,
        unixsocket: str | os.PathLike[str] | None = None,
        args: Sequence[str] = (),
        name: str = "valkey",
        workdir: str | os.PathLike[str] | None = None,
        config: str | None = None,
        binary: str = "valkey-server",
        startup_timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._auto_port = port is None
        self.port: int = free_port() if port is None else port
        self.unixsocket: str | None = os.fspath(unixsocket) if unixsocket is not None else None
        if self.port == 0 and self.unixsocket is None:
            raise ValueError("a server without a TCP port needs a unixsocket")
        self.args = tuple(str(arg) for arg in args)
        self.config = config
        self.binary = binary
        self.startup_timeout = startup_timeout
        if workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
            _owned_workdirs.append(self.workdir)
        else:
            self.workdir = Path(workdir)
            self.workdir.mkdir(parents=True, exist_ok=True)
        self.logfile = self.workdir / f"{name}.log"
        self._outfile = self.workdir / f"{name}.out"
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        where = self.url if self.port else self.unix_url
        return f"<ValkeyServer {self.name} {where} pid={self.pid}>"

    # Addresses -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """``valkey://127.0.0.1:PORT`` (append ``/db`` for a cache LOCATION)."""
        if not self.port:
            raise ValkeyServerError(f"{self.name} has no TCP port")
        return f"valkey://{self.host}:{self.port}"

    @property
    def unix_url(self) -> str:
        """``unix:///path/to.sock`` (append ``?db=N`` for a cache LOCATION)."""
        if self.unixsocket is None:
            raise ValkeyServerError(f"{self.name} has no unix socket")
        return f"unix://{self.unixsocket}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # Lifecycle -----------------------------------------------------------------

    def command_line(self) -> list[str]:
        cmd = [find_binary(self.binary)]
        if self.config is not None:
            conf = self.workdir / f"{self.name}.conf"
            conf.write_text(self.config)
            cmd.append(str(conf))
        cmd += [
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self.workdir),
            "--logfile", str(self.logfile),
        ]  # fmt: skip
        if self.unixsocket is not None:
            cmd += ["--unixsocket", self.unixsocket, "--unixsocketperm", "700"]
        return cmd + list(self.args)

    def start(self) -> ValkeyServer:
        """Spawn the server and return once it answers PING."""
        if self.running:
            raise ValkeyServerError(f"{self!r} is already running")
        # Between free_port() and the server's bind another process may take
        # the port; a port we chose ourselves can simply be chosen again.
        for _attempt in range(3):
            try:
                self._spawn_and_wait()
                return self
            except ValkeyServerError as exc:
                if not (self._auto_port and "already in use" in str(exc)):
                    raise
                self.port = free_port()
        raise ValkeyServerError(f"{self.name}: no free port found after 3 attempts")

    def _spawn_and_wait(self) -> None:
        cmd = self.command_line()
        if self.unixsocket is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.unixsocket)
        with open(self._outfile, "ab") as out:
            self._process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                # Own session: a Ctrl-C meant for pytest must not kill the
                # servers before the fixtures' teardown stops them.
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        with _running_lock:
            _running.add(self)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                self._forget()
                raise ValkeyServerError(
                    f"{self.name} exited with status {self._process.returncode} "
                    f"during startup: {' '.join(cmd)}\n{self.log_tail()}"
                )
            if self.ping():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise ValkeyServerError(
                    f"{self.name} did not answer PING within {self.startup_timeout} s: "
                    f"{' '.join(cmd)}\n{self.log_tail()}"
                )
            time.sleep(0.01)

    def ping(self, timeout: float = 0.5) -> bool:
        """True if the server answers PING within ``timeout`` seconds."""
        try:
            with self.client(socket_timeout=timeout, socket_connect_timeout=timeout) as conn:
                return bool(conn.ping())
        except (valkey.exceptions.ConnectionError, valkey.exceptions.TimeoutError, OSError):
            return False
        except valkey.exceptions.ResponseError as exc:
            # LOADING, or a server that requires AUTH: it is up and answering.
            return "LOADING" not in str(exc)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL.  Idempotent."""
        process = self._process
        if process is None or process.poll() is not None:
            self._forget()
            return
        process.terminate()
        # A paused server only handles SIGTERM once it runs again.
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGCONT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._forget()

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 10.0) -> None:
        """Send ``sig`` and wait for the process to end (a crash, for fault tests)."""
        process = self._require_process()
        process.send_signal(sig)
        if sig != signal.SIGKILL:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGCONT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise ValkeyServerError(f"{self!r} survived signal {sig}") from exc
        finally:
            if process.poll() is not None:
                self._forget()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but nothing answers."""
        self._require_process().send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo ``pause()`` (SIGCONT)."""
        self._require_process().send_signal(signal.SIGCONT)

    def restart(self) -> ValkeyServer:
        """Stop and start again on the same port and socket (the data is gone)."""
        self.stop()
        self._auto_port = False
        return self.start()

    def _require_process(self) -> subprocess.Popen[bytes]:
        if not self.running:
            raise ValkeyServerError(f"{self!r} is not running")
        assert self._process is not None
        return self._process

    def _forget(self) -> None:
        with _running_lock:
            _running.discard(self)

    def __enter__(self) -> ValkeyServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Helpers -------------------------------------------------------------------

    def client(self, **kwargs: Any) -> valkey.Valkey:
        """A raw valkey-py client on this server (TCP if it has a port)."""
        if self.port:
            return valkey.Valkey(host=self.host, port=self.port, **kwargs)
        return valkey.Valkey(unix_socket_path=self.unixsocket, **kwargs)

    def flushall(self) -> None:
        """Empty every database of the server."""
        with self.client() as conn:
            conn.flushall()

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log and output, for error messages."""
        parts = []
        for path in (self._outfile, self.logfile):
            try:
                text = path.read_text(errors="replace").splitlines()
            except FileNotFoundError:
                continue
            if text:
                parts.append(f"--- {path.name} (last {lines} lines) ---")
                parts.extend(text[-lines:])
        return "\n".join(parts) if parts else "(the server wrote no log)"
