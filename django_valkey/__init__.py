"""A Django cache backend for Valkey, with compiled hot paths.

Importing the package needs no configured Django settings and connects to
nothing.  ``django_valkey._speedups.COMPILED`` tells whether the compiled
speedups are in use.
"""

from __future__ import annotations

from typing import Any

from django_valkey._conflict import check_installation

# The upstream django-valkey installed in the same environment overwrites (or
# is overwritten by) this package's files: refuse to run as a silent mix.
check_installation()

VERSION = (0, 4, 1)
__version__ = ".".join(map(str, VERSION))


def get_valkey_connection(alias: str = "default", write: bool = True, key: Any = None) -> Any:
    """The raw valkey-py client of the cache ``alias`` (for commands the cache
    API does not offer).  Sharded clients pick the node owning ``key``."""
    from django.core.cache import caches

    cache = caches[alias]
    client = getattr(cache, "client", None)
    if client is None or not hasattr(client, "get_client"):
        raise NotImplementedError("This backend does not support this feature")
    if hasattr(client, "get_server_name"):
        return client.get_client(key=key)
    return client.get_client(write)
