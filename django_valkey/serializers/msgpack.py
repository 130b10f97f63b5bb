"""MessagePack serializer (needs the ``msgpack`` extra)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django_valkey.serializers.base import BaseSerializer, import_optional


class MSGPackSerializer(BaseSerializer):
    """Serializes with ``msgpack`` (binary strings kept apart from text).

    Tuples come back as lists; only msgpack's own types can be stored.
    """

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        msgpack = import_optional("msgpack", "msgpack", type(self).__name__)
        self._packb = msgpack.packb
        self._unpackb = msgpack.unpackb

    def dumps(self, value: Any) -> bytes:
        return self._packb(value)

    def loads(self, value: bytes) -> Any:
        return self._unpackb(value, raw=False)
