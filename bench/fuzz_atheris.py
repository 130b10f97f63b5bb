"""Coverage-guided fuzzing (atheris / libFuzzer) of the compiled Reader and Codec.

``tests/test_fuzz_atheris.py`` runs it for a few seconds per target in CI;
run it longer by hand:

    python bench/fuzz_atheris.py --seconds 60            # every target
    python bench/fuzz_atheris.py --seconds 30 --target reader-default

Each target runs in a child process of its own (libFuzzer owns the process:
it exits on the first crash and keeps its own state), for ``--seconds``
seconds.  A target fails when the child does not exit normally: an exception
of an undocumented type escaped, the compiled and pure twins disagreed, or the
interpreter crashed.  Crash inputs are written to ``--artifacts``.

Targets:

* ``reader-default`` / ``reader-custom``: the compiled ``Reader`` fed
  arbitrary bytes in chunks (the first input byte picks the chunk size), with
  ``gets()`` called until it returns ``notEnoughData``.  ``-default`` keeps the
  reader's own ``ProtocolError``; ``-custom`` passes valkey-py's
  ``InvalidResponse`` as ``protocolError`` and decodes replies as UTF-8 with
  ``errors="replace"``.  Allowed to escape: the protocol error type, and
  ``TypeError`` for an unhashable map key (documented in ``_reader_py``).
* ``codec-pickle-zlib`` / ``codec-json``: the compiled ``Codec.decode`` of
  arbitrary bytes, pickle + zlib and json + no compression.  Allowed to escape:
  ``CorruptValueError``, ``DecompressedSizeError``, and ``MemoryError`` (the
  child's address space is capped: some tiny pickles ask for gigabytes).  Unpickling any global is
  refused by an audit hook (arbitrary pickles can name any callable), so a
  pickle naming one must come out as ``CorruptValueError`` too.

Every input is also run through the pure twin (``_reader_py`` / ``_codec_py``),
which atheris instruments: its coverage guides the search (the compiled module
is not instrumented), and the two must agree on the result or the exception
type and message.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADDRESS_SPACE_LIMIT = 4 << 30
TARGETS = ("reader-default", "reader-custom", "codec-pickle-zlib", "codec-json")


# The child: one target under libFuzzer --------------------------------------------


class BlockedGlobal(RuntimeError):
    """An unpickled global was refused by the audit hook."""


def _refuse_pickle_globals(event: str, args: Any) -> None:
    if event == "pickle.find_class":
        raise BlockedGlobal(f"refused to unpickle {args[0]}.{args[1]}")


def _outcome(call: Any, allowed: tuple[type[BaseException], ...]) -> tuple[str, str]:
    """``("ok", repr(result))`` or ``("raised", type and message)``; others escape."""
    try:
        return "ok", repr(call())
    except allowed as exc:
        return "raised", f"{type(exc).__name__}: {exc}"


def _reader_target(custom: bool) -> Any:
    import atheris

    with atheris.instrument_imports():
        from django_valkey._speedups import _reader_py
    from valkey.exceptions import InvalidResponse

    from django_valkey._speedups import _reader as _reader_c

    not_enough = object()
    if custom:
        kwargs: dict[str, Any] = {
            "protocolError": InvalidResponse,
            "encoding": "utf-8",
            "errors": "replace",
            "convertSetsToLists": True,
        }
        allowed: tuple[type[BaseException], ...] = (InvalidResponse, TypeError)
    else:
        kwargs = {}
        allowed = (_reader_py.ProtocolError, TypeError)

    def run(reader_cls: type, data: bytes) -> list[tuple[str, str]]:
        reader = reader_cls(notEnoughData=not_enough, **kwargs)
        chunk = (data[0] % 16) + 1 if data else 1
        body = data[1:]
        replies: list[tuple[str, str]] = []
        for start in range(0, max(len(body), 1), chunk):
            reader.feed(body[start : start + chunk])
            # Every reply takes at least one byte: this bounds the loop.
            for _ in range(len(body) + 2):
                kind, text = _outcome(reader.gets, allowed)
                if kind == "ok" and text == repr(not_enough):
                    break
                replies.append((kind, text))
                if kind == "raised":
                    return replies  # the reader is out of sync now: drop it
            else:
                raise AssertionError("gets() never ran out of data")
        return replies

    def one_input(data: bytes) -> None:
        compiled = run(_reader_c.Reader, data)
        pure = run(_reader_py.Reader, data)
        if compiled != pure:
            raise AssertionError(f"twins disagree on {data!r}:\n{compiled}\n{pure}")

    return one_input


def _codec_target(serializer: str) -> Any:
    import atheris
    import django
    from django.conf import settings

    settings.configure(USE_TZ=True)
    django.setup()
    with atheris.instrument_imports():
        from django_valkey._speedups import _codec_py
    from django_valkey._speedups import _codec as _codec_c
    from django_valkey.compressors.identity import IdentityCompressor
    from django_valkey.compressors.zlib import ZlibCompressor
    from django_valkey.exceptions import CorruptValueError, DecompressedSizeError
    from django_valkey.serializers.json import JSONSerializer
    from django_valkey.serializers.pickle import PickleSerializer

    sys.addaudithook(_refuse_pickle_globals)
    if serializer == "pickle":
        parts: tuple[Any, Any] = (PickleSerializer(options={}), ZlibCompressor(options={}))
    else:
        parts = (JSONSerializer(options={}), IdentityCompressor(options={}))
    compiled = _codec_c.Codec(*parts)
    pure = _codec_py.Codec(*parts)
    # MemoryError: see child(); both twins must still agree on it.
    allowed = (CorruptValueError, DecompressedSizeError, MemoryError)

    def one_input(data: bytes) -> None:
        got = _outcome(lambda: compiled.decode(data, "k"), allowed)
        want = _outcome(lambda: pure.decode(data, "k"), allowed)
        if got != want:
            raise AssertionError(f"twins disagree on {data!r}:\n{got}\n{want}")

    return one_input


def child(target: str, libfuzzer_args: list[str]) -> None:
    import resource

    import atheris

    # A few bytes of pickle can ask for any amount of memory (LONG_BINPUT with a
    # memo index of 2**31 makes CPython size its memo table for it): with the
    # address space capped that is a MemoryError at once, not a process the
    # kernel kills for its resident size somewhere past -rss_limit_mb.
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))

    if target.startswith("reader-"):
        one_input = _reader_target(custom=target == "reader-custom")
    else:
        one_input = _codec_target(target.removeprefix("codec-").split("-")[0])
    atheris.Setup([sys.argv[0], *libfuzzer_args], one_input)
    atheris.Fuzz()


# The parent: one child per target ---------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="per target")
    parser.add_argument("--target", choices=TARGETS, action="append")
    parser.add_argument("--artifacts", default=None, help="directory for crash inputs")
    parser.add_argument("--child", choices=TARGETS, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.child:
        child(args.child, rest)
        return 0

    artifacts = args.artifacts or tempfile.mkdtemp(prefix="fuzz-atheris-")
    os.makedirs(artifacts, exist_ok=True)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
    }
    failed = []
    for target in args.target or TARGETS:
        command = [
            sys.executable, os.path.abspath(__file__), "--child", target,
            f"-max_total_time={args.seconds}",
            f"-artifact_prefix={os.path.join(artifacts, target)}-",
            "-rss_limit_mb=2048", "-timeout=10", "-max_len=4096", "-print_final_stats=1",
        ]  # fmt: skip
        result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        stats = [line for line in result.stderr.splitlines() if line.startswith("stat::")]
        runs = next((line.split()[-1] for line in stats if "number_of_executed_units" in line), "?")
        print(f"{target:20s} exit {result.returncode}  inputs run: {runs}")
        if result.returncode != 0:
            failed.append(target)
            print(result.stderr[-4000:], file=sys.stderr)
    print(f"artifacts: {artifacts}")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
