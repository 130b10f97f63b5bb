"""A primary, a replica and a sentinel, as real processes, for the tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.servers import ValkeyServer

SERVICE = "mymaster"


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.05, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what or predicate}")


class SentinelTopology:
    def __init__(self) -> None:
        self.primary = ValkeyServer(name="primary")
        self.replica: ValkeyServer | None = None
        self.sentinel: ValkeyServer | None = None

    def start(self) -> SentinelTopology:
        self.primary.start()
        self.replica = ValkeyServer(
            name="replica", args=("--replicaof", self.primary.host, str(self.primary.port))
        ).start()
        config = (
            f"sentinel monitor {SERVICE} {self.primary.host} {self.primary.port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 400\n"
            f"sentinel failover-timeout {SERVICE} 2000\n"
        )
        self.sentinel = ValkeyServer(name="sentinel", config=config, args=("--sentinel",)).start()
        replica = self.replica
        wait_until(
            lambda: replica.client().info("replication")["master_link_status"] == "up",
            what="the replica to sync",
        )
        sentinel = self.sentinel
        wait_until(
            lambda: len(sentinel.client().sentinel_slaves(SERVICE)) == 1,
            what="the sentinel to see the replica",
        )
        return self

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        assert self.sentinel is not None
        return [(self.sentinel.host, self.sentinel.port)]

    def stop(self) -> None:
        for server in (self.sentinel, self.replica, self.primary):
            if server is not None and server.running:
                server.stop()


@contextmanager
def sentinel_topology() -> Iterator[SentinelTopology]:
    topology = SentinelTopology()
    try:
        yield topology.start()
    finally:
        topology.stop()
