"""A real Valkey Cluster for the tests: six ``valkey-server`` processes on
loopback (three primaries, each with one replica), joined by
``valkey-cli --cluster create``.

``ClusterTopology.start()`` returns once every node reports
``cluster_state:ok`` with all 16384 slots assigned, every node knows every
other, and every replica is in sync with its primary; ``stop()`` ends every
process.  Helpers for the fault tests find the primary owning a slot, the
replica of a primary, and wait for a promotion.  Nothing here knows about
Django or the package under test.
"""

from __future__ import annotations

import atexit
import contextlib
import inspect
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import valkey
from django.utils.module_loading import import_string
from valkey.crc import key_slot

from tests.servers import LOOPBACK, ValkeyServer, find_binary, free_port

__all__ = [
    "ASYNC_BACKEND",
    "SYNC_BACKEND",
    "ClusterTopology",
    "cluster_fixture",
    "cluster_topology",
    "forget_cluster_clients",
    "make_cluster_cache_fixture",
    "shared_topology",
    "wait_until",
]

SYNC_BACKEND = "django_valkey.cluster_cache.cache.ClusterValkeyCache"
ASYNC_BACKEND = "django_valkey.cluster_cache.async_cache.AsyncClusterValkeyCache"

SLOTS = 16384


def wait_until(
    predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy (errors count as
    "not yet"); that value, or ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
        except Exception as exc:
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            raise TimeoutError(f"timed out waiting for {what or predicate}{detail}")
        time.sleep(interval)


class ClusterTopology:
    """``primaries`` primaries with ``replicas`` replicas each, on free loopback ports."""

    def __init__(
        self,
        primaries: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 1000,
        workdir: str | Path | None = None,
        name: str = "cluster",
    ) -> None:
        self.primary_count = primaries
        self.replica_count = replicas
        self.node_timeout_ms = node_timeout_ms
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"{name}-"))
        self.name = name
        self.nodes: list[ValkeyServer] = []
        self._admin: dict[int, valkey.Valkey] = {}

    # Lifecycle -----------------------------------------------------------------

    def _fresh_port(self) -> int:
        # The kernel may hand the same free port out twice in a row (it was
        # released at once): never reuse one this topology already chose.
        chosen = self.__dict__.setdefault("_chosen_ports", set())
        while True:
            port = free_port()
            if port not in chosen:
                chosen.add(port)
                return port

    def _server(self, index: int) -> ValkeyServer:
        port = self._fresh_port()
        name = f"{self.name}-{index}"
        return ValkeyServer(
            port=port,
            name=name,
            workdir=self.workdir / name,
            args=(
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf",
                "--cluster-node-timeout", str(self.node_timeout_ms),
                # The bus port defaults to port + 10000, which may be taken (or
                # past 65535): ask the kernel for one of its own.
                "--cluster-port", str(self._fresh_port()),
                # Replicas start syncing at once instead of after 5 s.
                "--repl-diskless-sync-delay", "0",
                # CLUSTER SLOTS leaves out a replica whose replication offset
                # is still 0, as on a fresh idle cluster until the primary's
                # first ping (10 s by default): ping every second instead.
                "--repl-ping-replica-period", "1",
            ),
        )  # fmt: skip

    def start(self, timeout: float = 30.0) -> ClusterTopology:
        total = self.primary_count * (1 + self.replica_count)
        try:
            for index in range(total):
                server = self._server(index)
                server.start()
                self.nodes.append(server)
            self._create(timeout)
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _create(self, timeout: float) -> None:
        command = [
            find_binary("valkey-cli"),
            "--cluster", "create",
            *[f"{node.host}:{node.port}" for node in self.nodes],
            "--cluster-replicas", str(self.replica_count),
            "--cluster-yes",
        ]  # fmt: skip
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0 or "[OK]" not in result.stdout:
            raise RuntimeError(
                f"valkey-cli --cluster create failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )

    def stop(self) -> None:
        for conn in self._admin.values():
            with contextlib.suppress(Exception):
                conn.close()
        self._admin.clear()
        for server in self.nodes:
            with contextlib.suppress(Exception):
                server.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ClusterTopology:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Addresses -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """A cache LOCATION: one running node is enough to discover the cluster."""
        return next(node for node in self.nodes if node.running).url

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes if node.running]

    def by_port(self, port: int) -> ValkeyServer:
        return next(node for node in self.nodes if node.port == int(port))

    # Inspection ----------------------------------------------------------------

    def running(self) -> list[ValkeyServer]:
        return [node for node in self.nodes if node.running]

    def role(self, server: ValkeyServer) -> str:
        with server.client(socket_timeout=2) as conn:
            return str(conn.info("replication")["role"])

    def primaries(self) -> list[ValkeyServer]:
        return [node for node in self.running() if self.role(node) == "master"]

    def replicas(self) -> list[ValkeyServer]:
        return [node for node in self.running() if self.role(node) == "slave"]

    def replica_of(self, primary: ValkeyServer) -> ValkeyServer:
        """A running replica of ``primary``."""
        for node in self.replicas():
            with node.client(socket_timeout=2) as conn:
                info = conn.info("replication")
            if int(info["master_port"]) == primary.port:
                return node
        raise LookupError(f"{primary!r} has no running replica")

    def owner(self, key_or_slot: str | bytes | int) -> ValkeyServer:
        """The primary serving a key (made key, as stored) or a slot number."""
        slot = key_or_slot if isinstance(key_or_slot, int) else self.slot(key_or_slot)
        node = self.running()[0]
        with node.client(socket_timeout=2) as conn:
            for start, end, primary, *_replicas in conn.execute_command("CLUSTER SLOTS"):
                if start <= slot <= end:
                    return self.by_port(primary[1])
        raise LookupError(f"slot {slot} is not served")

    @staticmethod
    def slot(key: str | bytes) -> int:
        return key_slot(key.encode() if isinstance(key, str) else key)

    @staticmethod
    def node_id(server: ValkeyServer) -> str:
        with server.client(socket_timeout=2) as conn:
            return str(conn.execute_command("CLUSTER MYID").decode())

    def _healthy(self) -> bool:
        running = self.running()
        for node in running:
            with node.client(socket_timeout=2) as conn:
                info = conn.cluster("INFO")
                if (
                    info.get("cluster_state") != "ok"
                    or int(info.get("cluster_slots_ok", 0)) != SLOTS
                    or int(info.get("cluster_known_nodes", 0)) < len(running)
                ):
                    return False
                # What a cluster client discovers (CLUSTER SLOTS) must be every
                # running node, replicas included: tests count them.
                listed = {
                    int(entry[1])
                    for slot_range in conn.execute_command("CLUSTER SLOTS")
                    for entry in slot_range[2:]
                }
                if listed != {other.port for other in running}:
                    return False
                replication = conn.info("replication")
                if replication["role"] == "slave" and (
                    replication.get("master_link_status") != "up"
                    or replication.get("master_sync_in_progress")
                ):
                    return False
        return True

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Every running node serves all slots, every replica is in sync, and
        every node lists every running node in CLUSTER SLOTS."""
        wait_until(self._healthy, timeout=timeout, interval=0.1, what="a healthy cluster")

    def admin(self, server: ValkeyServer) -> valkey.Valkey:
        """A kept-open plain client on ``server`` (for the helpers here)."""
        conn = self._admin.get(server.port)
        if conn is None:
            conn = self._admin[server.port] = server.client(socket_timeout=5)
        return conn

    def flushall(self) -> None:
        """Empty every primary (replicas follow): one round trip per node."""
        for node in self.running():
            try:
                self.admin(node).flushall()
            except valkey.exceptions.ReadOnlyError:
                pass  # a replica
            except valkey.exceptions.ConnectionError:
                self._admin.pop(node.port, None)
                node.client().flushall()

    def dbsize(self) -> int:
        total = 0
        for node in self.primaries():
            with node.client() as conn:
                total += int(conn.dbsize())
        return total

    def calls(self, command: str) -> int:
        """How many times ``command`` ran on the primaries since the last reset."""
        return sum(self.calls_on(node, command) for node in self.primaries())

    def calls_on(self, server: ValkeyServer, command: str) -> int:
        """How many times ``command`` ran on ``server`` since the last reset."""
        stats: Any = self.admin(server).info("commandstats")
        return int(stats.get(f"cmdstat_{command.lower()}", {}).get("calls", 0))

    def reset_stats(self) -> None:
        for node in self.running():
            with node.client() as conn:
                conn.config_resetstat()

    def client(self, **kwargs: Any) -> valkey.ValkeyCluster:
        """valkey-py's own cluster client, to look at what the cache stored."""
        node = self.running()[0]
        return valkey.ValkeyCluster(host=LOOPBACK, port=node.port, **kwargs)


@contextlib.contextmanager
def cluster_topology(**kwargs: Any) -> Iterator[ClusterTopology]:
    topology = ClusterTopology(**kwargs)
    topology.start()
    try:
        yield topology
    finally:
        topology.stop()


# One cluster for every test module that asks for it --------------------------

_shared: ClusterTopology | None = None


def shared_topology() -> ClusterTopology:
    """The session's cluster, started on first use and stopped at exit.

    Test modules import the ``cluster`` fixture (``cluster_fixture``) from here; a module-level
    singleton (rather than one fixture instance per importing module) makes
    them all share one set of six servers.
    """
    global _shared
    if _shared is None:
        topology = ClusterTopology(name="cluster-shared")
        topology.start()
        atexit.register(topology.stop)
        _shared = topology
    return _shared


def forget_cluster_clients() -> None:
    """Drop the process-wide cluster clients, as if the process had just started.

    A cluster client outlives its cache (it is shared); tests that stop a
    cluster forget its clients so that a later server reusing a port is not
    mistaken for it.
    """
    from django_valkey.cluster_cache.pool import ClusterConnectionFactory

    ClusterConnectionFactory.forget_all()


@pytest.fixture(scope="session", name="cluster")
def cluster_fixture() -> ClusterTopology:
    """The shared six-node cluster (three primaries with a replica each)."""
    return shared_topology()


@pytest.fixture(name="make_cluster_cache")
def make_cluster_cache_fixture(cluster: ClusterTopology) -> Iterator[Callable[..., Any]]:
    """Factory of cluster backends built as Django builds them, on an emptied cluster.

    ``make_cluster_cache(backend=SYNC_BACKEND, location=None, **params)``;
    sync caches are closed at teardown (async ones by their tests, inside
    their event loop).
    """
    cluster.flushall()
    made: list[Any] = []

    def factory(backend: str = SYNC_BACKEND, location: Any = None, **params: Any) -> Any:
        cache = import_string(backend)(location or cluster.url, params)
        made.append(cache)
        return cache

    yield factory
    for cache in made:
        if not getattr(cache, "is_async", False):
            result = cache.close()
            assert not inspect.isawaitable(result)
