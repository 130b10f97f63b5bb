"""JSON serializer: text values readable by any client, but lossy for Python types."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from django_valkey.serializers.base import BaseSerializer


class JSONSerializer(BaseSerializer):
    """Serializes with :mod:`json` and ``encoder_class`` (Django's encoder).

    Tuples come back as lists; dates, times, decimals and UUIDs come back as
    strings; bytes and sets cannot be stored.  Subclass and set
    ``encoder_class`` to change how unusual types are written.
    """

    encoder_class: type[json.JSONEncoder] = DjangoJSONEncoder

    def dumps(self, value: Any) -> bytes:
        return json.dumps(value, cls=self.encoder_class).encode()

    def loads(self, value: bytes) -> Any:
        # Decoded as strict UTF-8 first: json.loads(bytes) would also guess
        # UTF-16/32, which nothing here ever writes.
        return json.loads(bytes(value).decode())
