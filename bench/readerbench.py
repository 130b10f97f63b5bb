"""Microbenchmark of the RESP readers, no server needed.

Compares, in one run and on the same bytes, our compiled ``Reader`` with
libvalkey's ``Reader`` (the reference for the compiled one), and our pure-Python
``Reader`` with valkey-py's ``_RESP2Parser`` (the reference for the pure one).
``_RESP2Parser`` reads from a fake socket that hands over the whole payload in
one ``recv``, so only its parsing is measured, not I/O.

The implementations are timed in turns, case by case, and the best of several
rounds is kept, so a busy machine slows every contender alike.  The clock is
the thread's CPU time by default, so time spent descheduled by other processes
does not count; ``--clock wall`` uses ``perf_counter`` instead.

    python bench/readerbench.py [--rounds N] [--target-ms MS] [--clock cpu|wall]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from valkey._parsers import Encoder, _RESP2Parser

from django_valkey._speedups import _reader_py

try:
    from django_valkey._speedups import _reader as _reader_c
except ImportError:  # not built: the compiled columns are skipped
    _reader_c = None  # type: ignore[assignment]

try:
    import libvalkey
except ImportError:
    libvalkey = None  # type: ignore[assignment]


def bulk(payload: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(payload), payload)


# name -> (bytes of the replies, number of replies in them)
CASES: dict[str, tuple[bytes, int]] = {
    "+OK": (b"+OK\r\n", 1),
    "bulk 115 B": (bulk(b"v" * 115), 1),
    "bulk 100 KB": (bulk(b"v" * 100 * 1024), 1),
    "array of 100 bulks": (b"*100\r\n" + bulk(b"e" * 100) * 100, 1),
    "100 pipelined replies": (b"+OK\r\n" * 100, 100),
}


def reader_runner(reader_class: type, data: bytes, replies: int) -> Callable[[], object]:
    reader = reader_class()
    feed, gets = reader.feed, reader.gets
    if replies == 1:

        def run() -> object:
            feed(data)
            return gets()

    else:

        def run() -> object:
            feed(data)
            for _ in range(replies):
                result = gets()
            return result

    return run


class _FakeSocket:
    """Hands the whole payload to the first ``recv`` after ``load``."""

    def __init__(self) -> None:
        self.data = b""

    def load(self, data: bytes) -> None:
        self.data = data

    def recv(self, size: int) -> bytes:
        data, self.data = self.data, b""
        return data

    def settimeout(self, timeout: float | None) -> None:
        pass


class _FakeConnection:
    def __init__(self) -> None:
        self._sock = _FakeSocket()
        self.socket_timeout = None
        self.encoder = Encoder("utf-8", "strict", False)


def resp2_runner(data: bytes, replies: int) -> Callable[[], object]:
    connection = _FakeConnection()
    parser = _RESP2Parser(socket_read_size=65536)
    parser.on_connect(connection)
    load, read = connection._sock.load, parser.read_response

    def run() -> object:
        load(data)
        for _ in range(replies):
            result = read()
        return result

    return run


def contenders() -> dict[str, Callable[[bytes, int], Callable[[], object]]]:
    found: dict[str, Callable[[bytes, int], Callable[[], object]]] = {}
    if _reader_c is not None:
        found["compiled"] = lambda d, n: reader_runner(_reader_c.Reader, d, n)
    if libvalkey is not None:
        found["libvalkey"] = lambda d, n: reader_runner(libvalkey.Reader, d, n)
    found["pure"] = lambda d, n: reader_runner(_reader_py.Reader, d, n)
    found["_RESP2Parser"] = resp2_runner
    return found


CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]


def calibrate(run: Callable[[], object], target: float) -> int:
    """Iterations that take about ``target`` seconds."""
    number = 1
    while True:
        start = clock()
        for _ in range(number):
            run()
        elapsed = clock() - start
        if elapsed >= target / 4:
            return max(1, int(number * target / elapsed))
        number *= 4


def measure(rounds: int, target: float) -> dict[str, dict[str, float]]:
    """Best µs per operation, by case and contender."""
    results: dict[str, dict[str, float]] = {}
    for case, (data, replies) in CASES.items():
        runs = {name: make(data, replies) for name, make in contenders().items()}
        for name, run in runs.items():
            expected = reader_runner(_reader_py.Reader, data, replies)()
            if run() != expected:
                raise AssertionError(f"{name} parsed {case!r} differently")
        numbers = {name: calibrate(run, target) for name, run in runs.items()}
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(rounds):
            for name, run in runs.items():
                number = numbers[name]
                start = clock()
                for _ in range(number):
                    run()
                per_op = (clock() - start) / number * 1e6
                best[name] = min(best[name], per_op)
        results[case] = best
    return results


def ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None:
        return "-"
    return f"{numerator / denominator:.2f}"


def show(results: dict[str, dict[str, float]]) -> None:
    header = (
        f"{'case':<24}{'compiled':>10}{'libvalkey':>11}{'ours/lv':>9}"
        f"{'pure':>10}{'_RESP2P':>10}{'pure/R2P':>10}"
    )
    print("µs per operation (best of the rounds); ratios below 1.00 mean ours is faster")
    print(header)
    print("-" * len(header))
    for case, best in results.items():
        compiled, reference = best.get("compiled"), best.get("libvalkey")
        pure, resp2 = best["pure"], best["_RESP2Parser"]

        def cell(value: float | None) -> str:
            return f"{value:10.3f}" if value is not None else f"{'-':>10}"

        print(
            f"{case:<24}{cell(compiled)}{cell(reference):>11}{ratio(compiled, reference):>9}"
            f"{cell(pure)}{cell(resp2)}{ratio(pure, resp2):>10}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds per case")
    parser.add_argument("--target-ms", type=float, default=40.0, help="duration of one timing (ms)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu", help="what to time")
    options = parser.parse_args()
    global clock
    clock = CLOCKS[options.clock]
    show(measure(options.rounds, options.target_ms / 1000))


if __name__ == "__main__":
    main()
