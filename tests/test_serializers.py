"""Serializers: the reference's classes and options, and what each one keeps."""

from __future__ import annotations

import datetime
import importlib
import json
import pickle
import sys
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder

from django_valkey.serializers.base import BaseSerializer
from django_valkey.serializers.json import JSONSerializer
from django_valkey.serializers.pickle import PickleSerializer

msgpack = pytest.importorskip("msgpack")
msgspec = pytest.importorskip("msgspec")

from django_valkey.serializers.msgpack import MSGPackSerializer  # noqa: E402
from django_valkey.serializers.msgspec import (  # noqa: E402
    MsgSpecJsonSerializer,
    MsgSpecMsgPackSerializer,
)

ALL = [
    PickleSerializer,
    JSONSerializer,
    MSGPackSerializer,
    MsgSpecJsonSerializer,
    MsgSpecMsgPackSerializer,
]

# Values every serializer gives back unchanged.
PORTABLE: list[Any] = [
    None,
    True,
    False,
    0,
    -17,
    2**40,
    1.5,
    "",
    "123",
    "h\u00e9llo \u2713",
    [1, "two", None],
    {"a": {"b": [1.25, False]}},
    "x" * 100_000,
]


@pytest.mark.parametrize("cls", ALL)
@pytest.mark.parametrize("value", PORTABLE, ids=lambda v: repr(v)[:20])
def test_round_trip(cls: type[BaseSerializer], value: Any) -> None:
    serializer = cls(options={})
    dumped = serializer.dumps(value)
    assert isinstance(dumped, bytes)
    loaded = serializer.loads(dumped)
    assert loaded == value
    assert type(loaded) is type(value)


@pytest.mark.parametrize("cls", [PickleSerializer, MSGPackSerializer, MsgSpecMsgPackSerializer])
def test_binary_serializers_keep_bytes(cls: type[BaseSerializer]) -> None:
    serializer = cls(options={})
    assert serializer.loads(serializer.dumps(b"\x00\xff")) == b"\x00\xff"


@pytest.mark.parametrize("cls", ALL)
def test_options_may_be_omitted(cls: type[BaseSerializer]) -> None:
    assert cls().loads(cls().dumps([1])) == [1]


def test_base_serializer_is_abstract() -> None:
    serializer = BaseSerializer(options={})
    with pytest.raises(NotImplementedError):
        serializer.dumps(1)
    with pytest.raises(NotImplementedError):
        serializer.loads(b"1")


# Pickle ------------------------------------------------------------------------


def test_pickle_keeps_python_types() -> None:
    serializer = PickleSerializer(options={})
    value = {"when": datetime.date(2024, 1, 2), "amount": Decimal("1.50"), "ids": {1, 2}}
    assert serializer.loads(serializer.dumps(value)) == value


def test_pickle_default_protocol() -> None:
    serializer = PickleSerializer(options={})
    assert serializer._pickle_version == pickle.DEFAULT_PROTOCOL
    assert serializer.dumps([1]) == pickle.dumps([1], pickle.DEFAULT_PROTOCOL)


@pytest.mark.parametrize(("option", "protocol"), [(2, 2), ("3", 3), (5, 5), (-1, -1)])
def test_pickle_version(option: Any, protocol: int) -> None:
    serializer = PickleSerializer(options={"PICKLE_VERSION": option})
    assert serializer._pickle_version == protocol
    assert serializer.dumps({"a": 1}) == pickle.dumps({"a": 1}, protocol)


@pytest.mark.parametrize("option", ["four", 4.0, None, True, [4]])
def test_pickle_version_must_be_an_integer(option: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="PICKLE_VERSION value must be an integer"):
        PickleSerializer(options={"PICKLE_VERSION": option})


def test_pickle_version_above_the_highest_protocol() -> None:
    with pytest.raises(ImproperlyConfigured, match="PICKLE_VERSION can't be higher") as info:
        PickleSerializer(options={"PICKLE_VERSION": pickle.HIGHEST_PROTOCOL + 1})
    assert str(pickle.HIGHEST_PROTOCOL) in str(info.value)


def test_setup_pickle_version_is_kept() -> None:
    serializer = PickleSerializer(options={})
    serializer.setup_pickle_version({"PICKLE_VERSION": 2})
    assert serializer._pickle_version == 2


# JSON --------------------------------------------------------------------------


def test_json_uses_djangos_encoder() -> None:
    serializer = JSONSerializer(options={})
    assert JSONSerializer.encoder_class is DjangoJSONEncoder
    when = datetime.datetime(2024, 1, 2, 3, 4, 5)
    ident = uuid.UUID(int=7)
    value = {"when": when, "amount": Decimal("1.50"), "id": ident}
    assert serializer.dumps(value) == json.dumps(value, cls=DjangoJSONEncoder).encode()
    assert serializer.loads(serializer.dumps(value)) == {
        "when": "2024-01-02T03:04:05",
        "amount": "1.50",
        "id": str(ident),
    }


def test_json_encoder_class_can_be_replaced() -> None:
    class SetEncoder(json.JSONEncoder):
        def default(self, o: Any) -> Any:
            return sorted(o) if isinstance(o, set) else super().default(o)

    class SetJSONSerializer(JSONSerializer):
        encoder_class = SetEncoder

    assert SetJSONSerializer(options={}).dumps({3, 1}) == b"[1, 3]"


def test_json_refuses_what_it_cannot_store() -> None:
    with pytest.raises(TypeError):
        JSONSerializer(options={}).dumps(b"bytes")


def test_json_reads_utf8_only() -> None:
    serializer = JSONSerializer(options={})
    assert serializer.loads(b'"\xc3\xa9"') == "\u00e9"
    with pytest.raises(UnicodeDecodeError):
        serializer.loads('"é"'.encode("utf-16"))


# msgpack / msgspec ---------------------------------------------------------------


def test_msgpack_matches_the_library() -> None:
    value = {"a": [1, 2.5, b"raw", "text"]}
    serializer = MSGPackSerializer(options={})
    assert serializer.dumps(value) == msgpack.packb(value)
    assert serializer.loads(serializer.dumps(value)) == value


def test_msgspec_matches_the_library() -> None:
    value = {"a": [1, 2.5, "text"], "b": None}
    assert MsgSpecJsonSerializer(options={}).dumps(value) == msgspec.json.encode(value)
    assert MsgSpecMsgPackSerializer(options={}).dumps(value) == msgspec.msgpack.encode(value)
    # JSON has no bytes: msgspec writes base64 text.
    serializer = MsgSpecJsonSerializer(options={})
    assert serializer.loads(serializer.dumps(b"\x00")) == "AA=="


@pytest.mark.parametrize(
    ("module", "cls_name", "blocked", "extra"),
    [
        ("django_valkey.serializers.msgpack", "MSGPackSerializer", ["msgpack"], "msgpack"),
        (
            "django_valkey.serializers.msgspec",
            "MsgSpecJsonSerializer",
            ["msgspec", "msgspec.json"],
            "msgspec",
        ),
        (
            "django_valkey.serializers.msgspec",
            "MsgSpecMsgPackSerializer",
            ["msgspec", "msgspec.msgpack"],
            "msgspec",
        ),
    ],
)
def test_missing_library(
    monkeypatch: pytest.MonkeyPatch, module: str, cls_name: str, blocked: list[str], extra: str
) -> None:
    for name in blocked:
        monkeypatch.setitem(sys.modules, name, None)  # makes the import fail
    # Importing the module still works; building the serializer says what to install.
    cls = getattr(importlib.reload(importlib.import_module(module)), cls_name)
    with pytest.raises(ImproperlyConfigured, match=f"'{extra}' extra") as raised:
        cls(options={})
    assert f"pip install 'django-valkey-compiled[{extra}]'" in str(raised.value)
