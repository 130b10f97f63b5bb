"""Routers: valkey-py-client look-alikes that run commands over a Valkey Cluster.

The cluster clients run the same command definitions as every client
(``django_valkey.operations``); what changes is where bytes go.  Their
``_get_client()`` hands the driver a router.  :func:`routing.route` says
where each command goes; the router sends it there:

* a command for one slot goes straight to the node serving it;
* a command split per slot (``get_many`` and friends) travels as one
  pipeline per node, packed and read in bulk (``wire.py``); the sync router
  writes to every node before reading any, the async one runs the nodes
  concurrently;
* ``SCAN`` walks every primary with one composite cursor, ``KEYS`` and
  ``FLUSHDB`` run on every primary.

Routing uses valkey-py's own slot table.  Anything unusual (``MOVED`` and
``ASK`` during a slot migration, ``TRYAGAIN``, ``CLUSTERDOWN``, a dropped
connection during a failover) is handed, command by command, to valkey-py's
``execute_command``, which follows redirections and refreshes the topology:
the fast path stays short and the careful path is valkey-py's.  Errors that
mean "the cluster cannot serve this now" are raised as
``valkey.exceptions.ConnectionError`` so that ``IGNORE_EXCEPTIONS`` applies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from valkey.client import NEVER_DECODE
from valkey.commands import READ_COMMANDS
from valkey.exceptions import ConnectionError, ResponseError, TimeoutError, ValkeyError

from django_valkey.cluster_cache import wire
from django_valkey.cluster_cache.routing import (
    ANY,
    EVERY,
    MOVE,
    ONE,
    RECOVERABLE,
    SPLIT,
    Batch,
    async_translated,
    fail,
    first_error,
    merge_every,
    mset_batch,
    pipeline_slots,
    route,
    scan_args,
    scan_cursor,
    slot_of,
    store,
    translated,
)

__all__ = [
    "AsyncClusterRouter",
    "AsyncClusterRouterPipeline",
    "ClusterRouter",
    "ClusterRouterPipeline",
]

PRIMARIES = "primaries"
# A node that could not be reached: once valkey-py's own retries gave up on
# one command, the batch's other commands lost the same way are not retried.
_LOST = (ConnectionError, TimeoutError)


def _node(cluster: Any, slot: int, name: Any) -> Any:
    return cluster.nodes_manager.get_node_from_slot(
        slot, cluster.read_from_replicas and name in READ_COMMANDS
    )


def _by_node(cluster: Any, batch: Batch) -> list[tuple[Any, list[int]]]:
    """``[(node, [positions in the batch]), ...]``."""
    slots, commands = batch
    by_node: dict[str, tuple[Any, list[int]]] = {}
    # The first lookup applies a pending MOVED to the slot table; then, unless
    # reads are spread over replicas, the table gives each slot's primary.
    _node(cluster, slots[0], commands[0][0])
    table = None if cluster.read_from_replicas else cluster.nodes_manager.slots_cache
    for index, slot in enumerate(slots):
        nodes = table.get(slot) if table is not None else None
        node = nodes[0] if nodes else _node(cluster, slot, commands[index][0])
        entry = by_node.get(node.name)
        if entry is None:
            by_node[node.name] = (node, [index])
        else:
            entry[1].append(index)
    return list(by_node.values())


def _invalidate(cluster: Any, key: Any) -> None:
    # Client-side caching (protocol 3 with cache_enabled): drop one key or all.
    if key is None:
        cluster.flush_cache()
    else:
        cluster.invalidate_key_from_cache(key)


class ClusterRouter:
    """Routes commands over the client's sync ``ValkeyCluster``."""

    # Not one pool: connections belong to the cluster's nodes.
    connection_pool = None

    def __init__(self, client: Any) -> None:
        self._client = client

    def _cluster(self) -> Any:
        return self._client.get_client()

    def keyslot(self, key: Any) -> int:
        """The hash slot of ``key`` (no I/O)."""
        return slot_of(key)

    @translated
    def execute_command(self, *args: Any, **options: Any) -> Any:
        kind, data = route(args)
        if kind == ONE:
            return self._on_slot(data, args, options)
        if kind == SPLIT:
            batch, merge = data
            return merge(self._send(batch, options))
        cluster = self._cluster()
        if kind == EVERY:
            options.setdefault("target_nodes", PRIMARIES)
            return merge_every(data, cluster.execute_command(*args, **options))
        if kind == MOVE:
            return self._move(args[1], args[2])
        assert kind == ANY
        return cluster.execute_command(*args, **options)

    def _on_slot(self, slot: int, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        cluster = self._cluster()
        try:
            node = _node(cluster, slot, args[0])
            raw = node.valkey_connection or cluster.get_valkey_connection(node)
            return raw.execute_command(*args, **options)
        except RECOVERABLE:
            return cluster.execute_command(*args, **options)

    def _send(self, batch: Batch, options: dict[str, Any] | None = None) -> list[Any]:
        """Run a batch: one pipeline per node, every node written to before
        any is read; each command's place holds its reply or its exception."""
        options = options or {}
        cluster = self._cluster()
        commands = batch[1]
        replies: list[Any] = [None] * len(commands)
        errors = False
        sent = []
        for node, indexes in _by_node(cluster, batch):
            raw = node.valkey_connection or cluster.get_valkey_connection(node)
            pool = raw.connection_pool
            mine = [commands[i] for i in indexes]
            try:
                conn = pool.get_connection(mine[0][0])
            except (ConnectionError, TimeoutError) as exc:
                fail(replies, indexes, exc)
                errors = True
                continue
            bulk = not options and wire.eligible(conn)
            try:
                conn.send_packed_command([wire.pack(mine)] if bulk else conn.pack_commands(mine))
            except (ConnectionError, TimeoutError) as exc:
                pool.release(conn)
                fail(replies, indexes, exc)
                errors = True
                continue
            except BaseException:
                conn.disconnect()
                pool.release(conn)
                raise
            sent.append((raw, pool, conn, indexes, bulk))

        for raw, pool, conn, indexes, bulk in sent:
            try:
                if bulk:
                    values = wire.read_replies(conn, len(indexes))
                    errors |= store(replies, indexes, values, commands, raw.response_callbacks)
                else:
                    for index in indexes:
                        try:
                            replies[index] = raw.parse_response(conn, commands[index][0], **options)
                        except ResponseError as exc:
                            replies[index] = exc
                            errors = True
            except (ConnectionError, TimeoutError) as exc:
                fail(replies, indexes, exc, only_unset=True)
                errors = True
            except BaseException:
                # Unread replies may sit in the socket: never reuse it.
                conn.disconnect()
                raise
            finally:
                pool.release(conn)

        if not errors:
            return replies
        # Redirects, migrations, failovers: valkey-py's careful path, one by one.
        down: BaseException | None = None
        for index, reply in enumerate(replies):
            if not isinstance(reply, RECOVERABLE):
                continue
            if down is not None and isinstance(reply, _LOST):
                replies[index] = down  # valkey-py already retried: do not wait again
                continue
            try:
                replies[index] = cluster.execute_command(*commands[index], **options)
            except ValkeyError as exc:
                replies[index] = exc
                if isinstance(exc, _LOST) and isinstance(reply, _LOST):
                    down = exc
        return replies

    def _move(self, source: Any, destination: Any) -> bool:
        """RENAME across slots: DUMP and PTTL, RESTORE with the TTL, then DEL."""
        payload = self.execute_command("DUMP", source, **{NEVER_DECODE: []})
        if payload is None:
            raise ResponseError("no such key")
        pttl = self.execute_command("PTTL", source)
        self.execute_command("RESTORE", destination, max(pttl, 0), payload, "REPLACE")
        self.execute_command("DEL", source)
        return True

    # valkey-py methods the operations call -----------------------------------

    def mget_nonatomic(self, keys: Iterable[Any]) -> list[Any]:
        """MGET per slot; the values in the order of ``keys``."""
        return self.execute_command("MGET", *keys)

    @translated
    def mset_nonatomic(self, mapping: Mapping[Any, Any]) -> list[Any]:
        """MSET per slot; one reply per slot."""
        replies = self._send(mset_batch(list(mapping.items())))
        first_error(replies)
        return replies

    @translated
    def scan(self, cursor: int = 0, match: Any = None, count: Any = None, **kwargs: Any) -> Any:
        """SCAN over every primary with one cursor (see ``routing.scan_args``)."""
        cluster = self._cluster()
        node, args, index, size = scan_args(cluster, cursor, match, count, kwargs)
        cursors, names = cluster.execute_command(*args, target_nodes=node)
        return scan_cursor(cursors[node.name], index, size), names

    @translated
    def sscan(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        return self._cluster().sscan(name, *args, **kwargs)

    def lock(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        return self._cluster().lock(name, *args, **kwargs)

    @translated
    def readonly(self, target_nodes: Any = None) -> Any:
        return self._cluster().readonly(target_nodes)

    @translated
    def readwrite(self, target_nodes: Any = None) -> Any:
        return self._cluster().readwrite(target_nodes)

    def invalidate_key_from_cache(self, key: Any = None) -> None:
        _invalidate(self._cluster(), key)

    def pipeline(self, transaction: bool = False, **kwargs: Any) -> ClusterRouterPipeline:
        return ClusterRouterPipeline(self, transaction)


class ClusterRouterPipeline:
    """Buffers commands; ``execute()`` sends them per node and restores the order."""

    def __init__(self, router: ClusterRouter, transaction: bool) -> None:
        self._router = router
        self._transaction = transaction
        self._commands: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any, **kwargs: Any) -> ClusterRouterPipeline:
        self._commands.append(args)
        return self

    @translated
    def execute(self, raise_on_error: bool = True) -> list[Any]:
        commands, self._commands = self._commands, []
        if not commands:
            return []
        replies = self._router._send((pipeline_slots(commands, self._transaction), commands))
        if raise_on_error:
            first_error(replies)
        return replies


class AsyncClusterRouter:
    """Routes commands over the client's asyncio ``ValkeyCluster`` (one per
    event loop); a batch goes to the nodes concurrently."""

    # Not one pool: connections belong to the cluster's nodes.  (The async
    # driver looks for this attribute on every raw client.)
    connection_pool = None

    def __init__(self, client: Any) -> None:
        self._client = client

    def _cluster_object(self) -> Any:
        # The loop's shared cluster client, maybe not initialised yet (no I/O).
        return self._client.get_cluster()

    async def _cluster(self) -> Any:
        return await self._cluster_object().initialize()

    def keyslot(self, key: Any) -> int:
        """The hash slot of ``key`` (no I/O)."""
        return slot_of(key)

    @async_translated
    async def execute_command(self, *args: Any, **options: Any) -> Any:
        kind, data = route(args)
        if kind == ONE:
            return await self._on_slot(data, args, options)
        if kind == SPLIT:
            batch, merge = data
            return merge(await self._send(batch, options))
        cluster = await self._cluster()
        if kind == EVERY:
            options.setdefault("target_nodes", PRIMARIES)
            return merge_every(data, await cluster.execute_command(*args, **options))
        if kind == MOVE:
            return await self._move(args[1], args[2])
        assert kind == ANY
        return await cluster.execute_command(*args, **options)

    async def _on_slot(self, slot: int, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        cluster = await self._cluster()
        try:
            return await _node(cluster, slot, args[0]).execute_command(*args, **options)
        except RECOVERABLE:
            return await cluster.execute_command(*args, **options)

    async def _send(self, batch: Batch, options: dict[str, Any] | None = None) -> list[Any]:
        """The async twin of :meth:`ClusterRouter._send`: the nodes' pipelines
        run concurrently."""
        options = options or {}
        cluster = await self._cluster()
        commands = batch[1]
        replies: list[Any] = [None] * len(commands)
        entries = _by_node(cluster, batch)

        async def run(node: Any, indexes: list[int]) -> bool:
            try:
                return await self._node_pipeline(node, indexes, commands, options, replies)
            except (ConnectionError, TimeoutError) as exc:
                fail(replies, indexes, exc, only_unset=True)
            except OSError as exc:
                fail(replies, indexes, ConnectionError(str(exc)), only_unset=True)
            return True

        if len(entries) == 1:
            errors = await run(*entries[0])
        else:
            errors = any(await asyncio.gather(*(run(node, indexes) for node, indexes in entries)))
        if not errors:
            return replies
        down: BaseException | None = None
        for index, reply in enumerate(replies):
            if not isinstance(reply, RECOVERABLE):
                continue
            if down is not None and isinstance(reply, _LOST):
                replies[index] = down
                continue
            try:
                replies[index] = await cluster.execute_command(*commands[index], **options)
            except ValkeyError as exc:
                replies[index] = exc
                if isinstance(exc, _LOST) and isinstance(reply, _LOST):
                    down = exc
        return replies

    @staticmethod
    async def _node_pipeline(
        node: Any,
        indexes: list[int],
        commands: list[tuple[Any, ...]],
        options: dict[str, Any],
        replies: list[Any],
    ) -> bool:
        """One node's share of a batch; whether any reply is an error."""
        mine = [commands[i] for i in indexes]
        free = getattr(node, "_free", None)
        if options or free is None:
            from valkey.asyncio.cluster import PipelineCommand

            pipeline = [PipelineCommand(i, *args, **options) for i, args in enumerate(mine)]
            errors = bool(await node.execute_pipeline(pipeline))
            for index, command in zip(indexes, pipeline, strict=True):
                replies[index] = command.result
            return errors
        conn = node.acquire_connection()
        errors = False
        bulk = wire.eligible(conn)
        await conn.send_packed_command(
            [wire.pack(mine)] if bulk else conn.pack_commands(mine), False
        )
        if bulk:
            values = await wire.async_read_replies(conn, len(indexes))
            errors = store(replies, indexes, values, commands, node.response_callbacks)
        else:
            for index in indexes:
                try:
                    replies[index] = await node.parse_response(conn, commands[index][0])
                except ResponseError as exc:
                    replies[index] = exc
                    errors = True
        # Back to the node's free connections only after a complete read.
        free.append(conn)
        return errors

    async def _move(self, source: Any, destination: Any) -> bool:
        payload = await self.execute_command("DUMP", source, **{NEVER_DECODE: []})
        if payload is None:
            raise ResponseError("no such key")
        pttl = await self.execute_command("PTTL", source)
        await self.execute_command("RESTORE", destination, max(pttl, 0), payload, "REPLACE")
        await self.execute_command("DEL", source)
        return True

    # valkey-py methods the operations call -----------------------------------

    async def mget_nonatomic(self, keys: Iterable[Any]) -> list[Any]:
        return await self.execute_command("MGET", *keys)

    @async_translated
    async def mset_nonatomic(self, mapping: Mapping[Any, Any]) -> list[Any]:
        replies = await self._send(mset_batch(list(mapping.items())))
        first_error(replies)
        return replies

    @async_translated
    async def scan(
        self, cursor: int = 0, match: Any = None, count: Any = None, **kwargs: Any
    ) -> Any:
        cluster = await self._cluster()
        node, args, index, size = scan_args(cluster, cursor, match, count, kwargs)
        cursors, names = await cluster.execute_command(*args, target_nodes=node)
        return scan_cursor(cursors[node.name], index, size), names

    @async_translated
    async def sscan(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        return await (await self._cluster()).sscan(name, *args, **kwargs)

    def lock(self, name: Any, *args: Any, **kwargs: Any) -> Any:
        # No I/O here: the lock initialises the cluster when it is used.
        return self._cluster_object().lock(name, *args, **kwargs)

    @async_translated
    async def readonly(self, target_nodes: Any = None) -> Any:
        return await (await self._cluster()).readonly(target_nodes)

    @async_translated
    async def readwrite(self, target_nodes: Any = None) -> Any:
        return await (await self._cluster()).readwrite(target_nodes)

    def invalidate_key_from_cache(self, key: Any = None) -> None:
        _invalidate(self._cluster_object(), key)

    def pipeline(self, transaction: bool = False, **kwargs: Any) -> AsyncClusterRouterPipeline:
        return AsyncClusterRouterPipeline(self, transaction)


class AsyncClusterRouterPipeline:
    """The async twin of :class:`ClusterRouterPipeline`."""

    def __init__(self, router: AsyncClusterRouter, transaction: bool) -> None:
        self._router = router
        self._transaction = transaction
        self._commands: list[tuple[Any, ...]] = []

    def execute_command(self, *args: Any, **kwargs: Any) -> AsyncClusterRouterPipeline:
        self._commands.append(args)
        return self

    @async_translated
    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        commands, self._commands = self._commands, []
        if not commands:
            return []
        slots = pipeline_slots(commands, self._transaction)
        replies = await self._router._send((slots, commands))
        if raise_on_error:
            first_error(replies)
        return replies
