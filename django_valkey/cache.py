"""The sync backend: ``CACHES[...]["BACKEND"] = "django_valkey.cache.ValkeyCache"``."""

from __future__ import annotations

from valkey import Valkey

from django_valkey import checks  # noqa: F401  (registers the system checks)
from django_valkey.base import (
    BackendCommands,
    BaseValkeyCache,
    decorate_all_methods,
    omit_exception,
)
from django_valkey.client import DefaultClient

__all__ = ["DecoratedBackendCommands", "ValkeyCache"]


@decorate_all_methods(omit_exception)
class DecoratedBackendCommands(BackendCommands):
    """``BackendCommands`` with the ``IGNORE_EXCEPTIONS`` policy applied."""


class ValkeyCache(BaseValkeyCache[DefaultClient, Valkey], DecoratedBackendCommands):
    """A Django cache on Valkey (or Redis OSS), through valkey-py."""

    DEFAULT_CLIENT_CLASS = "django_valkey.client.DefaultClient"
