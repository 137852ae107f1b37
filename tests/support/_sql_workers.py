"""What the worker processes of ``test_sql_concurrency`` run (spawned: a fresh interpreter each).

Each function opens its own :class:`~mailtrack.stores.sql.SQLRecordStore` on the URL it is
given, waits at the barrier so that all workers start together, and writes what it saw to a
JSON file that the test reads.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mailtrack import (
    ConnectionCheck,
    CreateRecord,
    Importer,
    MailInterface,
    MessageInfo,
    POP3Fetcher,
    SkipMessage,
)
from mailtrack.abc import Fetcher
from mailtrack.stores.sql import SQLRecordStore
from mailtrack.testing import make_incoming


def _write(path: str, data: Any) -> None:
    Path(path).write_text(json.dumps(data), encoding="utf-8")


def _create(message_id: str, subject: str) -> CreateRecord:
    return CreateRecord(
        message=make_incoming(message_id=message_id, subject=subject), project="p", title=subject
    )


def commit_race(url: str, worker: int, messages: int, barrier: Any, out: str, batch: bool) -> None:
    """Commit the same messages as every other worker: each under the shared ("support", uid)
    pair, and each again through this worker's own mailbox (same Message-ID, new pair)."""
    store = SQLRecordStore(url)
    items: list[tuple[str, str, Any]] = []
    for n in range(messages):
        items.append(("support", f"uid-{n}", _create(f"m{n}@example.com", f"worker {worker} message {n}")))
        items.append((f"mailbox-{worker}", f"uid-{n}", _create(f"m{n}@example.com", f"again {n}")))
        items.append(("skips", f"uid-{n}", SkipMessage(reason="race")))
    barrier.wait(timeout=60)
    if batch:
        results = []
        for start in range(0, len(items), 7):
            results.extend(store.commit_many(items[start : start + 7]))
    else:
        results = [store.commit(interface, uid, action) for interface, uid, action in items]
    store.close()
    _write(
        out,
        [
            [item[0], item[1], result.outcome.value, result.record_id]
            for item, result in zip(items, results, strict=True)
        ],
    )


def lease_race(url: str, worker: int, barrier: Any, out: str) -> None:
    """Ask for one lease at the same moment as every other worker."""
    store = SQLRecordStore(url)
    barrier.wait(timeout=60)
    won = store.acquire_lease("support", f"worker-{worker}", 60)
    store.close()
    _write(out, won)


class RecordingFetcher:
    """A POP3Fetcher that notes when its session began and ended (system-wide monotonic clock)."""

    def __init__(self, interface: MailInterface, worker: str, sessions: list[Any], die_after: int | None):
        self._inner = POP3Fetcher(interface)
        self._name = interface.name
        self._worker = worker
        self._sessions = sessions
        self._die_after = die_after
        self._deleted = 0
        self._started = 0.0

    def open(self) -> Sequence[MessageInfo]:
        self._started = time.monotonic()
        return self._inner.open()

    def retrieve_many(self, messages: Sequence[MessageInfo]) -> Iterator[tuple[MessageInfo, bytes]]:
        return self._inner.retrieve_many(messages)

    def delete(self, message: MessageInfo) -> None:
        self._inner.delete(message)
        self._deleted += 1
        if self._die_after is not None and self._deleted >= self._die_after:
            os.kill(os.getpid(), signal.SIGKILL)  # a crash: no QUIT, no lease release

    def close(self, *, commit: bool) -> None:
        try:
            self._inner.close(commit=commit)
        finally:
            self._sessions.append([self._name, self._worker, self._started, time.monotonic()])

    def check(self) -> ConnectionCheck:
        return self._inner.check()


def import_worker(url: str, worker: int, expected: int, barrier: Any, out: str, deadline: float) -> None:
    """Run ``Importer.run_all()`` over the saved interfaces until the store holds *expected* records."""
    store = SQLRecordStore(url)
    name = f"worker-{worker}"
    sessions: list[Any] = []

    def fetcher(interface: MailInterface) -> Fetcher:
        return RecordingFetcher(interface, name, sessions, None)

    importer = Importer(store=store, fetcher_factory=fetcher, worker_id=name, lease_seconds=30)
    barrier.wait(timeout=60)
    reports = []
    while time.monotonic() < deadline and len(store.list_records()) < expected:
        reports.extend(importer.run_all())
    reports.extend(importer.run_all())  # one more pass over mailboxes that should now be empty
    store.close()
    _write(
        out,
        {
            "sessions": sessions,
            "reports": [[r.interface, r.imported, r.created, r.error] for r in reports],
        },
    )


def dying_worker(url: str, interface_name: str, lease_seconds: float, die_after: int) -> None:
    """Take the lease, import *die_after* messages (one batch), and die (SIGKILL) before QUIT."""
    store = SQLRecordStore(url)
    interface = store.get_interface(interface_name)
    sessions: list[Any] = []

    def fetcher(interface: MailInterface) -> Fetcher:
        return RecordingFetcher(interface, "dying", sessions, die_after)

    Importer(
        store=store,
        fetcher_factory=fetcher,
        worker_id="dying",
        lease_seconds=lease_seconds,
        batch_size=die_after,
    ).run(interface)
