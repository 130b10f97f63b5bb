"""msgspec serializers, JSON and MessagePack flavours (need the ``msgspec`` extra)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django_valkey.serializers.base import BaseSerializer, import_optional


class _MsgSpecSerializer(BaseSerializer):
    # The msgspec submodule holding Encoder/Decoder ("json" or "msgpack").
    protocol = ""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        module = import_optional(f"msgspec.{self.protocol}", "msgspec", type(self).__name__)
        # One encoder/decoder per cache: the module-level encode()/decode()
        # would look up their defaults on every call.
        self._encode = module.Encoder().encode
        self._decode = module.Decoder().decode

    def dumps(self, value: Any) -> bytes:
        return self._encode(value)

    def loads(self, value: bytes) -> Any:
        return self._decode(value)


class MsgSpecJsonSerializer(_MsgSpecSerializer):
    """Serializes to JSON with ``msgspec.json`` (bytes are stored as base64 text)."""

    protocol = "json"


class MsgSpecMsgPackSerializer(_MsgSpecSerializer):
    """Serializes to MessagePack with ``msgspec.msgpack``."""

    protocol = "msgpack"
