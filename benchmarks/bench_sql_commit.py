"""How much batching commits speeds up importing into SQLite: ``commit`` per message vs ``commit_many``.

Builds N small raw messages (``mailtrack.testing.build_message``), converts them with
``MailParserConverter`` *before* timing, then times only the store: each message committed in
its own transaction (what the importer does today: a message is deleted on the server only after
its own commit), against ``commit_many`` in batches of 10, 100 and 1000 (one transaction per
batch: the server deletions of a batch would wait for that batch's commit). Every run starts
from a fresh database file; the modes take turns for ``--repeat`` rounds and the median counts.

It is run on purpose, not by the test suite::

    python benchmarks/bench_sql_commit.py                 # 10,000 messages, SQLite file in /tmp
    python benchmarks/bench_sql_commit.py -n 2000 --batch 50 500 --repeat 5
    python benchmarks/bench_sql_commit.py --url postgresql+psycopg://postgres@127.0.0.1/bench

With ``--url`` the tables in that database are dropped and created again for every run.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from mailtrack import CreateRecord, IncomingMessage, MailParserConverter, __version__
from mailtrack.stores.sql import SQLRecordStore
from mailtrack.testing import build_message


def make_messages(count: int) -> list[IncomingMessage]:
    converter = MailParserConverter()
    received = datetime.now(timezone.utc)
    return [
        converter.convert(
            build_message(
                subject=f"Printer {n} is jammed",
                message_id=f"<bench.{n}@customer.example>",
                text=f"Hello,\n\nprinter {n} jams on every second page.\n\nAlice\n",
            ),
            received_at=received,
        )
        for n in range(count)
    ]


def fresh_store(url: str | None, folder: Path, label: str) -> SQLRecordStore:
    if url is None:
        return SQLRecordStore(f"sqlite:///{folder / f'{label}.db'}")
    engine = sa.create_engine(url)
    SQLRecordStore.metadata.drop_all(engine)
    engine.dispose()
    return SQLRecordStore(url)


def timed(store: SQLRecordStore, work: Callable[[SQLRecordStore], None], expected: int) -> float:
    started = time.perf_counter()
    work(store)
    elapsed = time.perf_counter() - started
    count = len(store.list_records(limit=expected + 1))
    if count != expected:
        raise SystemExit(f"expected {expected} records, found {count}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-n", "--messages", type=int, default=10_000, help="messages to import (10000)")
    parser.add_argument("--batch", type=int, nargs="+", default=[10, 100, 1000], help="batch sizes")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median is reported (3)")
    parser.add_argument("--url", help="another database than a fresh SQLite file (its tables are replaced)")
    args = parser.parse_args()

    print(f"converting {args.messages} messages …", flush=True)
    messages = make_messages(args.messages)
    items = [
        ("support", f"uid-{n}", CreateRecord(message=message, project="bench", title=message.subject))
        for n, message in enumerate(messages)
    ]

    def one_by_one(store: SQLRecordStore) -> None:
        for interface, uid, action in items:
            store.commit(interface, uid, action)

    def batches(size: int) -> Callable[[SQLRecordStore], None]:
        def work(store: SQLRecordStore) -> None:
            for start in range(0, len(items), size):
                store.commit_many(items[start : start + size])

        return work

    runs: list[tuple[str, Callable[[SQLRecordStore], None]]] = [("commit per message", one_by_one)]
    runs += [(f"commit_many, batches of {size}", batches(size)) for size in args.batch]

    # The modes take turns, round after round, so that a slow moment of the disk (fsync times
    # vary a lot on shared machines) does not fall on one mode only; the median is reported.
    seconds: dict[str, list[float]] = {label: [] for label, _ in runs}
    where = ""
    with tempfile.TemporaryDirectory(prefix="mailtrack-bench-") as folder:
        for round_number in range(args.repeat):
            for label, work in runs:
                name = f"{round_number}-{label.replace(' ', '_').replace(',', '')}"
                store = fresh_store(args.url, Path(folder), name)
                try:
                    seconds[label].append(timed(store, work, len(items)))
                    where = repr(store)
                finally:
                    store.close()
                print(f"  round {round_number + 1}: {label}: {seconds[label][-1]:.2f} s", flush=True)

    print()
    print(
        f"mailtrack {__version__}, SQLAlchemy {sa.__version__}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}"
    )
    print(f"database: {where if args.url else 'a fresh SQLite file per run (WAL, synchronous=FULL)'}")
    print(f"{len(items)} messages, median of {args.repeat} rounds\n")
    baseline = statistics.median(seconds[runs[0][0]])
    print(f"{'mode':<32} {'seconds':>9} {'(min-max)':>13} {'messages/s':>11} {'speed-up':>9}")
    for label, _ in runs:
        median = statistics.median(seconds[label])
        spread = f"{min(seconds[label]):.1f}-{max(seconds[label]):.1f}"
        print(
            f"{label:<32} {median:>9.2f} {spread:>13} {len(items) / median:>11.0f} {baseline / median:>8.1f}x"
        )


if __name__ == "__main__":
    main()
