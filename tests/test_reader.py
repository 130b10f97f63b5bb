"""Conformance of both RESP ``Reader`` twins (compiled and pure) to the libvalkey contract.

Every case runs on both implementations and at several chunkings, down to one
byte per ``feed()``: a reader must give the same replies and the same errors
however the bytes arrive.  See ``_reader_py.py`` for the documented
differences from libvalkey.
"""

from __future__ import annotations

import array
import gc
import math
import weakref

import pytest

from tests.impls import IMPLS, speedups_module

NOT_ENOUGH = object()


@pytest.fixture(params=IMPLS)
def mod(request):
    return speedups_module("reader", request.param)


@pytest.fixture
def Reader(mod):
    return mod.Reader


def chunks(data: bytes, size: int):
    for start in range(0, len(data), size):
        yield data[start : start + size]


def read_all(reader, data: bytes, size: int | None = None, decode: bool = True) -> list:
    """Feed ``data`` in pieces of ``size`` bytes (all at once if None); every reply.

    ``reader`` must have been made with ``notEnoughData=NOT_ENOUGH``.
    """
    replies = []
    for piece in chunks(data, size or max(1, len(data))):
        reader.feed(piece)
        while (reply := reader.gets(decode)) is not NOT_ENOUGH:
            replies.append(reply)
    return replies


CHUNK_SIZES = (None, 1, 2, 3, 7)


def parse(Reader, data: bytes, **kwargs) -> list:
    """The replies in ``data``, checked to be the same at every chunking."""
    results = []
    for size in CHUNK_SIZES:
        reader = Reader(notEnoughData=NOT_ENOUGH, **kwargs)
        results.append(read_all(reader, data, size))
        assert not reader.has_data()
    for other in results[1:]:
        assert same(other, results[0])
    return results[0]


def one(Reader, data: bytes, **kwargs):
    replies = parse(Reader, data, **kwargs)
    assert len(replies) == 1, replies
    return replies[0]


def same(a, b) -> bool:
    """Equality that also compares types, exceptions by type and args, and NaN to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, BaseException):
        return a.args == b.args
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):  # insertion order is the wire order
        return len(a) == len(b) and all(
            same(ka, kb) and same(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    return a == b


def raised(Reader, data: bytes, size: int | None = None, **kwargs) -> BaseException:
    reader = Reader(notEnoughData=NOT_ENOUGH, **kwargs)
    with pytest.raises(BaseException) as info:
        read_all(reader, data, size)
    return info.value


# -- every type ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"+OK\r\n", b"OK"),
        (b"+\r\n", b""),
        (b":0\r\n", 0),
        (b":-5\r\n", -5),
        (b":9223372036854775807\r\n", 2**63 - 1),
        (b":-9223372036854775808\r\n", -(2**63)),
        (b":123456789012345678901234567890\r\n", 123456789012345678901234567890),
        (b":-123456789012345678901234567890\r\n", -123456789012345678901234567890),
        (b"$0\r\n\r\n", b""),
        (b"$3\r\nabc\r\n", b"abc"),
        (b"$6\r\na\r\nb\r\n\r\n", b"a\r\nb\r\n"),
        (b"$2\r\n\r\r\r\n", b"\r\r"),
        (b"$-1\r\n", None),
        (b"*-1\r\n", None),
        (b"*0\r\n", []),
        (b"*2\r\n:1\r\n$1\r\nx\r\n", [1, b"x"]),
        (b"*2\r\n*1\r\n*0\r\n*-1\r\n", [[[]], None]),
        (b"_\r\n", None),
        (b",1.5\r\n", 1.5),
        (b",-0.0\r\n", -0.0),
        (b",1e5\r\n", 100000.0),
        (b",1E-2\r\n", 0.01),
        (b",.5\r\n", 0.5),
        (b",3.\r\n", 3.0),
        (b",+2.5\r\n", 2.5),
        (b",10\r\n", 10.0),
        (b",inf\r\n", math.inf),
        (b",-inf\r\n", -math.inf),
        (b",INF\r\n", math.inf),
        (b",-Inf\r\n", -math.inf),
        (b"#t\r\n", True),
        (b"#f\r\n", False),
        (b"#T\r\n", True),
        (b"#F\r\n", False),
        (b"(12345678901234567890123456789\r\n", 12345678901234567890123456789),
        (b"(-7\r\n", -7),
        (b"=8\r\ntxt:abcd\r\n", b"abcd"),
        (b"=4\r\nmkd:\r\n", b""),
        (b"=-1\r\n", None),
        (b"%0\r\n", {}),
        (b"%2\r\n+a\r\n:1\r\n+b\r\n,2.5\r\n", {b"a": 1, b"b": 2.5}),
        (b"%1\r\n:1\r\n%1\r\n:2\r\n*1\r\n:3\r\n", {1: {2: [3]}}),
        (b"%2\r\n+a\r\n:1\r\n+a\r\n:2\r\n", {b"a": 2}),
        (b"%-1\r\n", None),
        (b"~-1\r\n", None),
        (b">-1\r\n", None),
    ],
)
def test_types(Reader, data, expected):
    assert same(one(Reader, data), expected)


@pytest.mark.parametrize("text", [b"nan", b"NaN", b"-nan", b"NAN"])
def test_nan(Reader, text):
    value = one(Reader, b"," + text + b"\r\n")
    assert isinstance(value, float)
    assert math.isnan(value)


def test_sets(Reader):
    assert one(Reader, b"~0\r\n") == set()
    assert one(Reader, b"~3\r\n:1\r\n:2\r\n:1\r\n") == {1, 2}
    assert one(Reader, b"~2\r\n:1\r\n:1\r\n", convertSetsToLists=True) == [1, 1]
    assert one(Reader, b"~0\r\n", convertSetsToLists=True) == []
    nested = one(Reader, b"~1\r\n%1\r\n+a\r\n~1\r\n:1\r\n", convertSetsToLists=True)
    assert nested == [{b"a": [1]}]
    assert one(Reader, b"%1\r\n+k\r\n~1\r\n:1\r\n") == {b"k": {1}}


def test_push_is_a_list_subclass_shared_by_both_twins(mod, Reader):
    reply = one(Reader, b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n")
    assert type(reply) is mod.PushNotification
    assert isinstance(reply, list)
    assert reply == [b"message", b"ch", b"hi"]
    assert type(one(Reader, b">0\r\n")) is mod.PushNotification
    pure = speedups_module("reader", "pure")
    assert mod.PushNotification is pure.PushNotification
    assert mod.ProtocolError is pure.ProtocolError
    assert mod.ReplyError is pure.ReplyError
    # An array is a plain list, never a push.
    assert type(one(Reader, b"*1\r\n:1\r\n")) is list


def test_attributes_are_skipped(Reader):
    assert parse(Reader, b"|1\r\n+key\r\n+value\r\n+OK\r\n") == [b"OK"]
    assert parse(Reader, b"|0\r\n:1\r\n|-1\r\n:2\r\n") == [1, 2]
    data = b"*2\r\n|1\r\n+ttl\r\n:3\r\n:1\r\n|1\r\n+a\r\n*1\r\n:0\r\n:2\r\n"
    assert parse(Reader, data) == [[1, 2]]
    # Nested aggregates inside the attribute are consumed whole.
    data = b"|1\r\n%1\r\n+a\r\n*2\r\n:1\r\n:2\r\n~1\r\n:3\r\n$2\r\nok\r\n"
    assert parse(Reader, data) == [b"ok"]


def test_attribute_alone_is_not_a_reply(Reader):
    reader = Reader()
    reader.feed(b"|1\r\n+a\r\n+b\r\n")
    assert reader.gets() is False
    reader.feed(b":7\r\n")
    assert reader.gets() == 7


def test_pipelined_replies(Reader):
    data = b"+OK\r\n:1\r\n$1\r\na\r\n*1\r\n_\r\n%1\r\n#t\r\n,1\r\n"
    assert parse(Reader, data) == [b"OK", 1, b"a", [None], {True: 1.0}]


# -- server errors -------------------------------------------------------------


def test_error_reply_is_returned_not_raised(mod, Reader):
    reply = one(Reader, b"-ERR unknown command\r\n")
    assert type(reply) is mod.ReplyError
    assert reply.args == ("ERR unknown command",)


def test_bulk_error_reply(mod, Reader):
    reply = one(Reader, b"!21\r\nSYNTAX invalid syntax\r\n")
    assert type(reply) is mod.ReplyError
    assert reply.args == ("SYNTAX invalid syntax",)
    assert one(Reader, b"!10\r\nERR a\r\nb c\r\n").args == ("ERR a\r\nb c",)


def test_error_reply_custom_class_and_callable(Reader):
    class Oops(Exception):
        pass

    assert type(one(Reader, b"-ERR x\r\n", replyError=Oops)) is Oops
    made = one(Reader, b"-WRONGTYPE y\r\n", replyError=lambda msg: KeyError(msg.upper()))
    assert type(made) is KeyError
    assert made.args == ("WRONGTYPE Y",)
    # Whatever the callable returns is the reply.
    assert one(Reader, b"-ERR\r\n", replyError=lambda msg: 42) == 42


def test_error_reply_not_utf8_is_replaced(Reader):
    assert one(Reader, b"-\xff\xfe ERR\r\n").args == ("\ufffd\ufffd ERR",)
    assert one(Reader, b"!2\r\n\xc3(\r\n").args == ("\ufffd(",)
    # Errors are decoded the same whatever the reader's encoding.
    assert one(Reader, b"-\xe9\r\n", encoding="latin-1").args == ("\ufffd",)


def test_errors_nested_in_aggregates(mod, Reader):
    reply = one(Reader, b"*3\r\n+OK\r\n-ERR one\r\n*1\r\n!3\r\nTWO\r\n")
    assert reply[0] == b"OK"
    assert type(reply[1]) is mod.ReplyError
    assert reply[1].args == ("ERR one",)
    assert reply[2][0].args == ("TWO",)
    mapping = one(Reader, b"%1\r\n-KEY\r\n-VALUE\r\n")
    ((key, value),) = mapping.items()
    assert key.args == ("KEY",)
    assert value.args == ("VALUE",)


def test_reply_error_callable_raising_is_raised_with_the_whole_reply(Reader):
    calls = []

    def broken(message):
        calls.append(message)
        raise KeyError(message)

    reader = Reader(replyError=broken)
    reader.feed(b"*3\r\n-ERR a\r\n-ERR b\r\n")
    assert reader.gets() is False  # not raised before the reply is complete
    reader.feed(b":1\r\n+next\r\n")
    with pytest.raises(KeyError) as info:
        reader.gets()
    assert info.value.args == ("ERR a",)  # the first one
    assert calls == ["ERR a", "ERR b"]  # each error element parsed once
    assert reader.gets() == b"next"  # in sync


def test_interrupted_callable_resumes_without_duplicates(Reader):
    class Interrupt(BaseException):
        pass

    state = {"interrupt": True}

    def flaky(message):
        if state.pop("interrupt", False):
            raise Interrupt
        return message

    reader = Reader(replyError=flaky)
    reader.feed(b"*3\r\n:1\r\n-E\r\n:3\r\n")
    with pytest.raises(Interrupt):
        reader.gets()
    assert reader.gets() == [1, "E", 3]
    assert not reader.has_data()


# -- protocol errors -----------------------------------------------------------

PROTOCOL_ERRORS = [
    b"?\r\n",
    b"\r\n",
    b"x",
    b";4\r\nabcd\r\n",
    b".\r\n",
    b":\r\n",
    b":-\r\n",
    b":+1\r\n",
    b":01\r\n",
    b":-0\r\n",
    b": 1\r\n",
    b":1 \r\n",
    b":1a\r\n",
    b"(\r\n",
    b"(1.5\r\n",
    b"$-2\r\n",
    b"$x\r\n",
    b"$01\r\n\r\n",
    b"$+1\r\nx\r\n",
    b"$\r\n",
    b"$?\r\n",
    b"$99999999999999999999\r\n",
    b"$3\r\nabcXY",
    b"$0\r\nX\r\n",
    b"*-2\r\n",
    b"*x\r\n",
    b"*?\r\n",
    b"*01\r\n:1\r\n",
    b"%99999999999999999999\r\n",
    b"*9223372036854775807\r\n",
    b"+a\rb\r\n",
    b"+a\nb\r\n",
    b"-a\nb\r\n",
    b"_x\r\n",
    b",\r\n",
    b",abc\r\n",
    b",1e\r\n",
    b",-\r\n",
    b",.\r\n",
    b",+inf\r\n",
    b",1_0\r\n",
    b", 1\r\n",
    b",0x10\r\n",
    b",infinity\r\n",
    b",1e999\r\n",
    b",-1e999\r\n",
    b"#x\r\n",
    b"#tt\r\n",
    b"#\r\n",
    b"=3\r\nabc\r\n",
    b"=8\r\ntxtxabcd\r\n",
    b"!-1\r\n",
    b"*2\r\n:1\r\n?",
    b"%1\r\n+k\r\n$2\r\nab+X",
]


@pytest.mark.parametrize("data", PROTOCOL_ERRORS)
@pytest.mark.parametrize("size", CHUNK_SIZES)
def test_protocol_errors(mod, Reader, data, size):
    error = raised(Reader, data, size)
    assert type(error) is mod.ProtocolError
    assert str(error).startswith("Protocol error: ")


def test_protocol_error_message_names_the_bytes(Reader):
    assert "b'?'" in str(raised(Reader, b"?"))
    assert "bad integer" in str(raised(Reader, b":1x\r\n"))
    assert "b'XY'" in str(raised(Reader, b"$3\r\nabcXY"))


def test_protocol_error_is_sticky(mod, Reader):
    reader = Reader()
    reader.feed(b"+OK\r\n?junk")
    assert reader.gets() == b"OK"
    with pytest.raises(mod.ProtocolError):
        reader.gets()
    assert reader.len() == 0
    assert not reader.has_data()
    reader.feed(b"+OK\r\n")  # ignored: the stream cannot be trusted any more
    assert reader.len() == 0
    with pytest.raises(mod.ProtocolError):
        reader.gets()


def test_protocol_error_custom_class(Reader):
    class Broken(Exception):
        pass

    error = raised(Reader, b"?", protocolError=Broken)
    assert type(error) is Broken


def test_protocol_error_custom_callable_raises_its_type_with_the_message(Reader):
    class Broken(Exception):
        pass

    error = raised(Reader, b"?", protocolError=lambda text: Broken("ignored " + text))
    assert type(error) is Broken
    assert error.args[0].startswith("Protocol error: ")


def test_protocol_error_faulty_callable_propagates(Reader):
    def faulty(text):
        raise ZeroDivisionError(text)

    assert type(raised(Reader, b"?", protocolError=faulty)) is ZeroDivisionError


def test_protocol_error_callable_returning_a_non_exception(Reader):
    assert type(raised(Reader, b"?", protocolError=lambda text: 42)) is TypeError


@pytest.mark.parametrize("name", ["protocolError", "replyError"])
def test_non_callable_factories_are_rejected(Reader, name):
    with pytest.raises(TypeError):
        Reader(**{name: "not callable"})


def test_error_in_the_middle_of_a_pipeline(mod, Reader):
    reader = Reader()
    reader.feed(b"+one\r\n+two\r\n*2\r\n:1\r\n!x\r\n+three\r\n")
    assert reader.gets() == b"one"
    assert reader.gets() == b"two"
    with pytest.raises(mod.ProtocolError):
        reader.gets()


# -- maps and sets with unhashable members ----------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"%1\r\n*1\r\n:1\r\n:2\r\n",
        b"%1\r\n%0\r\n:2\r\n",
        b"%1\r\n~1\r\n:1\r\n:2\r\n",
        b"~1\r\n*0\r\n",
        b"~2\r\n:1\r\n%0\r\n",
    ],
)
def test_unhashable_raises_type_error_and_stays_in_sync(Reader, data):
    for size in CHUNK_SIZES:
        reader = Reader(notEnoughData=NOT_ENOUGH)
        outcomes = []
        for piece in chunks(data + b"+after\r\n", size or 1000):
            reader.feed(piece)
            while True:
                try:
                    reply = reader.gets()
                except TypeError as exc:
                    assert "unhashable" in str(exc)
                    outcomes.append("TypeError")
                    continue
                if reply is NOT_ENOUGH:
                    break
                outcomes.append(reply)
        assert outcomes == ["TypeError", b"after"]


def test_set_as_map_key_with_convert_sets_to_lists(Reader):
    reader = Reader(convertSetsToLists=True)
    reader.feed(b"%1\r\n~1\r\n:1\r\n:2\r\n")
    with pytest.raises(TypeError):
        reader.gets()


# -- decoding ------------------------------------------------------------------


def test_encoding_decodes_string_replies_only(Reader):
    data = b"*8\r\n+s\r\n$2\r\n\xc3\xa9\r\n=7\r\ntxt:\xc3\xa9b\r\n:1\r\n(9\r\n,1\r\n#t\r\n-E\r\n"
    reply = one(Reader, data, encoding="utf-8")
    assert reply[:7] == ["s", "é", "éb", 1, 9, 1.0, True]
    assert reply[7].args == ("E",)
    assert one(Reader, b"%1\r\n+k\r\n~1\r\n+v\r\n", encoding="utf-8") == {"k": {"v"}}


def test_should_decode_false_returns_bytes(Reader):
    reader = Reader(encoding="utf-8")
    reader.feed(b"*2\r\n+a\r\n$1\r\nb\r\n+c\r\n")
    assert reader.gets(False) == [b"a", b"b"]
    assert reader.gets() == "c"
    reader.feed(b"+d\r\n")
    assert reader.gets(shouldDecode=False) == b"d"


def test_other_encodings(Reader):
    assert one(Reader, b"+\xe9\r\n", encoding="latin-1") == "é"
    assert one(Reader, b"$2\r\n\xff\xfe\r\n", encoding="utf-16") == ""
    assert one(Reader, b"$4\r\n\xff\xfea\x00\r\n", encoding="utf-16") == "a"


@pytest.mark.parametrize(
    ("errors", "expected"),
    [("replace", "a\ufffd"), ("ignore", "a"), ("backslashreplace", "a\\xff")],
)
def test_errors_handlers(Reader, errors, expected):
    assert one(Reader, b"+a\xff\r\n", encoding="utf-8", errors=errors) == expected


def test_decode_error_is_raised_with_the_whole_reply_and_stays_in_sync(Reader):
    reader = Reader(encoding="utf-8")
    reader.feed(b"*3\r\n+\xff\r\n+\xfe\r\n")
    assert reader.gets() is False
    reader.feed(b"+ok\r\n+after\r\n")
    with pytest.raises(UnicodeDecodeError) as info:
        reader.gets()
    assert info.value.object == b"\xff"  # the first one
    assert reader.gets() == "after"


def test_invalid_encoding_and_errors(Reader):
    with pytest.raises(LookupError):
        Reader(encoding="no-such-codec")
    with pytest.raises(LookupError):
        Reader(errors="no-such-handler")
    reader = Reader()
    with pytest.raises(LookupError):
        reader.set_encoding("no-such-codec")
    with pytest.raises(LookupError):
        reader.set_encoding("utf-8", "no-such-handler")
    reader.feed(b"+a\r\n")
    assert reader.gets() == b"a"  # unchanged by the failed calls


def test_set_encoding(Reader):
    reader = Reader()
    reader.set_encoding("utf-8")
    reader.feed(b"+\xc3\xa9\r\n")
    assert reader.gets() == "é"
    reader.set_encoding("utf-8", "replace")
    reader.feed(b"+\xff\r\n")
    assert reader.gets() == "\ufffd"
    reader.set_encoding()
    reader.feed(b"+\xc3\xa9\r\n")
    assert reader.gets() == b"\xc3\xa9"


# -- input handling ------------------------------------------------------------


def test_feed_accepts_buffers_and_str(Reader):
    reader = Reader()
    reader.feed(bytearray(b"+a\r\n"))
    reader.feed(memoryview(b"+b\r\n"))
    reader.feed("+c\r\n")
    reader.feed("+é\r\n")
    reader.feed(array.array("B", b"+d\r\n"))
    assert [reader.gets() for _ in range(5)] == [b"a", b"b", b"c", "é".encode(), b"d"]


def test_feed_copies_the_buffer(Reader):
    buffer = bytearray(b"+first\r\n")
    reader = Reader()
    reader.feed(buffer, 0, 4)
    buffer[:] = b"XXXXXXXX"
    reader.feed(b"st\r\n")
    assert reader.gets() == b"first"


def test_feed_offset_and_length(Reader):
    reader = Reader()
    data = b"xx+OK\r\nyy"
    reader.feed(data, 2, 5)
    assert reader.gets() == b"OK"
    reader.feed(data, 2)
    assert reader.gets() == b"OK"
    assert reader.len() == 2
    reader = Reader()
    reader.feed(b"ab", 2)  # empty tail: fine
    reader.feed(b"ab", 2, 0)
    reader.feed(b"ab", 0, -1)
    assert reader.len() == 2


@pytest.mark.parametrize(
    "args", [(-1,), (3,), (0, 3), (1, -2), (1, 2), (0, -3), (2**40,), (0, 2**40)]
)
def test_feed_rejects_bad_offset_and_length(Reader, args):
    reader = Reader()
    with pytest.raises(ValueError):
        reader.feed(b"ab", *args)
    assert reader.len() == 0


@pytest.mark.parametrize("value", [1, None, [1], 1.5, object()])
def test_feed_rejects_non_buffers(Reader, value):
    with pytest.raises(TypeError):
        Reader().feed(value)


def test_len_and_has_data(Reader):
    reader = Reader()
    assert reader.len() == 0
    assert not reader.has_data()
    reader.feed(b"+OK\r\n:1")
    assert reader.len() == 7
    assert reader.has_data()
    assert reader.gets() == b"OK"
    assert reader.len() == 2
    assert reader.gets() is False
    reader.feed(b"\r\n")
    assert reader.gets() == 1
    assert reader.len() == 0
    assert not reader.has_data()
    # A consumed aggregate header is no longer counted.
    reader.feed(b"*2\r\n:1\r\n")
    assert reader.gets() is False
    assert reader.len() == 0


def test_maxbuf(Reader):
    reader = Reader()
    assert reader.getmaxbuf() == 16 * 1024
    reader.setmaxbuf(1000)
    assert reader.getmaxbuf() == 1000
    reader.setmaxbuf(0)
    assert reader.getmaxbuf() == 0
    reader.setmaxbuf(None)
    assert reader.getmaxbuf() == 16 * 1024
    with pytest.raises(ValueError):
        reader.setmaxbuf(-1)
    with pytest.raises(TypeError):
        reader.setmaxbuf("1")
    with pytest.raises(TypeError):
        reader.setmaxbuf(1.5)
    with pytest.raises(OverflowError):
        reader.setmaxbuf(2**70)
    # The buffer keeps working across growth and shrinking.
    reader.setmaxbuf(10)
    big = b"x" * 200_000
    for _ in range(3):
        reader.feed(b"$%d\r\n%s\r\n" % (len(big), big))
        assert reader.gets() == big
        reader.feed(b"+small\r\n")
        assert reader.gets() == b"small"


def test_custom_not_enough_data(Reader):
    marker = object()
    reader = Reader(notEnoughData=marker)
    assert reader.gets() is marker
    reader.feed(b"$3\r\nab")
    assert reader.gets() is marker
    assert Reader().gets() is False
    assert Reader(notEnoughData=None).gets() is None


def test_subclassable(Reader):
    class Mine(Reader):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.extra = 1

        def gets(self, *args):
            reply = super().gets(*args)
            return ("mine", reply)

    reader = Mine(encoding="utf-8")
    reader.feed(b"+a\r\n")
    assert reader.gets() == ("mine", "a")
    assert reader.extra == 1


# -- incremental parsing, size and depth ------------------------------------------


def test_partial_aggregate_is_resumed_not_reparsed(Reader):
    seen = []
    reader = Reader(replyError=lambda message: seen.append(message) or message)
    data = b"*3\r\n-E1\r\n*2\r\n-E2\r\n-E3\r\n-E4\r\n"
    for byte in chunks(data, 1):
        reader.feed(byte)
        result = reader.gets()
    assert result == ["E1", ["E2", "E3"], "E4"]
    assert seen == ["E1", "E2", "E3", "E4"]


def test_big_bulk_in_socket_sized_chunks(Reader):
    payload = bytes(range(256)) * 40_000  # ~10 MB, with CRLFs inside
    data = b"$%d\r\n%s\r\n+after\r\n" % (len(payload), payload)
    reader = Reader(notEnoughData=NOT_ENOUGH)
    replies = read_all(reader, data, 65536)
    assert replies[0] == payload
    assert replies[1] == b"after"


def test_big_array(Reader):
    count = 100_000
    data = b"*%d\r\n" % count + b"".join(
        b"$%d\r\n%d\r\n" % (len(b"%d" % i), i) for i in range(count)
    )
    reader = Reader(notEnoughData=NOT_ENOUGH)
    (reply,) = read_all(reader, data, 16384)
    assert len(reply) == count
    assert reply[-1] == b"%d" % (count - 1)
    assert reply[12345] == b"12345"


@pytest.mark.parametrize(
    "opener", [b"*1\r\n", b"%1\r\n+k\r\n", b">1\r\n", b"~1\r\n", b"|1\r\n:0\r\n:0\r\n*1\r\n"]
)
def test_deep_nesting_parses_without_recursion(Reader, opener):
    depth = 100_000
    reader = Reader(convertSetsToLists=True)
    reader.feed(opener * depth + b":1\r\n")
    reply = reader.gets()
    levels = 0
    while isinstance(reply, (list, dict)):
        reply = next(iter(reply.values())) if isinstance(reply, dict) else reply[0]
        levels += 1
    assert levels == depth
    assert reply == 1


def test_deep_nesting_one_byte_at_a_time(Reader):
    depth = 2_000
    data = b"*1\r\n" * depth + b"$1\r\nx\r\n"
    reader = Reader()
    for byte in chunks(data, 1):
        reader.feed(byte)
        result = reader.gets()
    for _ in range(depth):
        result = result[0]
    assert result == b"x"


def test_deep_nesting_that_never_completes(Reader):
    reader = Reader()
    reader.feed(b"*2\r\n" * 200_000)
    assert reader.gets() is False
    del reader  # frees the open frames


# -- robustness ----------------------------------------------------------------


def test_reentrant_use_from_a_callback_is_refused(Reader):
    reader = None

    def sneaky(message):
        reader.feed(b"+injected\r\n")
        return message

    reader = Reader(replyError=sneaky)
    reader.feed(b"*2\r\n-E\r\n:1\r\n+next\r\n")
    with pytest.raises(RuntimeError):
        reader.gets()
    assert reader.gets() == b"next"  # the injection did not happen


def test_reader_is_collected_through_a_cycle(Reader):
    class Holder:
        def echo(self, message):
            return self

    holder = Holder()
    holder.reader = Reader(replyError=holder.echo)
    holder.reader.feed(b"*2\r\n-E\r\n")
    holder.reader.gets()  # leaves a partial reply referencing the holder
    ref = weakref.ref(holder)
    del holder
    gc.collect()
    assert ref() is None


def test_subclass_skipping_init_does_not_crash(Reader):
    class Bare(Reader):
        def __init__(self):
            pass  # no super().__init__()

    reader = Bare()
    try:
        reader.feed(b"*2\r\n:1\r\n$1\r\nx\r\n")
        reader.gets()
    except Exception:
        pass  # an error is fine (the pure twin has no attributes); a crash is not


def test_reader_is_gc_tracked(Reader):
    assert gc.is_tracked(Reader())
