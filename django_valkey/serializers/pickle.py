"""Pickle serializer, the default: stores any picklable value."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from django_valkey.serializers.base import BaseSerializer


class PickleSerializer(BaseSerializer):
    """Serializes with :mod:`pickle`.

    ``OPTIONS["PICKLE_VERSION"]`` picks the protocol (default
    ``pickle.DEFAULT_PROTOCOL``; negative means the highest).  The codec
    calls :func:`pickle.dumps` / :func:`pickle.loads` itself for this exact
    class, so a subclass that changes ``dumps``/``loads`` is still honoured.

    Reading a pickle can run arbitrary code: only use it with a server that
    nobody untrusted can write to.
    """

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self._pickle_version: int = pickle.DEFAULT_PROTOCOL
        self.setup_pickle_version(self._options)

    def setup_pickle_version(self, options: Mapping[str, Any]) -> None:
        """Read and check ``PICKLE_VERSION`` from ``options``."""
        if "PICKLE_VERSION" not in options:
            return
        value = options["PICKLE_VERSION"]
        # int("4") is accepted as the reference accepts it; floats and bools
        # are almost certainly mistakes, so they are refused.
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ImproperlyConfigured(f"PICKLE_VERSION value must be an integer, got {value!r}")
        try:
            version = int(value)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"PICKLE_VERSION value must be an integer, got {value!r}"
            ) from exc
        if version > pickle.HIGHEST_PROTOCOL:
            raise ImproperlyConfigured(
                "PICKLE_VERSION can't be higher than pickle.HIGHEST_PROTOCOL: "
                f"{pickle.HIGHEST_PROTOCOL}"
            )
        self._pickle_version = version

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, self._pickle_version)

    def loads(self, value: bytes) -> Any:
        return pickle.loads(value)
