"""What starting conversion worker processes costs, by start method: fork, forkserver, spawn.

Each sample runs in a fresh interpreter, as an importer process would: it starts the workers
(``mailtrack._importing.conversions``, the importer's own pool, with ``MailParserConverter``),
converts ``--messages`` small messages in them, stops them, and then does the same once more in
the same process (a forkserver is running by then). The conversions alone, in the calling
thread, are the baseline. Two kinds of host process:

* ``script``: the host's main script imports mailtrack;
* ``embedded``: the main module does not import mailtrack (``python -c``, as under an
  application server).

Workers never import the host's main module: a spawned worker and mailtrack's fork server import
mailtrack themselves, and the fork server forks workers with it imported.

The methods take turns for ``--repeat`` rounds; the table gives medians and each method's ratio
to fork measured in the same run. It is run on purpose, never by the test suite::

    python benchmarks/bench_start_method.py
    python benchmarks/bench_start_method.py --repeat 9 --workers 2 --messages 16
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from mailtrack import MailParserConverter, __version__
from mailtrack._importing.conversions import Conversions, start_pool
from mailtrack.testing import build_message

HERE = Path(__file__).resolve()
METHODS = ("inline", "fork", "forkserver", "spawn")


def convert_once(method: str, workers: int, messages: list[bytes]) -> float:
    """Seconds to start the workers, convert *messages* in them and stop them."""
    received = datetime.now(timezone.utc)
    started = time.perf_counter()
    converter = MailParserConverter()
    pool = None if method == "inline" else start_pool(converter, workers, method)
    conversions = Conversions(converter, pool, owns_pool=True)
    try:
        tickets = [conversions.submit(raw, received) for raw in messages]
        subjects = [conversions.result(ticket).subject for ticket in tickets]
    finally:
        conversions.close()
    elapsed = time.perf_counter() - started
    if len(subjects) != len(messages) or (method != "inline" and conversions.start_method != method):
        raise SystemExit(f"{method}: the conversions did not run as asked")
    return elapsed


def sample(method: str, workers: int, count: int) -> None:
    """One fresh process's figures, printed as JSON: the first pool and a second one."""
    messages = [
        build_message(subject=f"Printer {n} is jammed", text=f"printer {n} jams on every page\n" * 20)
        for n in range(count)
    ]
    first = convert_once(method, workers, messages)
    again = convert_once(method, workers, messages)
    print(json.dumps({"first": first, "again": again}))


def run_sample(host: str, method: str, workers: int, count: int) -> dict[str, float]:
    arguments = [method, str(workers), str(count)]
    if host == "script":
        command = [sys.executable, str(HERE), "--sample", *arguments]
    else:
        code = (
            f"import sys; sys.path.insert(0, {str(HERE.parent)!r}); import bench_start_method as b; "
            f"b.sample({method!r}, {workers}, {count})"
        )
        command = [sys.executable, "-c", code]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds; medians are reported (7)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (2)")
    parser.add_argument("--messages", type=int, default=16, help="messages converted per pool (16)")
    parser.add_argument(
        "--sample", nargs=3, metavar=("METHOD", "WORKERS", "MESSAGES"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.sample:
        sample(args.sample[0], int(args.sample[1]), int(args.sample[2]))
        return

    print(
        f"Python {platform.python_version()}, mailtrack {__version__}, {platform.machine()}, "
        f"{args.workers} workers, {args.messages} messages, {args.repeat} rounds"
    )
    times: dict[tuple[str, str, str], list[float]] = {}
    for _round in range(args.repeat):
        for host in ("script", "embedded"):
            for method in METHODS:
                result = run_sample(host, method, args.workers, args.messages)
                for which, seconds in result.items():
                    times.setdefault((host, method, which), []).append(seconds)
    print()
    print("| host | method | first pool ms | vs fork | second pool ms | vs fork |")
    print("|---|---|---:|---:|---:|---:|")
    for host in ("script", "embedded"):
        fork_first = statistics.median(times[host, "fork", "first"])
        fork_again = statistics.median(times[host, "fork", "again"])
        for method in METHODS:
            first = statistics.median(times[host, method, "first"])
            again = statistics.median(times[host, method, "again"])
            print(
                f"| {host} | {method} | {first * 1000:.0f} | {first / fork_first:.2f} "
                f"| {again * 1000:.0f} | {again / fork_again:.2f} |"
            )


if __name__ == "__main__":
    main()
