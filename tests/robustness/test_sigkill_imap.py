"""SIGKILL at random moments over IMAP: importer processes killed during runs of 200 messages on
the scripted IMAP server (tests/support/_imapserver.py), as test_sigkill does over POP3.

Moments, drawn from a seeded generator: while the interpreter starts, after a login or listing
command, after the k-th message body was sent, after the commit of the batch holding the k-th
new message, after UID STORE (\\Deleted set, not yet expunged), after UID EXPUNGE was sent, after
LOGOUT. Then a clean run by another worker must leave every message in the store exactly once
(one detail per Message-ID) and the folder empty (or, with keep, unchanged).
"""

from __future__ import annotations

import os
import random
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL store needs SQLAlchemy (pip install 'mailtrack[sql]')")

from _imapserver import ScriptedIMAPServer
from _killing import clean_run, kill_when, ledger_size
from _sigkill_worker import make_interface
from _tally import record
from mailtrack import MailProtocol
from mailtrack.stores.sql import SQLRecordStore
from mailtrack.testing import build_message

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX only"),
]

WORKER = Path(__file__).parents[1] / "support" / "_sigkill_worker.py"
MESSAGES = int(os.environ.get("MAILTRACK_SIGKILL_IMAP_MESSAGES", "200"))
SEED = int(os.environ.get("MAILTRACK_SIGKILL_SEED", "20261204"))

Reached = Callable[[ScriptedIMAPServer, int, float, Callable[[], int]], bool]


def commands_since(server: ScriptedIMAPServer, before: int) -> list[str]:
    return [line.split(" ", 1)[1] if " " in line else line for line in server.commands[before:]]


def draw(
    rng: random.Random, round_number: int, kills: int, committed: int, added: int, keep: bool
) -> tuple[str, Reached]:
    if round_number == kills - 1:
        return "after LOGOUT", lambda s, b, _a, _n: any(c.startswith("LOGOUT") for c in commands_since(s, b))
    kinds = ["start", "login", "body", "body", "commit"]
    if not keep:
        kinds += ["store", "expunge"]
    kind = rng.choice(kinds)
    if kind == "start":
        delay = rng.uniform(0.0, 0.35)
        return f"{delay:.3f} s after the start", lambda _s, _b, age, _n: age >= delay
    if kind in ("login", "store", "expunge"):
        command = {
            "login": rng.choice(["AUTHENTICATE", "SELECT", "EXAMINE", "UID FETCH 1:*"]),
            "store": "UID STORE",
            "expunge": "UID EXPUNGE",
        }[kind]
        return f"after {command}", lambda s, b, _a, _n: any(
            c.startswith(command) for c in commands_since(s, b)
        )
    k = rng.randint(1, max(1, added - committed))
    if kind == "body":
        return f"after body {k}", lambda s, _b, _a, _n: s.bodies_total >= k
    target = committed + k
    return f"after the commit holding new message {k}", lambda _s, _b, _a, ledger: ledger() >= target


def run_and_kill(
    server: ScriptedIMAPServer, db: Path, keep: bool, label: str, reached: Reached, rng: random.Random
) -> int:
    before = len(server.commands)
    server.bodies_total = 0
    port = server.interface().effective_port
    arguments = [str(WORKER), str(db), str(port), "1" if keep else "0", "imap"]
    return kill_when(
        arguments,
        db.with_suffix(".log"),
        label,
        lambda age: reached(server, before, age, lambda: ledger_size(db)),
        rng,
    )


@pytest.mark.parametrize(("keep", "kills"), [(False, 20), (True, 8)], ids=["delete", "keep"])
def test_imap_importer_killed_at_random_moments_imports_every_message_exactly_once(
    tmp_path: Path, keep: bool, kills: int
) -> None:
    originals = [
        build_message(subject=f"message {n:03d}", text=f"body {n}\n" * 20, message_id=f"k{n:03d}@imap.test")
        for n in range(MESSAGES)
    ]
    db = tmp_path / "mailtrack.db"
    rng = random.Random(SEED + keep)
    killed: list[str] = []
    with ScriptedIMAPServer(user="user", password="secret") as server:
        # New mail arrives before every round, so that each killed run finds work to do.
        parts = [originals[n::kills] for n in range(kills)]
        for round_number in range(kills):
            for raw in parts[round_number]:
                server.add(raw)
            added = sum(len(part) for part in parts[: round_number + 1])
            label, reached = draw(rng, round_number, kills, ledger_size(db), added, keep)
            if run_and_kill(server, db, keep, label, reached, rng) == -signal.SIGKILL:
                killed.append(label)
        record(faults=len(killed))
        crlf = sorted(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for raw in originals)
        report = clean_run(db, make_interface(server.interface().effective_port, keep, MailProtocol.IMAP))
        remaining = server.raws()
    assert report.error is None, report.error
    assert len(killed) >= kills - 3, f"only {len(killed)} of {kills} processes were killed mid-run: {killed}"
    with SQLRecordStore(f"sqlite:///{db}") as store:
        records = store.list_records()
        quarantined = store.list_quarantined()
    ids = sorted(detail.message_id for record in records for detail in record.details)
    assert ids == sorted(f"k{n:03d}@imap.test" for n in range(MESSAGES))  # 0 lost, 0 duplicated
    assert quarantined == []
    record(messages=MESSAGES)
    assert sorted(remaining) == (crlf if keep else [])
