"""Passwords never show in repr, str, logs or exception messages."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_valkey.util import redact_url
from tests.servers import ValkeyServer, free_port

SECRET = "Sup3r-s3cret-pw"


def test_redact_url():
    assert redact_url(f"valkey://user:{SECRET}@host:6379/0") == "valkey://user:***@host:6379/0"
    assert redact_url(f"rediss://:{SECRET}@h/1?db=1") == "rediss://:***@h/1?db=1"
    assert redact_url("valkey://host:6379/0") == "valkey://host:6379/0"


def test_bad_location_message_hides_the_password(make_cache):
    cache = make_cache(location=f"http://user:{SECRET}@host:1/0")
    with pytest.raises(ImproperlyConfigured) as info:
        cache.get("k")
    assert SECRET not in str(info.value)
    assert "***" in str(info.value)


@pytest.mark.server
def test_no_password_in_errors_reprs_and_logs(make_cache, tmp_path, caplog):
    server = ValkeyServer(workdir=tmp_path).start()
    server.client().config_set("requirepass", "the-right-one")
    try:
        wrong = make_cache(
            location=f"valkey://:{SECRET}@127.0.0.1:{server.port}/0",
            OPTIONS={"IGNORE_EXCEPTIONS": True, "LOG_IGNORE_EXCEPTIONS": True},
        )
        with caplog.at_level(logging.DEBUG):
            assert wrong.get("k") is None  # authentication fails, ignored and logged
        down = make_cache(
            location=f"valkey://:{SECRET}@127.0.0.1:{free_port()}/0",
            OPTIONS={"PASSWORD": SECRET, "SOCKET_CONNECT_TIMEOUT": 0.2},
        )
        with pytest.raises(Exception) as info:
            down.set("k", 1)
        texts = [
            caplog.text,
            str(info.value),
            repr(info.value),
            repr(wrong),
            repr(wrong.client),
            repr(wrong.client.get_client()),
            repr(wrong.client.get_client().connection_pool),
            str(down.client.get_client().connection_pool),
        ]
        assert "Exception ignored" in caplog.text
        for text in texts:
            assert SECRET not in text, text
    finally:
        server.stop()
