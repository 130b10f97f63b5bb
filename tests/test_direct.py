"""Commands sent on pooled connections directly: same results, safe reuse."""

from __future__ import annotations

import os
import time

import pytest

from django_valkey import direct

pytestmark = pytest.mark.server


def raw_of(cache):
    cache.set("warm", 1)
    return cache.client.get_client()


def test_plain_commands_bypass_execute_command(cache, monkeypatch):
    raw = raw_of(cache)

    def refuse(*args, **kwargs):
        raise AssertionError("valkey-py's execute_command was used")

    monkeypatch.setattr(raw, "execute_command", refuse)
    cache.set("k", {"a": 1})
    assert cache.get("k") == {"a": 1}
    assert cache.incr("warm") == 2
    assert cache.get_or_set("k", 0) == {"a": 1}


def test_retry_configuration_goes_through_valkey_py(make_cache, monkeypatch):
    cache = make_cache(OPTIONS={"CONNECTION_POOL_KWARGS": {"retry_on_timeout": True}})
    raw = raw_of(cache)
    seen = []
    original = raw.execute_command

    def spy(*args, **kwargs):
        seen.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(raw, "execute_command", spy)
    assert cache.get("warm") == 1
    assert seen == ["GET"]


def test_connection_closed_by_server_is_replaced(cache, valkey_server):
    raw = raw_of(cache)
    assert len(raw.connection_pool._available_connections) == 1
    # CLIENT ID runs on the one pooled connection: kill that connection.
    valkey_server.client().client_kill_filter(_id=raw.client_id())
    # The pooled socket is now at EOF: the next command reconnects, no error.
    assert cache.get("warm") == 1


def test_unread_bytes_are_never_taken_for_a_reply(cache):
    raw = raw_of(cache)
    pool = raw.connection_pool
    conn = pool.get_connection("GET")
    conn.send_command("ECHO", "stray")  # a reply nobody reads
    pool.release(conn)
    time.sleep(0.05)
    assert cache.get("warm") == 1
    cache.set("other", "value")
    assert cache.get("other") == "value"


def test_after_fork_child_gets_its_own_connections(cache):
    raw = raw_of(cache)
    parent_conn = raw.connection_pool._available_connections[0]
    pid = os.fork()
    if pid == 0:  # child
        status = 1
        try:
            cache.set("child", "yes")
            ok = cache.get("child") == "yes"
            fresh = parent_conn not in raw.connection_pool._available_connections
            status = 0 if ok and fresh else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.get("child") == "yes"
    assert cache.get("warm") == 1
    assert parent_conn in raw.connection_pool._available_connections


def test_server_errors_keep_the_connection_usable(cache):
    import valkey.exceptions

    raw = raw_of(cache)
    cache.sadd("set", 1)
    with pytest.raises(valkey.exceptions.ResponseError):
        cache.get("set")
    assert cache.get("warm") == 1
    assert len(raw.connection_pool._in_use_connections) == 0


def test_enabled_for_this_valkey_py():
    assert direct._SYNC_ENABLED
