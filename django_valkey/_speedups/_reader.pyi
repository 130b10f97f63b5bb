"""Stub of the compiled RESP reader; ``_reader_py.py`` is its specification."""

from collections.abc import Callable
from typing import Any

# Defined once, in Python, and shared by both twins.
from django_valkey._speedups._reader_py import ProtocolError as ProtocolError
from django_valkey._speedups._reader_py import PushNotification as PushNotification
from django_valkey._speedups._reader_py import ReaderError as ReaderError
from django_valkey._speedups._reader_py import ReplyError as ReplyError

class Reader:
    def __init__(
        self,
        protocolError: Callable[[str], Any] = ...,
        replyError: Callable[[str], Any] = ...,
        encoding: str | None = ...,
        errors: str | None = ...,
        notEnoughData: Any = ...,
        convertSetsToLists: bool = ...,
    ) -> None: ...
    def feed(self, buf: Any, off: int = ..., len: int = ...) -> None: ...
    def gets(self, shouldDecode: Any = ...) -> Any: ...
    def setmaxbuf(self, maxbuf: int | None) -> None: ...
    def getmaxbuf(self) -> int: ...
    def len(self) -> int: ...
    def has_data(self) -> bool: ...
    def set_encoding(self, encoding: str | None = ..., errors: str | None = ...) -> None: ...
