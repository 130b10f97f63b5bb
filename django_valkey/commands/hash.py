"""The current hash flavour: hash name and fields are both made keys.

Mixed in before ``ClientCommands`` by ``HashClient`` (and before
``AsyncClientCommands`` by ``AsyncHashClient``); the definitions live in
``django_valkey.operations.hashes``.
"""

from __future__ import annotations

from django_valkey.generated.hash_client import AsyncHashAPI, HashAPI


class HashCommands(HashAPI):
    """hset/hget/hdel/hlen/hkeys/hexists on made keys (sync; generated methods)."""


class AsyncHashCommands(AsyncHashAPI):
    """hset/hget/hdel/hlen/hkeys/hexists on made keys (async; generated methods)."""
