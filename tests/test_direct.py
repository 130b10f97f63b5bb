"""Commands sent on pooled connections directly: same results, safe reuse."""

from __future__ import annotations

import os

import pytest

from django_valkey import direct

pytestmark = pytest.mark.server


def raw_of(cache):
    cache.set("warm", 1)
    return cache.client.get_client()


def test_plain_commands_bypass_execute_command(cache, monkeypatch):
    raw = raw_of(cache)
    used = []
    original = raw.execute_command

    def spy(*args, **kwargs):
        used.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(raw, "execute_command", spy)
    cache.set("k", {"a": 1})
    assert cache.get("k") == {"a": 1}
    assert cache.incr("warm") == 2
    assert cache.get_or_set("k", 0) == {"a": 1}
    # DJANGO_VALKEY_NO_FASTPATH=1 turns the direct path off.
    if direct.ENABLED:
        assert used == []
    else:
        assert used[:3] == ["SET", "GET", "EVALSHA"] and used[-1] == "GET"


def test_pipeline_replies_and_errors(cache):
    raw = raw_of(cache)
    raw.set("text", "abc")
    commands = [("SET", "a", "1"), ("INCR", "text"), ("GET", "a"), ("EXISTS", "a")]
    replies = direct.execute_pipeline_sync(raw, commands, raise_on_error=False)
    assert replies[0] is True and replies[2] == b"1" and replies[3] == 1
    assert "not an integer" in str(replies[1])
    with pytest.raises(Exception, match="not an integer"):
        direct.execute_pipeline_sync(raw, commands, raise_on_error=True)
    assert cache.get("warm") == 1  # the connection stayed in sync


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
    assert raw.connection_pool._available_connections
    # Every other client connection is closed by the server.
    admin = valkey_server.client()
    assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
    # The pooled socket is now at EOF: the next command reconnects, no error.
    assert cache.get("warm") == 1


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
