"""An archive import killed with SIGKILL at random moments, several times, then completed:
every message of the archive is in the store exactly once.

The archive is an mbox file and a Maildir (written by Python's ``mailbox``) of
``$MAILTRACK_ARCHIVE_MESSAGES`` messages in all (200 by default; ``nox -s stress`` imports 5,000).
Each round starts a fresh interpreter (``_archive_kill_worker.py``) that imports into one SQLite
file, and kills it (the whole process group, conversion workers with it) at a moment drawn from
a seeded random generator: while it starts, reads and lists the archive, or once the ledger has
reached a count (a batch committed, the next one converting). Then an import that runs to its
end must leave each message once in the store and once in the ledger.
"""

from __future__ import annotations

import functools
import mailbox
import operator
import os
import random
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL store needs SQLAlchemy (pip install 'mailtrack[sql]')")

from _killing import kill_when, ledger_size
from mailtrack.testing import build_message

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX only"),
]

WORKER = Path(__file__).parents[1] / "support" / "_archive_kill_worker.py"
MESSAGES = int(os.environ.get("MAILTRACK_ARCHIVE_MESSAGES", "200"))
KILLS = 6
SEED = 20261204


def write_archive(folder: Path, count: int) -> None:
    """An mbox file with three quarters of the messages, a Maildir with the rest."""
    in_mbox = count * 3 // 4
    box = mailbox.mbox(folder / "old.mbox")
    maildir = mailbox.Maildir(folder / "Maildir")
    for number in range(count):
        raw = build_message(
            subject=f"archived {number:05d}",
            message_id=f"archived-{number:05d}@example.com",
            text=f"message {number}\nFrom the archive\n" * 5,
        ).replace(b"\r\n", b"\n")
        (box if number < in_mbox else maildir).add(raw)
    box.close()
    maildir.close()


def _ledger_reached(db: Path, target: int, _age: float) -> bool:
    return ledger_size(db) >= target


def stored(db: Path) -> tuple[list[str], int, int]:
    """The subjects of the details, the ledger's rows and the records."""
    with sqlite3.connect(db) as conn:
        subjects = [row[0] for row in conn.execute("SELECT subject FROM mailtrack_details")]
        ledger = conn.execute("SELECT count(*) FROM mailtrack_ledger").fetchone()[0]
        records = conn.execute("SELECT count(*) FROM mailtrack_records").fetchone()[0]
    return subjects, int(ledger), int(records)


def test_an_archive_import_killed_at_random_moments_imports_every_message_once(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    write_archive(archive, MESSAGES)
    db = tmp_path / "mailtrack.db"
    rng = random.Random(SEED)
    arguments = [str(WORKER), str(db), str(archive)]
    killed_midway = 0
    for round_number in range(KILLS):
        committed = ledger_size(db)
        reached: Callable[[float], bool]
        if rng.random() < 0.3 or committed >= MESSAGES:
            delay = rng.uniform(0.0, 1.5)  # starting, listing the archive, converting the first batch
            label = f"{delay:.2f} s after the start"
            reached = functools.partial(operator.le, delay)  # delay <= age
        else:
            target = rng.randint(committed + 1, committed + max(1, (MESSAGES - committed) // 2))
            label = f"once the ledger holds {target} messages"
            reached = functools.partial(_ledger_reached, db, target)
        before = ledger_size(db)
        status = kill_when(
            arguments,
            tmp_path / f"round-{round_number}.log",
            f"in round {round_number}, {label}",
            reached,
            rng,
        )
        killed_midway += status != 0 and before < ledger_size(db) < MESSAGES
    # Started again without a kill: it goes to the end.
    finished = kill_when(arguments, tmp_path / "last.log", "never", lambda _age: False, rng)
    assert finished == 0, (tmp_path / "last.log").read_text(errors="replace")
    subjects, ledger, records = stored(db)
    assert sorted(subjects) == [f"archived {number:05d}" for number in range(MESSAGES)]
    assert (ledger, records) == (MESSAGES, MESSAGES)
    assert killed_midway >= 2  # the kills did land while messages were being committed
