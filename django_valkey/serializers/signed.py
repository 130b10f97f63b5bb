"""Signed pickle: whoever can write to the cache cannot run code in the app.

Each value is stored as ``MAGIC + HMAC-SHA256(key, pickle) + pickle``.  The
key is derived from ``SECRET_KEY`` (and, for reading only, from each of
``SECRET_KEY_FALLBACKS``, so keys can be rotated); the MAC is checked in
constant time *before* ``pickle.loads`` ever sees the bytes.  Unsigned or
tampered values are refused with ``ValueError`` (reported by the cache as
``CorruptValueError`` naming the key).  Integers and floats are still stored
raw by the codec: reading them runs no code.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.encoding import force_bytes

from django_valkey.serializers.pickle import PickleSerializer

MAGIC = b"dvs1"
_SALT = b"django_valkey.serializers.signed.SignedPickleSerializer"
_MAC_SIZE = hashlib.sha256().digest_size


def _derive(secret: Any) -> bytes:
    # A key of its own for the cache, so that a MAC never equals one Django
    # made for something else with the same SECRET_KEY.
    return hashlib.sha256(_SALT + force_bytes(secret)).digest()


class SignedPickleSerializer(PickleSerializer):
    """Pickle with an HMAC-SHA256 signature checked before unpickling.

    ``OPTIONS["SIGNING_KEY"]`` overrides ``SECRET_KEY`` (and
    ``OPTIONS["SIGNING_KEY_FALLBACKS"]`` the fallbacks) for this cache.
    """

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        secret = self._options.get("SIGNING_KEY", getattr(settings, "SECRET_KEY", None))
        if not secret:
            raise ImproperlyConfigured(
                "SignedPickleSerializer needs SECRET_KEY (or OPTIONS['SIGNING_KEY'])"
            )
        fallbacks = self._options.get(
            "SIGNING_KEY_FALLBACKS", getattr(settings, "SECRET_KEY_FALLBACKS", [])
        )
        self._key = _derive(secret)
        self._keys = [self._key] + [_derive(old) for old in fallbacks]

    def dumps(self, value: Any) -> bytes:
        payload = super().dumps(value)
        return MAGIC + hmac.new(self._key, payload, hashlib.sha256).digest() + payload

    def loads(self, value: bytes) -> Any:
        data = bytes(value)
        if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _MAC_SIZE:
            raise ValueError("refusing an unsigned value (SignedPickleSerializer)")
        mac = data[len(MAGIC) : len(MAGIC) + _MAC_SIZE]
        payload = data[len(MAGIC) + _MAC_SIZE :]
        for key in self._keys:
            if hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).digest()):
                return super().loads(payload)
        raise ValueError("refusing a value whose signature does not match (tampered?)")
