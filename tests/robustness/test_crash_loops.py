"""Issue 14.5: a message that kills the importer every time is quarantined after ``max_crashes``.

The converter SIGKILLs its own process on one message of the mailbox. Each run that dies leaves
its attempts in the store; after ``max_crashes`` (3) crashes the next run quarantines that
message from its raw bytes, unparsed, and imports every other message once. The messages that
were converted beside it (its batch-mates) are never quarantined: after a crash the suspects
are converted one at a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

from _tally import audit, record
from mailtrack.stores.sql import SQLRecordStore
from mailtrack.testing import POP3TestServer, build_message

WORKER = Path(__file__).resolve().parent.parent / "support" / "_crash_loop_worker.py"
MAX_CRASHES = 3


def run_worker(db: Path, port: int, workers: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(WORKER), str(db), str(port), str(workers)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "worker-processes"])
def test_a_message_that_kills_the_importer_is_quarantined_after_max_crashes(
    tmp_path: Path, workers: int
) -> None:
    count = 30 if workers else 12
    crasher = count // 3
    originals = {
        f"uid-{n:03d}": build_message(
            subject=f"message {n}",
            message_id=f"<m{n}@example.org>",
            headers={"X-Crash": "yes"} if n == crasher else {},
        )
        for n in range(count)
    }
    db = tmp_path / "crash.db"
    with POP3TestServer(list(originals.items())) as server:
        outcomes = []
        for _ in range(MAX_CRASHES + 1):
            done = run_worker(db, server.port, workers)
            outcomes.append(done.returncode)
            if done.returncode == 0:
                report = json.loads(done.stdout.strip().splitlines()[-1])
                break
            time.sleep(1.1)  # the dead worker's one-second lease expires
        on_server = [uid for uid, _raw in server.mailbox]

    # Killed MAX_CRASHES times, then a run that ends.
    assert outcomes == [-9] * MAX_CRASHES + [0], outcomes
    assert report["error"] is None
    with SQLRecordStore(f"sqlite:///{db}") as store:
        [held] = store.list_quarantined()
        assert held.uid == f"uid-{crasher:03d}"
        assert held.error.startswith(f"crashed the importer {MAX_CRASHES} times")
        assert held.raw == originals[held.uid]  # kept whole, never parsed again
        assert on_server == [held.uid]  # the mailbox drained but for it (kept by the quarantine)
        result = audit(store, "support", originals, on_server)
        assert store.conversion_attempts("support", list(originals)) == {}
    assert (result.lost, result.duplicated) == ((), ())
    assert result.imported == frozenset(originals) - {held.uid}
    record(faults=MAX_CRASHES, messages=count)
