"""Signed pickles refuse forged values; system checks flag risky settings."""

from __future__ import annotations

import pickle

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_valkey.checks import check_caches
from django_valkey.exceptions import CorruptValueError
from django_valkey.serializers.signed import SignedPickleSerializer

SIGNED = {"SERIALIZER": "django_valkey.serializers.signed.SignedPickleSerializer"}


class Boom:
    ran = False

    def __reduce__(self):
        return (exec, ("import tests.test_signed_and_checks as m; m.Boom.ran = True",))


def test_round_trip_and_rotation():
    with override_settings(SECRET_KEY="new", SECRET_KEY_FALLBACKS=["old"]):
        new = SignedPickleSerializer({})
    with override_settings(SECRET_KEY="old"):
        old = SignedPickleSerializer({})
    value = {"a": [1, 2]}
    assert new.loads(new.dumps(value)) == value
    # Written with the old key, still readable after rotation...
    assert new.loads(old.dumps(value)) == value
    # ...but not the other way round.
    with pytest.raises(ValueError, match="signature"):
        old.loads(new.dumps(value))


def test_refuses_unsigned_and_tampered_before_unpickling():
    serializer = SignedPickleSerializer({"SIGNING_KEY": "k"})
    Boom.ran = False
    with pytest.raises(ValueError, match="unsigned"):
        serializer.loads(pickle.dumps(Boom()))
    signed = bytearray(serializer.dumps("x"))
    signed[-3] ^= 1
    with pytest.raises(ValueError):
        serializer.loads(bytes(signed))
    forged = serializer.dumps("x")[:36] + pickle.dumps(Boom())
    with pytest.raises(ValueError):
        serializer.loads(forged)
    assert Boom.ran is False


def test_needs_a_key():
    with override_settings(SECRET_KEY=""), pytest.raises(ImproperlyConfigured):
        SignedPickleSerializer({})


@pytest.mark.server
def test_cache_refuses_forged_value(make_cache, speedups):
    cache = make_cache(OPTIONS=SIGNED)
    cache.set("k", {"safe": True})
    assert cache.get("k") == {"safe": True}
    cache.set("n", 5)
    assert cache.incr("n") == 6  # ints stay raw: INCRBY still works
    Boom.ran = False
    cache.client.get_client().set(cache.make_key("k"), pickle.dumps(Boom()))
    with pytest.raises(CorruptValueError, match=":1:k"):
        cache.get("k")
    assert Boom.ran is False


def ids(caches):
    with override_settings(CACHES=caches):
        return sorted(m.id for m in check_caches())


def test_system_checks():
    base = {"BACKEND": "django_valkey.cache.ValkeyCache", "LOCATION": "valkey://h:6379/0"}
    assert ids({"default": base}) == ["django_valkey.W001"]
    signed = {**base, "OPTIONS": SIGNED}
    assert ids({"default": signed}) == []
    assert ids({"default": {**signed, "LOCATION": "valkey://:pw@h:6379/0"}}) == [
        "django_valkey.W002"
    ]
    assert ids({"default": {**signed, "LOCATION": "valkeys://:pw@h:6379/0"}}) == []
    ignoring = {**signed, "OPTIONS": {**SIGNED, "IGNORE_EXCEPTIONS": True}}
    assert ids({"default": ignoring}) == ["django_valkey.W003"]
    logged = {
        **signed,
        "OPTIONS": {**SIGNED, "IGNORE_EXCEPTIONS": True, "LOG_IGNORE_EXCEPTIONS": True},
    }
    assert ids({"default": logged}) == []
    other = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    assert ids({"default": other}) == []
