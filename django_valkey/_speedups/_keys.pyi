from collections.abc import Callable, Iterable
from typing import Any

from django_valkey.util import CacheKey

def is_suspect(key: str) -> bool: ...

class KeyMaker:
    key_func: Callable[[Any, str, Any], str]
    prefix: str
    version: Any
    validate: Callable[[str], None] | None
    validate_all: bool
    def __init__(
        self,
        key_func: Callable[[Any, str, Any], str],
        prefix: str,
        version: Any,
        validate: Callable[[str], None] | None = ...,
        validate_all: bool = ...,
    ) -> None: ...
    def make(self, key: Any, version: Any = ...) -> str: ...
    def make_many(self, keys: Iterable[Any], version: Any = ...) -> list[str]: ...
    def make_cache_key(self, key: Any, version: Any = ..., prefix: Any = ...) -> CacheKey: ...
