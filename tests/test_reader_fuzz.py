"""Property tests of the RESP readers: differential against each other and the references.

* random well-formed RESP2/RESP3 replies, fed in random pieces, give the same
  result from the compiled reader, the pure reader, valkey-py's Python parsers
  (``_RESP2Parser``/``_RESP3Parser`` behind a fake socket) and libvalkey's
  ``Reader``, each compared on the part of RESP it documents alike;
* random and mutated bytes make both twins behave identically (same replies,
  same exception type and message) and raise nothing but the protocol error
  (or ``TypeError`` for an unhashable map key or set member), and never crash;
* a million small replies do not grow the process's memory.
"""

from __future__ import annotations

import gc
import itertools
import math
import os
import resource
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from valkey._parsers import BaseParser, Encoder, _RESP2Parser, _RESP3Parser
from valkey.exceptions import InvalidResponse

from tests.impls import speedups_module

try:
    import libvalkey
except ImportError:  # optional dependency: its comparison is skipped
    libvalkey = None

NOT_ENOUGH = object()
FUZZ = settings(
    max_examples=int(os.environ.get("READER_FUZZ_EXAMPLES", "250")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def pure():
    return speedups_module("reader", "pure")


@pytest.fixture(scope="module")
def compiled():
    return speedups_module("reader", "compiled")


# -- generating replies ------------------------------------------------------------
#
# A profile says which part of RESP a reference parses the way we do:
#   "full"      everything, for the two twins;
#   "valkeypy"  valkey-py's _RESP3Parser: no attributes, pushes only at the top,
#               nulls only as "_" (it mishandles $-1 and *-1 in RESP3), lower-case booleans;
#   "libvalkey" libvalkey: no "!", "(", "|" or pushes, integers within 64 bits;
#   "resp2"     + - : $ * only, for _RESP2Parser.

CRLF = b"\r\n"
line_text = st.binary(max_size=24).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
error_codes = st.sampled_from([b"ERR", b"WRONGTYPE", b"NOSCRIPT", b"READONLY", b"EXECABORT", b"X"])
int64 = st.integers(-(2**63), 2**63 - 1)


def bulk(payload: bytes, kind: bytes = b"$") -> bytes:
    return kind + b"%d" % len(payload) + CRLF + payload + CRLF


def double_text(value: float) -> bytes:
    if math.isnan(value):
        return b"nan"
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    return repr(value).encode()


def scalars(profile: str) -> st.SearchStrategy[bytes]:
    resp2 = [
        line_text.map(lambda t: b"+" + t + CRLF),
        st.tuples(error_codes, line_text).map(lambda ct: b"-" + ct[0] + b" " + ct[1] + CRLF),
        (int64 if profile == "libvalkey" else st.integers()).map(lambda i: b":%d\r\n" % i),
        st.binary(max_size=40).map(bulk),
    ]
    if profile != "valkeypy":
        resp2.append(st.just(b"$-1\r\n"))
    if profile == "resp2":
        return st.one_of(resp2)
    resp3 = [
        st.just(b"_\r\n"),
        st.floats().map(lambda f: b"," + double_text(f) + CRLF),
        st.sampled_from(
            [b"#t\r\n", b"#f\r\n"] + ([b"#T\r\n", b"#F\r\n"] if profile != "valkeypy" else [])
        ),
        st.binary(max_size=30).map(lambda b: bulk(b"txt:" + b, b"=")),
    ]
    if profile != "libvalkey":
        resp3.append(st.integers().map(lambda i: b"(%d\r\n" % i))
        resp3.append(
            st.tuples(error_codes, st.binary(max_size=20)).map(
                lambda ct: bulk(ct[0] + b" " + ct[1], b"!")
            )
        )
    return st.one_of(resp2 + resp3)


def hashable_scalars(profile: str) -> st.SearchStrategy[bytes]:
    """Elements that make equal keys in every implementation (no errors: they hash by id)."""
    return st.one_of(
        line_text.map(lambda t: b"+" + t + CRLF),
        (int64 if profile == "libvalkey" else st.integers()).map(lambda i: b":%d\r\n" % i),
        st.binary(max_size=20).map(bulk),
    )


def header(kind: bytes, count: int) -> bytes:
    return kind + b"%d" % count + CRLF


def aggregates(profile: str, children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    keys = hashable_scalars(profile)
    options = [
        st.lists(children, max_size=5).map(lambda items: header(b"*", len(items)) + b"".join(items))
    ]
    if profile != "valkeypy":
        options.append(st.just(b"*-1\r\n"))
    if profile == "resp2":
        return st.one_of(options)
    options += [
        st.lists(st.tuples(keys, children), max_size=4).map(
            lambda pairs: header(b"%", len(pairs)) + b"".join(k + v for k, v in pairs)
        ),
        st.lists(keys, max_size=4).map(lambda items: header(b"~", len(items)) + b"".join(items)),
    ]
    if profile == "full":
        options += [
            st.lists(children, max_size=4).map(
                lambda items: header(b">", len(items)) + b"".join(items)
            ),
            st.tuples(st.lists(st.tuples(keys, children), max_size=2), children).map(
                lambda attr: (
                    header(b"|", len(attr[0])) + b"".join(k + v for k, v in attr[0]) + attr[1]
                )
            ),
        ]
    return st.one_of(options)


def replies(profile: str) -> st.SearchStrategy[bytes]:
    tree = st.recursive(
        scalars(profile), lambda children: aggregates(profile, children), max_leaves=25
    )
    if profile == "valkeypy":
        # A push only at the top level, where valkey-py returns it (push_request=True).
        # (and never empty: valkey-py looks at its first element).
        push = st.lists(tree, min_size=1, max_size=4).map(
            lambda items: header(b">", len(items)) + b"".join(items)
        )
        return st.one_of(tree, push)
    return tree


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)] or [b""]


# -- driving the parsers ---------------------------------------------------------------


class Raised(tuple):
    """An exception that gets() raised, told apart from an error reply it returned."""


def run_reader(reader, pieces: list[bytes]) -> list:
    """Feed the pieces; every reply and every raised exception (as ``Raised``), in order."""
    outcomes = []
    for piece in pieces:
        reader.feed(piece)
        while True:
            try:
                reply = reader.gets()
            except Exception as exc:
                outcomes.append(Raised((exc,)))
                if not isinstance(exc, TypeError):
                    return outcomes  # a protocol error: the stream is over
                continue
            if reply is NOT_ENOUGH:
                break
            outcomes.append(reply)
    return outcomes


class _ChunkSocket:
    """What valkey-py's SocketBuffer reads from: the pieces, then EOF."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = [piece for piece in pieces if piece]

    def recv(self, size: int) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""

    def settimeout(self, timeout) -> None:
        pass


class _Connection:
    def __init__(self, pieces: list[bytes]) -> None:
        self._sock = _ChunkSocket(pieces)
        self.socket_timeout = None
        self.encoder = Encoder("utf-8", "strict", False)


def run_valkey_py(parser_class, pieces: list[bytes]):
    parser = parser_class(socket_read_size=65536)
    parser.on_connect(_Connection(pieces))
    if parser_class is _RESP3Parser:
        return parser.read_response(push_request=True)
    return parser.read_response()


def normal(value):
    """A comparable form across implementations (pushes and sets as lists, errors as tuples)."""
    if isinstance(value, Raised):
        return ("raised", normal(value[0]))
    if isinstance(value, BaseException):
        return ("exception", type(value), value.args)
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    if isinstance(value, (list, set, frozenset)):  # PushNotification included
        return [normal(item) for item in value]
    if isinstance(value, dict):
        return [(normal(k), normal(v)) for k, v in value.items()]
    return value


def exact(value):
    """Like normal() but keeping container types: the twins must agree on those too."""
    if isinstance(value, Raised):
        return ("raised", exact(value[0]))
    if isinstance(value, BaseException):
        return ("exception", type(value), value.args)
    if isinstance(value, float) and math.isnan(value):
        return ("nan",)
    if isinstance(value, list):
        return (type(value), [exact(item) for item in value])
    if isinstance(value, dict):
        return (dict, [(exact(k), exact(v)) for k, v in value.items()])
    if isinstance(value, set):
        return (set, sorted((exact(item) for item in value), key=repr))
    return (type(value), value)


def reader_kwargs(**extra):
    return dict(
        protocolError=InvalidResponse,
        replyError=BaseParser.parse_error,
        notEnoughData=NOT_ENOUGH,
        **extra,
    )


# -- well-formed replies -----------------------------------------------------------------


@FUZZ
@given(
    data=replies("full"),
    cuts=st.lists(st.integers(0, 2000), max_size=12),
    sets=st.booleans(),
    mutable=st.booleans(),
)
def test_twins_agree_on_any_reply_and_any_chunking(compiled, pure, data, cuts, sets, mutable):
    pieces = split(data, cuts)
    if mutable:
        # bytes may be parsed in place, other buffers are copied: mix both.
        pieces = [bytearray(p) if i % 2 else p for i, p in enumerate(pieces)]
    kwargs = reader_kwargs(convertSetsToLists=sets)
    whole = run_reader(compiled.Reader(**kwargs), [data])
    assert len(whole) == 1
    ours = run_reader(compiled.Reader(**kwargs), pieces)
    theirs = run_reader(pure.Reader(**kwargs), pieces)
    assert exact(ours) == exact(theirs) == exact(whole)


@FUZZ
@given(data=replies("valkeypy"), cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_same_as_valkey_py_resp3_parser(compiled, pure, data, cuts):
    pieces = split(data, cuts)
    expected = normal(run_valkey_py(_RESP3Parser, pieces))
    for module in (compiled, pure):
        (reply,) = run_reader(module.Reader(**reader_kwargs(convertSetsToLists=True)), pieces)
        assert normal(reply) == expected


@FUZZ
@given(data=replies("resp2"), cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_same_as_valkey_py_resp2_parser(compiled, pure, data, cuts):
    pieces = split(data, cuts)
    expected = normal(run_valkey_py(_RESP2Parser, pieces))
    for module in (compiled, pure):
        (reply,) = run_reader(module.Reader(**reader_kwargs()), pieces)
        assert normal(reply) == expected


@pytest.mark.skipif(libvalkey is None, reason="libvalkey is not installed")
@FUZZ
@given(data=replies("libvalkey"), cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_same_as_libvalkey(compiled, pure, data, cuts):
    pieces = split(data, cuts)
    kwargs = reader_kwargs(convertSetsToLists=True)
    expected = normal(run_reader(libvalkey.Reader(**kwargs), pieces))
    for module in (compiled, pure):
        assert normal(run_reader(module.Reader(**kwargs), pieces)) == expected


@FUZZ
@given(data=replies("full"), cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_decoding_twins_agree(compiled, pure, data, cuts):
    pieces = split(data, cuts)
    for errors in ("strict", "replace"):
        kwargs = reader_kwargs(encoding="utf-8", errors=errors)
        ours = run_reader(compiled.Reader(**kwargs), pieces)
        theirs = run_reader(pure.Reader(**kwargs), pieces)
        assert exact(ours) == exact(theirs)


# -- garbage ---------------------------------------------------------------------------


def check_garbage(compiled, pure, pieces: list[bytes]) -> None:
    ours = run_reader(compiled.Reader(**reader_kwargs()), pieces)
    theirs = run_reader(pure.Reader(**reader_kwargs()), pieces)
    assert exact(ours) == exact(theirs)
    for outcome in ours:
        if isinstance(outcome, Raised):
            (error,) = outcome
            assert type(error) in (InvalidResponse, TypeError), error
            if type(error) is TypeError:
                assert "unhashable" in str(error)


@FUZZ
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=8))
def test_random_bytes(compiled, pure, data, cuts):
    check_garbage(compiled, pure, split(data, cuts))


RESP_BYTES = st.sampled_from(list(b"$*%~>|!=+-:_,#(\r\n0123456789-.eEtfinaTF?;"))


@FUZZ
@given(
    data=st.lists(RESP_BYTES, max_size=200).map(bytes),
    cuts=st.lists(st.integers(0, 200), max_size=8),
)
def test_random_resp_alphabet(compiled, pure, data, cuts):
    check_garbage(compiled, pure, split(data, cuts))


@FUZZ
@given(
    data=replies("full"),
    edits=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.sampled_from("rid")),
        min_size=1,
        max_size=4,
    ),
    cuts=st.lists(st.integers(0, 2000), max_size=8),
)
def test_mutated_replies(compiled, pure, data, edits, cuts):
    mutated = bytearray(data + b"+next\r\n")
    for where, byte, how in edits:
        where %= len(mutated) + 1
        if how == "r" and where < len(mutated):
            mutated[where] = byte
        elif how == "i":
            mutated.insert(where, byte)
        elif where < len(mutated):
            del mutated[where]
    check_garbage(compiled, pure, split(bytes(mutated), cuts))


# -- memory ----------------------------------------------------------------------------


def current_rss() -> int:
    """Resident memory in bytes (Linux: now; elsewhere: the peak so far)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


BATCH = (
    b"+OK\r\n:42\r\n$5\r\nhello\r\n_\r\n-ERR nope\r\n,1.5\r\n#t\r\n(99\r\n"
    b"*2\r\n$1\r\na\r\n:1\r\n%1\r\n+k\r\n$1\r\nv\r\n~1\r\n:1\r\n>2\r\n+m\r\n:1\r\n"
    b"|1\r\n+a\r\n+b\r\n!3\r\nERR\r\n=5\r\ntxt:x\r\n"
)


@pytest.mark.parametrize("impl", ["compiled", "pure"])
def test_a_million_replies_do_not_grow_memory(impl):
    reader_class = speedups_module("reader", impl).Reader
    reader = reader_class(notEnoughData=NOT_ENOUGH, replyError=BaseParser.parse_error)
    per_batch = len(run_reader(reader, [BATCH]))
    batches = 1_000_000 // per_batch
    half = len(BATCH) // 2

    def run(rounds: int) -> int:
        count = 0
        gets = reader.gets
        for _ in range(rounds):
            # Split mid-reply so that partial replies are carried over too.
            reader.feed(BATCH[:half])
            while gets() is not NOT_ENOUGH:
                count += 1
            reader.feed(BATCH[half:])
            while gets() is not NOT_ENOUGH:
                count += 1
        return count

    run(batches // 10)  # warm up: allocator pools, caches
    gc.collect()
    before = current_rss()
    assert run(batches) == batches * per_batch
    gc.collect()
    grown = current_rss() - before
    assert grown < 8 * 1024 * 1024, f"RSS grew by {grown} bytes"
