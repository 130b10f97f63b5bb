"""The valkey-py parser classes of ``django_valkey.parsers`` against a real valkey-server.

The module starts its own throwaway server on a free loopback port and stops it
at the end.  Every server test runs with both ``Reader`` twins (through a
``reader_class`` subclass of the parser) and with RESP2 and RESP3, mirroring
valkey-py's own ``[libvalkey, plain] x [2, 3]`` matrix.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time

import pytest
import valkey
import valkey.asyncio
from valkey._parsers.encoders import Encoder
from valkey.exceptions import (
    AskError,
    AuthenticationError,
    ClusterCrossSlotError,
    ClusterDownError,
    ConnectionError,
    InvalidResponse,
    MasterDownError,
    MovedError,
    ResponseError,
    TimeoutError,
    TryAgainError,
)

from django_valkey.parsers import AsyncClusterParser, AsyncParser, ClusterParser, Parser
from tests.impls import IMPLS, speedups_module

HOST = "127.0.0.1"
VALKEY_SERVER = shutil.which("valkey-server") or "/usr/bin/valkey-server"


# -- a throwaway server for this module -------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server_port(tmp_path_factory):
    if not shutil.which(VALKEY_SERVER):
        pytest.skip("valkey-server is not installed")
    for _attempt in range(3):  # the port may be taken between choosing and binding
        port = _free_port()
        process = subprocess.Popen(
            [
                *(VALKEY_SERVER, "--port", str(port), "--bind", HOST),
                *("--save", "", "--appendonly", "no"),
                *("--dir", str(tmp_path_factory.mktemp("valkey"))),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if valkey.Valkey(HOST, port, socket_timeout=1).ping():
                    break
            except valkey.ConnectionError:
                time.sleep(0.05)
        if process.poll() is None:
            break
    else:
        pytest.fail("valkey-server did not start")
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- parametrization: Reader twin x protocol ------------------------------------------------


def make_client(port: int, parser_class: type, protocol: int, **kwargs) -> valkey.Valkey:
    """valkey.Valkey takes parser_class only through its pool."""
    pool = valkey.ConnectionPool(
        host=HOST, port=port, parser_class=parser_class, protocol=protocol, **kwargs
    )
    return valkey.Valkey(connection_pool=pool)


def make_async_client(port: int, parser_class: type, protocol: int, **kwargs):
    pool = valkey.asyncio.ConnectionPool(
        host=HOST, port=port, parser_class=parser_class, protocol=protocol, **kwargs
    )
    return valkey.asyncio.Valkey(connection_pool=pool)


def _with_reader(base: type, impl: str) -> type:
    reader = speedups_module("reader", impl).Reader
    return type(f"{impl.title()}{base.__name__}", (base,), {"reader_class": reader})


@pytest.fixture(params=IMPLS)
def impl(request):
    return request.param


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def protocol(request):
    return request.param


@pytest.fixture
def parser_class(impl):
    return _with_reader(Parser, impl)


@pytest.fixture
def async_parser_class(impl):
    return _with_reader(AsyncParser, impl)


@pytest.fixture
def client(server_port, parser_class, protocol):
    client = make_client(server_port, parser_class, protocol)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def text_client(server_port, parser_class, protocol):
    client = make_client(server_port, parser_class, protocol, decode_responses=True)
    yield client
    client.close()


def _parser_of(client) -> Parser:
    connection = client.connection_pool.get_connection("PING")
    try:
        return connection._parser
    finally:
        client.connection_pool.release(connection)


# -- sync commands ------------------------------------------------------------------


def test_the_parser_in_use_is_ours(client, impl):
    parser = _parser_of(client)
    assert isinstance(parser, Parser)
    assert type(parser._reader) is speedups_module("reader", impl).Reader


def test_commands(client, protocol):
    assert client.set("k", b"v\r\n\x00\xff") is True
    assert client.get("k") == b"v\r\n\x00\xff"
    assert client.get("missing") is None
    client.set("k2", "two")
    assert client.mget(["k", "missing", "k2"]) == [b"v\r\n\x00\xff", None, b"two"]
    client.hset("h", mapping={"a": "1", "b": "2"})
    assert client.hgetall("h") == {b"a": b"1", b"b": b"2"}
    client.sadd("s", "x", "y")
    assert sorted(client.smembers("s")) == [b"x", b"y"]  # a list, as with libvalkey
    assert client.incr("n") == 1
    assert client.incrby("n", 2**40) == 2**40 + 1
    assert client.incrbyfloat("f", 1.5) == 1.5
    assert client.exists("k", "k2", "missing") == 2
    assert client.ping() is True
    assert client.delete("k", "k2") == 2
    big = bytes(range(256)) * 4096  # 1 MB, several socket reads
    client.set("big", big)
    assert client.get("big") == big
    assert client.lrange("missing-list", 0, -1) == []


def test_decoded_replies(text_client):
    text_client.set("t", "é")
    assert text_client.get("t") == "é"
    text_client.hset("th", "é", "ü")
    assert text_client.hgetall("th") == {"é": "ü"}
    connection = text_client.connection_pool.get_connection("GET")
    try:
        connection.send_command("GET", "t")
        assert connection.read_response(disable_decoding=True) == "é".encode()
    finally:
        text_client.connection_pool.release(connection)


def test_server_errors_are_raised(client):
    client.rpush("list", "a")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        client.incr("list")
    with pytest.raises(ResponseError, match="unknown command"):
        client.execute_command("NO-SUCH-COMMAND")
    with pytest.raises(ResponseError):
        client.execute_command("SET")
    assert client.ping() is True  # still in sync


def test_auth_errors_are_mapped(client):
    with pytest.raises(AuthenticationError):
        client.execute_command("AUTH", "nobody", "wrong")


def test_pipeline_with_errors_inside(client):
    client.rpush("list", "a")
    pipe = client.pipeline(transaction=False)
    pipe.set("a", 1).incr("list").get("a").lrange("list", 0, -1)
    results = pipe.execute(raise_on_error=False)
    assert results[0] is True
    assert isinstance(results[1], ResponseError)
    assert "WRONGTYPE" in str(results[1])
    assert results[2:] == [b"1", [b"a"]]
    pipe.set("b", 2).incr("list")
    with pytest.raises(ResponseError):
        pipe.execute()
    assert client.get("b") == b"2"


def test_transaction(client):
    client.rpush("list", "a")
    with client.pipeline() as pipe:
        pipe.set("a", "x").incr("list").get("a")
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            pipe.execute()
    with client.pipeline() as pipe:
        assert pipe.set("a", "y").get("a").execute() == [True, b"y"]


def test_large_pipeline(client):
    pipe = client.pipeline(transaction=False)
    for i in range(2000):
        pipe.set(f"key:{i}", i)
    for i in range(2000):
        pipe.get(f"key:{i}")
    results = pipe.execute()
    assert results[2000:] == [str(i).encode() for i in range(2000)]


def test_resp3_types(client, protocol):
    client.hset("h", "f", "v")
    client.zadd("z", {"m": 1.5})
    if protocol == 3:
        assert client.execute_command("HELLO", "3")[b"proto"] == 3
        assert client.zscore("z", "m") == 1.5
    assert client.execute_command("ZSCORE", "z", "m") in (1.5, b"1.5")
    assert client.execute_command("HGETALL", "h") in ({b"f": b"v"}, [b"f", b"v"])


def test_pubsub(client, protocol, libvalkey_path):
    pubsub = client.pubsub()
    pubsub.subscribe("channel")
    first = pubsub.get_message(timeout=2)
    assert first["type"] == "subscribe"
    client.publish("channel", "hello")
    message = _next_message(pubsub)
    assert message["channel"] == b"channel"
    assert message["data"] == b"hello"
    pubsub.unsubscribe("channel")
    assert pubsub.get_message(timeout=2)["type"] == "unsubscribe"
    pubsub.close()


@pytest.fixture(params=["libvalkey", "no-libvalkey"])
def libvalkey_path(request, monkeypatch):
    """valkey-py passes push_request and sets push handlers only without libvalkey."""
    if request.param == "no-libvalkey":
        for module in (valkey.connection, valkey.client, valkey.asyncio.connection):
            monkeypatch.setattr(module, "LIBVALKEY_AVAILABLE", False)
        monkeypatch.setattr(valkey.asyncio.client, "LIBVALKEY_AVAILABLE", False)
    return request.param


def _next_message(pubsub, timeout: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.1, ignore_subscribe_messages=True)
        if message is not None:
            return message
    raise AssertionError("no message")


def test_pubsub_with_push_handler(client, protocol, libvalkey_path):
    received = []
    pubsub = client.pubsub(push_handler_func=received.append)
    pubsub.subscribe("channel")
    client.publish("channel", "hi")
    # valkey-py hands pushes to the handler only under RESP3 without libvalkey.
    via_handler = protocol == 3 and libvalkey_path == "no-libvalkey"
    wanted = [b"message", b"channel", b"hi"]
    messages = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if wanted in [list(push) for push in received] or messages:
            break
        message = pubsub.get_message(timeout=0.1, ignore_subscribe_messages=True)
        if message:
            messages.append(message)
    if via_handler:
        assert wanted in [list(push) for push in received]
        assert messages == []
    else:
        assert messages[0]["data"] == b"hi"
    pubsub.close()


@pytest.fixture
def resp3_client(server_port, parser_class):
    client = make_client(server_port, parser_class, 3)
    client.flushdb()
    yield client
    client.close()


def test_unsolicited_pushes_go_to_handlers(resp3_client):
    client = resp3_client
    connection = client.connection_pool.get_connection("SUBSCRIBE")
    try:
        parser = connection._parser
        pushes = []
        connection.send_command("SUBSCRIBE", "ch")
        # The default handler: pub/sub reading its messages gets the push itself.
        confirmation = connection.read_response()
        assert type(confirmation).__name__ == "PushNotification"
        assert list(confirmation) == [b"subscribe", b"ch", 1]
        parser.set_pubsub_push_handler(pushes.append)
        client.publish("ch", "out-of-band")
        connection.send_command("PING")
        # The push arrives first: routed to the handler, the PONG is returned.
        assert connection.read_response() in (b"PONG", [b"pong", b""])
        assert [list(p) for p in pushes] == [[b"message", b"ch", b"out-of-band"]]
        # push_request=True returns the handler's result.  (Asking the parser:
        # valkey-py's connection passes push_request only without libvalkey.)
        parser.set_pubsub_push_handler(lambda push: ("handled", list(push)))
        client.publish("ch", "asked")
        assert parser.read_response(push_request=True) == (
            "handled",
            [b"message", b"ch", b"asked"],
        )
    finally:
        connection.disconnect()
        client.connection_pool.release(connection)


def test_invalidation_pushes_go_to_their_handler(resp3_client):
    client = resp3_client
    connection = client.connection_pool.get_connection("GET")
    try:
        parser = connection._parser
        assert parser.invalidation_push_handler_func is None
        connection.send_command("CLIENT", "TRACKING", "ON")
        assert connection.read_response() == b"OK"
        connection.send_command("GET", "tracked")
        assert connection.read_response() is None
        # Without a handler the invalidation is dropped while waiting for a reply.
        client.set("tracked", "1")
        connection.send_command("GET", "tracked")
        assert connection.read_response() == b"1"
        invalidated = []
        parser.set_invalidation_push_handler(invalidated.append)
        client.set("tracked", "2")
        connection.send_command("PING")
        assert connection.read_response() == b"PONG"
        assert [list(p) for p in invalidated] == [[b"invalidate", [b"tracked"]]]
    finally:
        connection.disconnect()
        client.connection_pool.release(connection)


class Interrupted(Exception):
    pass


class FlakySocket:
    """Wraps a socket: every other recv_into raises, the others return a few bytes."""

    def __init__(self, sock: socket.socket, piece: int = 7) -> None:
        self._sock = sock
        self._piece = piece
        self.calls = 0

    def recv_into(self, buffer, nbytes: int = 0, flags: int = 0) -> int:
        self.calls += 1
        if self.calls % 2:
            raise Interrupted
        return self._sock.recv_into(buffer, self._piece, flags)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def test_interrupted_read_resumes(server_port, parser_class, protocol):
    client = make_client(server_port, parser_class, protocol)
    client.delete("resume")
    client.rpush("resume", *[f"element-{i}" for i in range(50)])
    connection = valkey.Connection(
        host=HOST, port=server_port, parser_class=parser_class, protocol=protocol
    )
    connection.connect()
    flaky = FlakySocket(connection._sock)
    connection._parser._sock = flaky
    connection.send_command("LRANGE", "resume", 0, -1)
    interruptions = 0
    while True:
        try:
            reply = connection.read_response(disconnect_on_error=False)
            break
        except Interrupted:
            interruptions += 1
    assert reply == [f"element-{i}".encode() for i in range(50)]
    assert interruptions > 20
    connection._parser._sock = connection._sock
    connection.send_command("PING")
    assert connection.read_response() in (b"PONG", True)
    connection.disconnect()
    client.close()


def test_can_read_keeps_one_reply(server_port, parser_class, protocol):
    connection = valkey.Connection(
        host=HOST, port=server_port, parser_class=parser_class, protocol=protocol
    )
    connection.connect()
    assert connection.can_read(timeout=0) is False
    connection.send_command("ECHO", "first")
    connection.send_command("ECHO", "second")
    deadline = time.monotonic() + 2
    while not connection.can_read(timeout=0.1):
        assert time.monotonic() < deadline
    assert connection.read_response() == b"first"
    assert connection.read_response() == b"second"
    connection.disconnect()


def test_disconnect_and_reconnect(client):
    parser = _parser_of(client)
    client.connection_pool.disconnect()
    assert parser._reader is None
    with pytest.raises(ConnectionError):
        parser.read_response()
    with pytest.raises(ConnectionError):
        parser.can_read(0)
    assert client.ping() is True  # a fresh connection


def test_server_closing_the_connection(server_port, parser_class, protocol):
    client = make_client(server_port, parser_class, protocol)
    victim = valkey.Connection(
        host=HOST, port=server_port, parser_class=parser_class, protocol=protocol
    )
    victim.connect()
    victim.send_command("CLIENT", "ID")
    client_id = victim.read_response()
    client.client_kill_filter(_id=client_id)
    with pytest.raises(ConnectionError):
        victim.send_command("PING")
        victim.read_response()
    client.close()


# -- sync, no server: I/O mapping ---------------------------------------------------------


class _FakeConnection:
    def __init__(self, sock, timeout=None, decode=False):
        self._sock = sock
        self.socket_timeout = timeout
        self.encoder = Encoder("utf-8", "strict", decode)


@pytest.fixture
def socket_pair():
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def test_eof_is_a_connection_error(parser_class, socket_pair):
    ours, theirs = socket_pair
    parser = parser_class(socket_read_size=1024)
    parser.on_connect(_FakeConnection(ours))
    theirs.sendall(b"+OK\r\n$5\r\nhel")
    assert parser.read_response() == b"OK"
    theirs.close()
    with pytest.raises(ConnectionError, match="Connection closed by server"):
        parser.read_response()


def test_socket_timeout_is_a_timeout_error(parser_class, socket_pair):
    ours, theirs = socket_pair
    ours.settimeout(0.05)
    parser = parser_class(socket_read_size=1024)
    parser.on_connect(_FakeConnection(ours, timeout=0.05))
    with pytest.raises(TimeoutError):
        parser.read_response()
    assert parser.can_read(0.01) is False
    assert ours.gettimeout() == 0.05  # restored after the custom timeout
    theirs.sendall(b":1\r\n")
    assert parser.can_read(1) is True
    assert parser.read_response() == 1


def test_non_blocking_socket(parser_class, socket_pair):
    ours, _theirs = socket_pair
    ours.setblocking(False)
    parser = parser_class(socket_read_size=1024)
    parser.on_connect(_FakeConnection(ours, timeout=0))
    assert parser.read_from_socket(timeout=0, raise_on_timeout=False) is False
    with pytest.raises(ConnectionError):
        parser.read_from_socket(timeout=0)


def test_protocol_error_is_invalid_response(parser_class, socket_pair):
    ours, theirs = socket_pair
    parser = parser_class(socket_read_size=1024)
    parser.on_connect(_FakeConnection(ours))
    theirs.sendall(b"?garbage\r\n")
    with pytest.raises(InvalidResponse):
        parser.read_response()


def test_connection_errors_are_raised_early(parser_class, socket_pair):
    ours, theirs = socket_pair
    parser = parser_class(socket_read_size=1024)
    parser.on_connect(_FakeConnection(ours))
    theirs.sendall(b"-ERR max number of clients reached\r\n")
    with pytest.raises(ConnectionError):
        parser.read_response()
    theirs.sendall(b"*2\r\n-ERR max number of clients reached\r\n:1\r\n")
    with pytest.raises(ConnectionError):
        parser.read_response()
    theirs.sendall(b"-WRONGTYPE nope\r\n")
    assert isinstance(parser.read_response(), ResponseError)


def test_push_handler_defaults(parser_class):
    parser = parser_class(socket_read_size=1024)
    assert parser.pubsub_push_handler_func == parser.handle_pubsub_push_response
    assert parser.invalidation_push_handler_func is None
    assert parser.invalidations_push_handler_func is None
    assert parser.handle_pubsub_push_response([b"x"]) == [b"x"]
    parser.__del__()  # never connected: the safety net must not raise


def test_default_reader_is_the_active_implementation(socket_pair):
    from django_valkey import _speedups

    parser = Parser(socket_read_size=1024)
    parser.on_connect(_FakeConnection(socket_pair[0]))
    assert type(parser._reader) is _speedups.Reader


@pytest.mark.parametrize("parser", [ClusterParser, AsyncClusterParser])
def test_cluster_parsers_map_cluster_errors(parser):
    cases = {
        "ASK 3999 127.0.0.1:6381": AskError,
        "MOVED 3999 127.0.0.1:6381": MovedError,
        "TRYAGAIN later": TryAgainError,
        "CLUSTERDOWN The cluster is down": ClusterDownError,
        "CROSSSLOT Keys in request don't hash to the same slot": ClusterCrossSlotError,
        "MASTERDOWN Link with MASTER is down": MasterDownError,
    }
    for message, kind in cases.items():
        assert type(parser.parse_error(message)) is kind
    assert type(parser.parse_error("WRONGTYPE x")) is ResponseError
    assert "NOAUTH" in parser.EXCEPTION_CLASSES
    assert "MOVED" not in Parser.EXCEPTION_CLASSES
    assert issubclass(ClusterParser, Parser)
    assert issubclass(AsyncClusterParser, AsyncParser)


def test_cluster_parser_returns_redirections(socket_pair, impl):
    ours, theirs = socket_pair
    parser = _with_reader(ClusterParser, impl)(socket_read_size=1024)
    parser.on_connect(_FakeConnection(ours))
    theirs.sendall(b"*2\r\n-MOVED 12 127.0.0.1:7000\r\n:1\r\n")
    moved, one = parser.read_response()
    assert isinstance(moved, MovedError)
    assert moved.slot_id == 12
    assert one == 1


def test_threads_each_with_a_client(server_port, parser_class, protocol):
    client = make_client(server_port, parser_class, protocol)
    errors = []

    def work(n):
        try:
            for i in range(100):
                client.set(f"t{n}:{i}", i)
                assert client.get(f"t{n}:{i}") == str(i).encode()
        except Exception as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    client.close()


# -- asyncio ------------------------------------------------------------------------


@pytest.fixture
def async_client_factory(server_port, async_parser_class, protocol):
    def make(**kwargs):
        return make_async_client(server_port, async_parser_class, protocol, **kwargs)

    return make


def run(coroutine):
    return asyncio.run(coroutine)


def test_async_commands(async_client_factory, impl):
    async def scenario():
        client = async_client_factory()
        try:
            await client.set("ak", "v")
            assert await client.get("ak") == b"v"
            assert await client.mget(["ak", "missing"]) == [b"v", None]
            await client.hset("ah", mapping={"a": "1"})
            assert await client.hgetall("ah") == {b"a": b"1"}
            await client.sadd("as", "x")
            assert list(await client.smembers("as")) == [b"x"]
            await client.delete("an")
            assert await client.incr("an") == 1
            await client.rpush("alist", "x")
            with pytest.raises(ResponseError, match="WRONGTYPE"):
                await client.incr("alist")
            pipe = client.pipeline(transaction=False)
            pipe.set("ap", 1).incr("alist").get("ap")
            results = await pipe.execute(raise_on_error=False)
            assert results[0] is True
            assert isinstance(results[1], ResponseError)
            assert results[2] == b"1"
            connection = await client.connection_pool.get_connection("PING")
            assert type(connection._parser._reader) is speedups_module("reader", impl).Reader
            await client.connection_pool.release(connection)
        finally:
            await client.flushdb()
            await client.aclose()

    run(scenario())


def test_async_many_concurrent_commands(server_port, async_parser_class, protocol):
    async def scenario():
        pool = valkey.asyncio.BlockingConnectionPool(
            host=HOST,
            port=server_port,
            parser_class=async_parser_class,
            protocol=protocol,
            max_connections=10,
        )
        client = valkey.asyncio.Valkey(connection_pool=pool)
        try:
            await client.delete("counter")
            await asyncio.gather(*(client.set(f"c{i}", i) for i in range(300)))
            values = await asyncio.gather(*(client.get(f"c{i}") for i in range(300)))
            assert values == [str(i).encode() for i in range(300)]
            counts = await asyncio.gather(*(client.incr("counter") for _ in range(300)))
            assert sorted(counts) == list(range(1, 301))
        finally:
            await client.aclose()
            await pool.disconnect()

    run(scenario())


def test_async_cancelled_command_leaves_the_client_usable(async_client_factory):
    async def scenario():
        client = async_client_factory()
        try:
            task = asyncio.ensure_future(client.blpop(["never-filled"], timeout=5))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The cancelled connection was dropped: no stale reply can surface.
            assert await client.ping() is True
            await client.set("after", "ok")
            assert await client.get("after") == b"ok"
        finally:
            await client.aclose()

    run(scenario())


def test_async_read_timeout_then_resume(async_client_factory, server_port):
    async def scenario():
        client = async_client_factory()
        other = valkey.asyncio.Valkey(host=HOST, port=server_port)
        try:
            await client.delete("late")
            connection = await client.connection_pool.get_connection("BLPOP")
            await connection.send_command("BLPOP", "late", 5)
            # A caller's timeout returns None and keeps the connection: retry later.
            assert await connection.read_response(timeout=0.05) is None
            await other.rpush("late", "value")
            assert await connection.read_response() == [b"late", b"value"]
            await client.connection_pool.release(connection)
        finally:
            await other.aclose()
            await client.aclose()

    run(scenario())


def test_async_pubsub(async_client_factory, protocol, libvalkey_path):
    async def scenario():
        client = async_client_factory()
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe("ach")
            message = await pubsub.get_message(timeout=2)
            assert message["type"] == "subscribe"
            await client.publish("ach", "hello")
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                if message is not None:
                    break
            assert message["data"] == b"hello"
        finally:
            await pubsub.aclose()
            await client.aclose()

    run(scenario())


# -- asyncio, no server: cancellation with a partial reply -----------------------------


class _FakeAsyncConnection:
    def __init__(self, stream, decode=False):
        self._reader = stream
        self.encoder = Encoder("utf-8", "strict", decode)


def test_async_cancellation_keeps_partial_bytes(async_parser_class):
    async def scenario():
        stream = asyncio.StreamReader()
        parser = async_parser_class(socket_read_size=4)
        parser.on_connect(_FakeAsyncConnection(stream))
        stream.feed_data(b"*3\r\n$5\r\nhel")
        task = asyncio.ensure_future(parser.read_response())
        await asyncio.sleep(0.01)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        stream.feed_data(b"lo\r\n:2\r\n-ERR x\r\n+next\r\n")
        reply = await parser.read_response()
        assert reply[:2] == [b"hello", 2]
        assert isinstance(reply[2], ResponseError)
        assert await parser.can_read_destructive() is True
        assert await parser.read_response() == b"next"
        assert await parser.can_read_destructive() is False
        stream.feed_eof()
        with pytest.raises(ConnectionError):
            await parser.read_response()
        parser.on_disconnect()
        with pytest.raises(ConnectionError):
            await parser.read_response()
        with pytest.raises(ConnectionError):
            await parser.can_read_destructive()

    run(scenario())


def test_async_push_routing(async_parser_class):
    async def scenario():
        stream = asyncio.StreamReader()
        parser = async_parser_class(socket_read_size=1024)
        parser.on_connect(_FakeAsyncConnection(stream, decode=True))
        seen = []

        async def handler(push):
            seen.append(list(push))
            return "handled"

        parser.set_pubsub_push_handler(handler)
        parser.set_invalidation_push_handler(lambda push: seen.append(("invalidate", list(push))))
        stream.feed_data(b">3\r\n+message\r\n+ch\r\n+x\r\n>2\r\n+invalidate\r\n*1\r\n+k\r\n:5\r\n")
        assert await parser.read_response() == 5
        assert seen == [["message", "ch", "x"], ("invalidate", ["invalidate", ["k"]])]
        stream.feed_data(b">3\r\n+message\r\n+ch\r\n+y\r\n")
        assert await parser.read_response(push_request=True) == "handled"

    run(scenario())
