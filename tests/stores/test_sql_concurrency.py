"""SQLRecordStore under real concurrent processes, on a SQLite file, PostgreSQL and MariaDB.

The workers are spawned interpreters (``multiprocessing`` "spawn"), each with its own store on the
same database, running the functions in ``_sql_workers``:

* processes racing on the same (interface, UID) and the same Message-ID make one record;
* processes racing for one lease have one winner;
* N importer processes, each calling ``run_all()``, over M mailboxes served by POP3 test servers import every
  message exactly once, and no mailbox is polled by two workers at the same moment;
* a worker that dies keeps its lease until it expires; then another worker takes over and
  imports what is left, still exactly once.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sqlalchemy", reason="the SQL store needs SQLAlchemy (pip install 'mailtrack[sql]')")

import sqlalchemy as sa

import _sql_workers
from _sql_databases import empty_tables
from mailtrack import Importer
from mailtrack._importing.lease import ANOTHER_WORKER
from mailtrack.stores.sql import SQLRecordStore
from mailtrack.testing import Faults, POP3TestServer, build_message

pytestmark = pytest.mark.slow

CTX = multiprocessing.get_context("spawn")
WORKERS = 3


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store database shared by the worker processes (rendered with its password)."""
    if request.param == "sqlite":
        path = tmp_path / "shared.db"
        SQLRecordStore(f"sqlite:///{path}").close()  # WAL mode and tables before the race
        yield f"sqlite:///{path}"
        return
    server_url: sa.URL = request.getfixturevalue(f"{request.param}_url")
    engine = sa.create_engine(server_url)
    empty_tables(engine)
    engine.dispose()
    yield server_url.render_as_string(hide_password=False)


def run_processes(target: Callable[..., None], args: list[tuple[Any, ...]], timeout: float = 120) -> None:
    processes = [CTX.Process(target=target, args=arguments) for arguments in args]
    for process in processes:
        process.start()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.1, deadline - time.monotonic()))
    alive = [process for process in processes if process.is_alive()]
    for process in alive:
        process.kill()
        process.join()
    assert not alive, f"{len(alive)} worker process(es) did not finish in {timeout} s"
    assert [process.exitcode for process in processes] == [0] * len(processes)


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# -- exactly once ----------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [False, True], ids=["commit", "commit_many"])
def test_processes_racing_on_the_same_messages_make_one_record_each(
    url: str, tmp_path: Path, batch: bool
) -> None:
    messages = 12
    barrier = CTX.Barrier(WORKERS)
    outputs = [tmp_path / f"worker-{worker}.json" for worker in range(WORKERS)]
    run_processes(
        _sql_workers.commit_race,
        [(url, worker, messages, barrier, str(outputs[worker]), batch) for worker in range(WORKERS)],
    )
    rows = [row for path in outputs for row in read(path)]

    shared = Counter((uid, outcome) for interface, uid, outcome, _ in rows if interface == "support")
    for n in range(messages):
        # One worker created the record for the shared pair; the others found it in the ledger,
        # or (if a worker's own mailbox got there first) found the Message-ID already stored.
        created = shared[(f"uid-{n}", "created")]
        assert created + shared[(f"uid-{n}", "duplicate")] == 1
        assert shared[(f"uid-{n}", "already_imported")] == WORKERS - 1
    own = Counter(outcome for interface, _, outcome, _ in rows if interface.startswith("mailbox-"))
    assert own["already_imported"] == 0  # every worker's own pairs are its alone
    skips = Counter(outcome for interface, _, outcome, _ in rows if interface == "skips")
    assert skips == {"skipped": messages, "already_imported": messages * (WORKERS - 1)}

    with SQLRecordStore(url) as store:
        records = store.list_records()
        assert len(records) == messages
        message_ids = [detail.message_id for record in records for detail in record.details]
        assert sorted(message_ids) == sorted(f"m{n}@example.com" for n in range(messages))
        for interface in ["support", "skips"] + [f"mailbox-{worker}" for worker in range(WORKERS)]:
            assert store.imported_uids(interface, [f"uid-{n}" for n in range(messages)]) == {
                f"uid-{n}" for n in range(messages)
            }
    created_ids = [record_id for _, _, outcome, record_id in rows if outcome == "created"]
    assert len(created_ids) == len(set(created_ids)) == messages


def test_processes_racing_for_one_lease_have_one_winner(url: str, tmp_path: Path) -> None:
    workers = 4
    barrier = CTX.Barrier(workers)
    outputs = [tmp_path / f"lease-{worker}.json" for worker in range(workers)]
    run_processes(
        _sql_workers.lease_race, [(url, worker, barrier, str(outputs[worker])) for worker in range(workers)]
    )
    assert [read(path) for path in outputs].count(True) == 1


# -- importer processes over POP3 mailboxes --------------------------------------------------------


def _servers(mailboxes: int, per_mailbox: int) -> list[POP3TestServer]:
    servers = []
    for box in range(mailboxes):
        raws = [
            build_message(subject=f"box {box} message {n}", message_id=f"<box{box}.m{n}@example.com>")
            for n in range(per_mailbox)
        ]
        # A small delay per answer makes each session long enough for overlaps to show.
        servers.append(POP3TestServer(raws, faults=Faults(delay=0.002)).start())
    return servers


def test_importer_processes_import_every_message_once_one_worker_per_mailbox(
    url: str, tmp_path: Path
) -> None:
    mailboxes, per_mailbox = 3, 12
    servers = _servers(mailboxes, per_mailbox)
    try:
        with SQLRecordStore(url) as store:
            for box, server in enumerate(servers):
                store.save_interface(server.interface(name=f"box-{box}"))
        barrier = CTX.Barrier(WORKERS)
        outputs = [tmp_path / f"import-{worker}.json" for worker in range(WORKERS)]
        deadline = time.monotonic() + 90
        expected = mailboxes * per_mailbox
        run_processes(
            _sql_workers.import_worker,
            [(url, worker, expected, barrier, str(outputs[worker]), deadline) for worker in range(WORKERS)],
        )
        mailboxes_left = [server.mailbox for server in servers]
    finally:
        for server in servers:
            server.close()

    results = [read(path) for path in outputs]
    assert mailboxes_left == [[] for _ in servers]  # everything imported was deleted on the server
    with SQLRecordStore(url) as store:
        records = store.list_records()
    message_ids = Counter(detail.message_id for record in records for detail in record.details)
    assert len(records) == expected
    assert message_ids == {
        f"box{box}.m{n}@example.com": 1 for box in range(mailboxes) for n in range(per_mailbox)
    }
    reports = [report for result in results for report in result["reports"]]
    assert sum(created for _, _, created, _ in reports) == expected
    assert all(error is None or error.startswith(ANOTHER_WORKER) for _, _, _, error in reports)

    sessions: dict[str, list[tuple[float, float, str]]] = {}
    for result in results:
        for name, worker, started, ended in result["sessions"]:
            sessions.setdefault(name, []).append((started, ended, worker))
    assert set(sessions) == {f"box-{box}" for box in range(mailboxes)}
    for name, spans in sessions.items():
        spans.sort()
        for (_, ended, first), (started, _, second) in itertools.pairwise(spans):
            assert ended <= started, f"{first} and {second} polled {name} at the same moment"


def test_a_dead_workers_lease_expires_and_another_worker_takes_over(url: str, tmp_path: Path) -> None:
    per_mailbox, lease_seconds = 6, 3.0
    (server,) = _servers(1, per_mailbox)
    try:
        with SQLRecordStore(url) as store:
            store.save_interface(server.interface(name="box-0"))
        # The dying worker imports two messages, marks them deleted, and is killed before QUIT.
        process = CTX.Process(target=_sql_workers.dying_worker, args=(url, "box-0", lease_seconds, 2))
        process.start()
        process.join(60)
        assert process.exitcode is not None
        assert process.exitcode < 0  # killed by a signal
        died_at = time.monotonic()
        assert len(server.mailbox) == per_mailbox  # no QUIT: nothing was deleted

        with SQLRecordStore(url) as store:
            assert len(store.list_records()) == 2
            taker = Importer(store=store, worker_id="taker", lease_seconds=30)
            interface = store.get_interface("box-0")
            refused = taker.run(interface)
            # Before expiry (unless this machine was very slow) the dead worker still holds it.
            if time.monotonic() - died_at < lease_seconds * 0.8:
                assert refused.busy
                assert refused.error is not None
                assert refused.error.startswith(f"{ANOTHER_WORKER} (dying, ")
                assert len(server.mailbox) == per_mailbox
            time.sleep(max(0.0, lease_seconds + 0.2 - (time.monotonic() - died_at)))
            report = taker.run(interface)
            assert report.error is None
            assert report.created == per_mailbox - 2  # the two committed ones are not imported again
            records = store.list_records()
        assert server.mailbox == []
    finally:
        server.close()
    assert len(records) == per_mailbox
    assert sorted(detail.subject for record in records for detail in record.details) == sorted(
        f"box 0 message {n}" for n in range(per_mailbox)
    )
