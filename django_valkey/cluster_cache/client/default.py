"""The cluster clients: every cache command, routed over a Valkey Cluster.

``DefaultClusterClient`` (sync) and ``AsyncDefaultClusterClient`` run the
same command definitions as every client, plus the cluster's own
(``cluster_cache/operations.py``).  Their ``_get_client()`` returns a router
(``cluster_cache/router.py``) that sends each command to the nodes serving
its keys; ``get_client()`` returns the raw valkey-py cluster client, shared
by every cache with the same settings in the process (per event loop for
async).  Every LOCATION URL is a startup node of that one cluster client.
"""

from __future__ import annotations

import inspect
from typing import Any

from valkey.asyncio.cluster import ValkeyCluster as AsyncValkeyCluster
from valkey.cluster import ValkeyCluster

from django_valkey.base_client import AsyncClientCommands, BaseClient, ClientCommands
from django_valkey.cluster_cache.router import AsyncClusterRouter, ClusterRouter
from django_valkey.generated.cluster_client import AsyncClusterAPI, ClusterAPI

__all__ = ["AsyncDefaultClusterClient", "DefaultClusterClient"]


# The cluster's keys() and mset() take other arguments (target nodes, atomicity).
class DefaultClusterClient(  # type: ignore[misc]
    ClusterAPI, ClientCommands[ValkeyCluster], BaseClient[ValkeyCluster]
):
    """Sync cluster client: multi-key commands split per hash slot, one
    pipeline per node; keyspace commands over every primary."""

    CONNECTION_FACTORY_PATH = "django_valkey.cluster_cache.pool.ClusterConnectionFactory"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._router = ClusterRouter(self)

    def _get_client(
        self, write: bool = True, tried: list[int] | None = None, client: Any = None, **kwargs: Any
    ) -> Any:
        return self._router if client is None else client

    def get_client(self, write: bool = True, tried: list[int] | None = None, **kwargs: Any) -> Any:
        """The shared ``valkey.cluster.ValkeyCluster`` (built on first use)."""
        cluster = self._clients[0]
        if cluster is None:
            cluster = self._clients[0] = self.connect()
        return cluster

    def get_client_with_index(
        self, write: bool = True, tried: list[int] | None = None
    ) -> tuple[Any, int]:
        return self.get_client(write, tried), 0

    def connect(self, index: int = 0) -> Any:
        """The cluster client, with every LOCATION URL as a startup node."""
        return self.connection_factory.connect(self._server)

    def disconnect(self, index: int = 0, client: Any = None) -> None:
        """Close the idle connections of every node."""
        client = client if client is not None else self._clients[0]
        if client is not None:
            self.connection_factory.disconnect(client)

    def _close(self) -> None:
        self.disconnect()
        self._clients = [None] * len(self._clients)


class AsyncDefaultClusterClient(  # type: ignore[misc]
    AsyncClusterAPI, AsyncClientCommands[AsyncValkeyCluster], BaseClient[AsyncValkeyCluster]
):
    """Async cluster client: the same routing, each batch sent to the nodes
    concurrently.  Each event loop has its own cluster client (shared by the
    caches with the same settings in that loop)."""

    CONNECTION_FACTORY_PATH = "django_valkey.cluster_cache.pool.AsyncClusterConnectionFactory"

    @classmethod
    def twin_of(cls, client: DefaultClusterClient) -> AsyncDefaultClusterClient:
        """The asyncio twin of a sync cluster client (the sync backend's ``a*``
        methods): same servers and settings, on the async connection factory."""
        from django_valkey.cluster_cache.pool import AsyncClusterConnectionFactory

        twin = cls(client._server, client._params, client._backend)
        if not inspect.iscoroutinefunction(twin.connection_factory.connect):
            twin.connection_factory = AsyncClusterConnectionFactory(twin._options)
        return twin

    @property
    def _router(self) -> AsyncClusterRouter:
        # Made on first use: a copy of a sync client's attributes (an "async
        # twin") must not inherit the sync router.
        router = self.__dict__.get("_async_router")
        if router is None:
            router = self.__dict__["_async_router"] = AsyncClusterRouter(self)
        return router

    async def _get_client(
        self, write: bool = True, tried: list[int] | None = None, client: Any = None, **kwargs: Any
    ) -> Any:
        return self._router if client is None else client

    def get_cluster(self) -> Any:
        """The running loop's shared cluster client, maybe not initialised (no I/O)."""
        clients = self._loop_clients()
        cluster = clients[0]
        if cluster is None:
            cluster = clients[0] = self.connection_factory.cluster_for(self._server)
        return cluster

    async def get_client(
        self, write: bool = True, tried: list[int] | None = None, **kwargs: Any
    ) -> Any:
        """The running loop's shared ``valkey.asyncio.cluster.ValkeyCluster``, initialised."""
        return await self.get_cluster().initialize()

    async def get_client_with_index(
        self, write: bool = True, tried: list[int] | None = None
    ) -> tuple[Any, int]:
        return await self.get_client(write, tried), 0

    async def connect(self, index: int = 0) -> Any:
        return await self.get_client()

    async def disconnect(self, index: int = 0, client: Any = None) -> None:
        """Close every node's connections (they reconnect on next use)."""
        if client is None:
            client = self._clients[0]
        if client is not None:
            await self.connection_factory.disconnect(client)
