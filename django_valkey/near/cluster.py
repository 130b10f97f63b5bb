"""The near cache on a Valkey Cluster.

Tracking is node-local, so every node (primaries, and replicas since reads
may be spread over them) gets its own invalidation channel.  A slot move or
a failover changes which node answers for a key; a watcher thread asks the
cluster for its slot map (``CLUSTER SLOTS``) every heartbeat and, on any
change (or when no node answers), empties the store, stops serving and
rebuilds the channels for the nodes now in the map.  While a slot is being
migrated the map does not change, and needs not: ``MIGRATE`` deletes each
moved key on the source (whose channel reports it), and the target, which
answers for it from then on, has a channel of its own.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import valkey

from django_valkey.near import NearCache
from django_valkey.near.channel import Channel

logger = logging.getLogger("django_valkey.near")

Signature = tuple[tuple[int, int, tuple[tuple[str, int], ...]], ...]


def slot_map(url: str, kwargs: dict[str, Any]) -> Signature:
    """``CLUSTER SLOTS`` of the node at ``url``: (start, end, nodes) sorted."""
    conn_kwargs = {k: v for k, v in kwargs.items() if k != "protocol"}
    with valkey.Valkey.from_url(url, **conn_kwargs) as node:
        reply = node.execute_command("CLUSTER SLOTS")
    ranges = []
    if isinstance(reply, dict):  # valkey-py's parsed form
        items = [(a, b, info["primary"], *info["replicas"]) for (a, b), info in reply.items()]
    else:
        items = reply
    for item in items:
        start, end, *nodes = item
        addresses = tuple(
            (n[0].decode() if isinstance(n[0], bytes) else str(n[0]), int(n[1])) for n in nodes
        )
        ranges.append((int(start), int(end), addresses))
    return tuple(sorted(ranges))


class ClusterNearCache(NearCache):
    """A :class:`NearCache` whose channels follow the cluster's slot map."""

    def __init__(
        self, urls: list[str], kwargs: list[dict[str, Any]], prefix: str, options: dict[str, Any]
    ) -> None:
        super().__init__([], [], prefix, options)
        self._urls = urls
        from valkey.connection import parse_url

        # The startup URL's own settings (credentials, TLS) apply to every node.
        from_url = {
            k: v for k, v in parse_url(urls[0]).items() if k not in ("host", "port", "path", "db")
        }
        self._kwargs = {**(kwargs[0] if kwargs else {}), **from_url}
        self._signature: Signature | None = None
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()
        self._rebuild_lock = threading.Lock()

    def _discover(self) -> Signature:
        errors = []
        for url in self._urls:
            try:
                return slot_map(url, self._kwargs)
            except Exception as exc:  # try the next startup node
                errors.append(exc)
        # Also ask the nodes we know (startup nodes may be gone).
        for channel in list(self.channels):
            try:
                return slot_map(channel.url, self._kwargs)
            except Exception as exc:  # a node we knew
                errors.append(exc)
        raise ConnectionError(f"no cluster node answered CLUSTER SLOTS: {errors}")

    def _rebuild(self, signature: Signature | None) -> None:
        with self._rebuild_lock:
            old, self.channels = self.channels, []
            with self._lock:
                self.store.set_active(False)
            for channel in old:
                channel.stop()
            self._signature = signature
            if signature is None:
                return
            scheme = (
                "rediss" if self._urls[0].lower().startswith(("rediss", "valkeys")) else "redis"
            )
            nodes = sorted({address for _, _, addresses in signature for address in addresses})
            self.channels = [
                Channel(
                    f"{scheme}://{host}:{port}",
                    self._channel_kwargs(),
                    self.prefix,
                    self._on_state,
                    self._on_keys,
                    self.options["HEARTBEAT"],
                )
                for host, port in nodes
            ]
            for channel in self.channels:
                channel.ensure_running()

    def _channel_kwargs(self) -> dict[str, Any]:
        return dict(self._kwargs)

    def ensure(self) -> None:
        watcher = self._watcher
        if watcher is None or not watcher.is_alive():
            with self._rebuild_lock:
                watcher = self._watcher
                if watcher is None or not watcher.is_alive():
                    self._stopping.clear()
                    self._watcher = threading.Thread(
                        target=self._watch, name="django-valkey-near cluster", daemon=True
                    )
                    self._watcher.start()
        super().ensure()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            try:
                signature = self._discover()
            except Exception as exc:  # the cluster is unreachable
                logger.warning("near cache: cluster slot map unavailable: %s", exc)
                signature = None
            if signature != self._signature or signature is None:
                self._rebuild(signature)
            self._stopping.wait(self.options["HEARTBEAT"])

    def _on_state(self, channel: Channel, up: bool) -> None:
        with self._lock:
            channels = self.channels
            if channel not in channels:
                return  # a channel of a previous slot map, being stopped
            self.store.set_active(all(c.up for c in channels))

    def stop(self) -> None:
        self._stopping.set()
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(5)
        self._rebuild(None)

    def after_fork(self) -> None:
        super().after_fork()
        self._watcher = None
        self._signature = None
        self._stopping = threading.Event()
        self._rebuild_lock = threading.Lock()
