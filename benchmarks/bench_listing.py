"""A mailbox of a million messages: how long until the first RETR, and what the listing costs.

Issue 14.4: 10**6 messages in UIDL/LIST took 112 s and 382 MB before the first RETR. This runs
``Importer.run`` (SQLite store in a file) against a small POP3 server in a process of its own
that lists ``--messages`` messages and ends the session at the first RETR, and measures:

* **start**: seconds from ``Importer.run`` to the server receiving the first RETR;
* **peak RSS**: the importer process's peak resident memory over its own at the start;
* **listing**: bytes per listed message that ``POP3Fetcher.open()`` keeps (tracemalloc, in a run
  of its own so that tracing does not slow the timed one).

Each variant runs in a fresh interpreter: ``branch`` is this checkout's ``src``; ``baseline`` is
``--baseline`` (default: the ``main`` branch, exported with ``git archive``), measured in the
same sitting so that the ratios compare like with like. Run on purpose, never by the tests::

    python benchmarks/bench_listing.py                 # 10**6 messages, 3 rounds
    python benchmarks/bench_listing.py --messages 300000 --repeat 1 --baseline-ref HEAD~5
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent


# -- the server (a process of its own) -----------------------------------------------------------


def _serve(listener: socket.socket, count: int, first_retr: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    uidl = b"".join(b"%d 0000%06x-%08d\r\n" % (n, n, n) for n in range(1, count + 1)) + b".\r\n"
    sizes = b"".join(b"%d %d\r\n" % (n, 2000 + n % 997) for n in range(1, count + 1)) + b".\r\n"
    while True:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(b"+OK bench <1@bench>\r\n")
            buffer = b""
            while True:
                while b"\r\n" not in buffer:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    buffer += chunk
                if b"\r\n" not in buffer:
                    break
                line, buffer = buffer.split(b"\r\n", 1)
                command = line.split(b" ", 1)[0].upper()
                if command == b"CAPA":
                    connection.sendall(b"+OK\r\nUSER\r\nUIDL\r\nPIPELINING\r\n.\r\n")
                elif command == b"UIDL":
                    connection.sendall(b"+OK\r\n" + uidl)
                elif command == b"LIST":
                    connection.sendall(b"+OK\r\n" + sizes)
                elif command == b"RETR":
                    first_retr.put(time.monotonic())
                    break  # the measurement ends here: drop the connection
                elif command == b"QUIT":
                    connection.sendall(b"+OK\r\n")
                    break
                else:
                    connection.sendall(b"+OK\r\n")


# -- one measurement (a fresh interpreter) ---------------------------------------------------------


def _child(mode: str, port: int, db: str) -> None:
    import resource

    from mailtrack import Importer, MailInterface, Security
    from mailtrack.fetching import POP3Fetcher
    from mailtrack.stores import SQLRecordStore

    interface = MailInterface(
        name="bench",
        server="127.0.0.1",
        port=port,
        login="bench",
        password="bench",
        security=Security.NONE,
        timeout=600,
    )
    page = os.sysconf("SC_PAGE_SIZE")
    if mode == "listing":
        import gc
        import tracemalloc

        fetcher = POP3Fetcher(interface)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        listing = fetcher.open()
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        fetcher.close(commit=False)
        print(json.dumps({"bytes_per_message": kept / len(listing)}))
        return
    with SQLRecordStore(f"sqlite:///{db}") as store:
        importer = Importer(store=store, lease_seconds=3600)
        with open("/proc/self/statm") as statm:
            rss_before = int(statm.read().split()[1]) * page
        started = time.monotonic()
        importer.run(interface)
        finished = time.monotonic()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"started": started, "finished": finished, "peak_over_start": peak - rss_before}))


def _measure(src: Path, mode: str, port: int, queue: multiprocessing.Queue) -> dict[str, float]:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "PYTHONPATH": str(src)}
        done = subprocess.run(
            [sys.executable, str(HERE), "--child", mode, str(port), str(Path(scratch) / "bench.db")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=scratch,
        )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    if mode == "run":
        result["start_seconds"] = queue.get(timeout=600) - result["started"]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-ref", default="main", help="git ref measured as the baseline")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "PORT", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), args.child[2])
        return 0

    listener = socket.create_server(("127.0.0.1", 0))
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    server = multiprocessing.Process(target=_serve, args=(listener, args.messages, queue), daemon=True)
    server.start()
    port = listener.getsockname()[1]
    with tempfile.TemporaryDirectory() as scratch:
        baseline = Path(scratch) / "baseline"
        baseline.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.baseline_ref, "src"], cwd=ROOT, check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
        variants = {"baseline": baseline / "src", "branch": ROOT / "src"}
        results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        listing: dict[str, float] = {}
        for name, src in variants.items():
            listing[name] = _measure(src, "listing", port, queue)["bytes_per_message"]
        for _round in range(args.repeat):
            for name, src in variants.items():
                results[name].append(_measure(src, "run", port, queue))
    server.terminate()

    def median(name: str, key: str) -> float:
        return statistics.median(sample[key] for sample in results[name])

    print(f"{args.messages} listed messages, {args.repeat} round(s), baseline = {args.baseline_ref}")
    print(f"{'':28}{'baseline':>14}{'branch':>14}{'branch/baseline':>18}")
    rows = [
        (
            "seconds to the first RETR",
            median("baseline", "start_seconds"),
            median("branch", "start_seconds"),
            "{:.2f}",
        ),
        (
            "peak RSS over start, MB",
            median("baseline", "peak_over_start") / 1e6,
            median("branch", "peak_over_start") / 1e6,
            "{:.0f}",
        ),
        ("listing bytes per message", listing["baseline"], listing["branch"], "{:.0f}"),
    ]
    for label, base, branch, form in rows:
        print(f"{label:28}{form.format(base):>14}{form.format(branch):>14}{branch / base:>18.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
