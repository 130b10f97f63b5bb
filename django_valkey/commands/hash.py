"""The current hash flavour: hash name and fields are both made keys.

Mixed in before ``ClientCommands`` by ``HashClient`` (and before
``AsyncClientCommands`` by ``AsyncHashClient``); the definitions live in
``django_valkey.operations.hashes``.
"""

from __future__ import annotations

from django_valkey.base_client import HASH_COMMANDS, bind_commands
from django_valkey.driver import async_command, sync_command


class HashCommands:
    """hset/hget/hdel/hlen/hkeys/hexists on made keys (sync)."""


class AsyncHashCommands:
    """hset/hget/hdel/hlen/hkeys/hexists on made keys (async)."""


bind_commands(HashCommands, HASH_COMMANDS, sync_command)
bind_commands(AsyncHashCommands, HASH_COMMANDS, async_command)
