"""SIGKILL at random moments: importer processes killed 25 times during a run of 200 messages.

A POP3TestServer in this process holds 200 messages. Each round starts a fresh interpreter
(``_sigkill_worker.py``) that imports into one SQLite file with the Importer's defaults (batched
commits among them), and kills it with SIGKILL at a moment drawn from a seeded random generator:
while the interpreter starts and takes the lease, while it logs in and lists the mailbox, after
the RETR of its k-th new message (retrieved, converting, or in a batch not yet committed), after
the commit of the batch holding its k-th new message, after its k-th DELE (a committed message
being marked for deletion), or once it has sent QUIT. Then a clean run, by another worker once
the dead one's lease expired, must leave every message in the store exactly once and the mailbox
empty (or, with ``leave_copy``, unchanged).
"""

from __future__ import annotations

import random
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL store needs SQLAlchemy (pip install 'mailtrack[sql]')")

from _killing import clean_run, kill_when, ledger_size
from _sigkill_worker import make_interface
from _tally import audit, record
from mailtrack.stores.sql import SQLRecordStore
from mailtrack.testing import POP3TestServer, Transcript, build_message

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX only"),
]

WORKER = Path(__file__).parents[1] / "support" / "_sigkill_worker.py"
MESSAGES = 200
SEED = 20240506
#: A child that never reaches its moment is waited for this long (it normally takes about a second).


def mailbox(count: int) -> dict[str, bytes]:
    return {
        f"uid-{n:03d}": build_message(
            subject=f"message {n:03d}",
            text=f"body of message {n}\n" * 20,
            message_id=f"sigkill-{n:03d}@mailtrack.test",
        )
        for n in range(count)
    }


def session_of(server: POP3TestServer, before: int) -> Transcript | None:
    """The child's session: the first one opened after *before* sessions."""
    transcripts = server.transcripts
    return transcripts[before] if len(transcripts) > before else None


def count(command: str) -> Callable[[Transcript], int]:
    return lambda transcript: transcript.commands.count(command)


class Moment:
    """When to kill: a description, and a test on the child's session (None: before it connected),
    its age in seconds and the number of messages in the ledger."""

    def __init__(
        self, label: str, reached: Callable[[Transcript | None, float, Callable[[], int]], bool]
    ) -> None:
        self.label = label
        self.reached = reached


def draw_moment(
    rng: random.Random, committed: int, again: int, round_number: int, kills: int, *, leave_copy: bool
) -> Moment:
    """A random moment for this round, spread so that later rounds still find work to do:
    while starting, while logging in, after the RETR of the k-th new message, after the commit
    of the batch holding the k-th new message of the run.

    *again* is how many messages the run retrieves before the new ones: those the ledger
    holds that are still on the server, looked at again in delete mode (they come first, since
    batches commit in the mailbox's order). The fetcher sends the DELEs (and then QUIT) at the
    end of a session, so a run killed there may have emptied the mailbox: those moments come last.
    """
    remaining = MESSAGES - committed
    if round_number == kills - 1:
        return Moment("after QUIT was sent", lambda t, _age, _n: t is not None and "QUIT" in t.commands)
    # A kill after a commit uses up a whole batch (100 messages by default), a kill after a RETR
    # none: RETRs are drawn more often, so that later rounds still find new messages.
    kinds = ["start", "login", "RETR", "RETR", "commit"] if remaining else ["start", "login"]
    if round_number == kills - 2 and not leave_copy:
        kinds = ["DELE"]
    kind = rng.choice(kinds)
    if kind == "start":
        delay = rng.uniform(0.0, 0.35)
        return Moment(f"{delay:.3f} s after the start", lambda _t, age, _n: age >= delay)
    if kind == "login":
        command = rng.choice(["USER", "PASS", "CAPA", "UIDL", "LIST"])
        return Moment(f"after {command}", lambda t, _age, _n: t is not None and command in t.commands)
    if kind == "DELE":
        k = rng.randint(1, MESSAGES)
        return Moment(f"after DELE number {k}", lambda t, _age, _n: t is not None and count("DELE")(t) >= k)
    spread = max(1, 2 * remaining // max(1, kills - round_number))
    k = rng.randint(1, min(remaining, spread))
    if kind == "RETR":
        # RETRs run a window ahead of the commits: this kills early, while the message's batch
        # (if it got that far) waits for its commit.
        number = again + k
        return Moment(
            f"after RETR number {number} (new message {k})",
            lambda t, _age, _n: t is not None and count("RETR")(t) >= number,
        )
    target = committed + k
    return Moment(
        f"after the commit of the batch holding new message {k} of the run",
        lambda _t, _age, ledger: ledger() >= target,
    )


def run_and_kill(
    server: POP3TestServer, db: Path, leave_copy: bool, moment: Moment, rng: random.Random
) -> int:
    """One child, killed at *moment* (plus up to 3 ms); returns its exit status."""
    before = len(server.transcripts)
    arguments = [str(WORKER), str(db), str(server.port), "1" if leave_copy else "0"]
    return kill_when(
        arguments,
        db.with_suffix(".log"),
        moment.label,
        lambda age: moment.reached(session_of(server, before), age, lambda: ledger_size(db)),
        rng,
    )


@pytest.mark.parametrize(("leave_copy", "kills"), [(False, 25), (True, 8)], ids=["delete", "leave_copy"])
def test_importer_killed_at_random_moments_imports_every_message_exactly_once(
    tmp_path: Path, leave_copy: bool, kills: int
) -> None:
    originals = mailbox(MESSAGES)
    db = tmp_path / "mailtrack.db"
    rng = random.Random(SEED + leave_copy)
    killed: list[str] = []
    with POP3TestServer(list(originals.items())) as server:
        for round_number in range(kills):
            before, on_server = len(server.transcripts), server.mailbox
            with SQLRecordStore(f"sqlite:///{db}") as store:
                in_ledger = store.imported_uids("support", list(originals))
            again = 0 if leave_copy else len(in_ledger & {uid for uid, _raw in on_server})
            moment = draw_moment(rng, len(in_ledger), again, round_number, kills, leave_copy=leave_copy)
            status = run_and_kill(server, db, leave_copy, moment, rng)
            if status == -signal.SIGKILL:
                killed.append(moment.label)
            # Nothing is deleted before QUIT: a run killed before it leaves the mailbox as it was.
            if not any("QUIT" in transcript.commands for transcript in server.transcripts[before:]):
                assert server.mailbox == on_server
        record(faults=len(killed))

        report = clean_run(db, make_interface(server.port, leave_copy))
        remaining = server.mailbox

    assert report.error is None, report.error
    assert len(killed) >= kills - 2, f"only {len(killed)} of {kills} processes were killed mid-run"
    with SQLRecordStore(f"sqlite:///{db}") as store:
        result = audit(store, "support", originals, (uid for uid, _raw in remaining))
        records = store.list_records()
        quarantined = store.list_quarantined()
    assert (result.lost, result.duplicated) == ((), ())
    assert result.imported == set(originals)
    assert quarantined == []
    assert sorted(record.title for record in records) == [f"message {n:03d}" for n in range(MESSAGES)]
    assert all(len(record.details) == 1 for record in records)
    if leave_copy:
        assert remaining == list(originals.items())
    else:
        assert remaining == []
