"""The serializer interface shared by every ``OPTIONS["SERIALIZER"]`` class."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from django.core.exceptions import ImproperlyConfigured


class BaseSerializer:
    """Turns cache values into bytes (``dumps``) and back (``loads``).

    A cache builds its serializer once, as ``cls(options=OPTIONS)`` with the
    cache's OPTIONS dict.  Subclasses implement ``dumps`` and ``loads``;
    ``loads`` may raise anything on bad input, the codec reports it.
    """

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self._options: Mapping[str, Any] = options if options is not None else {}

    def dumps(self, value: Any) -> bytes:
        """Serialize ``value``."""
        raise NotImplementedError

    def loads(self, value: bytes) -> Any:
        """Deserialize what ``dumps`` produced."""
        raise NotImplementedError


def import_optional(module: str, extra: str, user: str) -> ModuleType:
    """Import a library that only some serializers need.

    Done when the serializer is built rather than when its module is
    imported, so that importing the package never fails for a missing extra.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"{user} needs the {extra!r} package: install the {extra!r} extra "
            f"of django-valkey-compiled (pip install 'django-valkey-compiled[{extra}]')"
        ) from exc
