"""When the importer commits a batch early: only when the batch may open the record a subject names.

A message naming a record that does not exist yet waits for the batch's commit only when the
batch may give one of its new records that ID (SQLite says which IDs come next); otherwise it
joins the batch. Either way the outcome is the same as committing every message on its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import sqlalchemy as sa

from mailtrack import Importer, ImportPolicy, MailInterface, SenderPolicy
from mailtrack.models import CommitResult, ConnectionCheck, ImportAction, MessageInfo
from mailtrack.stores import SQLRecordStore
from mailtrack.stores.sql import POOL_CONNECTIONS
from mailtrack.testing import FakeFetcher, FakeMailbox, build_message


class CountingStore(SQLRecordStore):
    """A SQLite store that counts its batch transactions."""

    batches: list[int]

    def commit_many(self, items: Sequence[tuple[str, str, ImportAction]]) -> list[CommitResult]:
        self.batches.append(len(items))
        return super().commit_many(items)


def _mailbox() -> FakeMailbox:
    return FakeMailbox(
        {
            "a": build_message(subject="Printer jammed"),
            "b": build_message(subject="VPN down"),
            "c": build_message(subject="Re: [#2] VPN down"),  # #2 is opened by b, in the same batch
            "d": build_message(subject="New laptop"),
            "e": build_message(subject="About ticket #9999 elsewhere"),  # no batch can open #9999 now
        }
    )


def _run(tmp_path: Path, batch_size: int) -> CountingStore:
    store = CountingStore(f"sqlite:///{tmp_path / f'batch{batch_size}.db'}")
    store.batches = []
    mailbox = _mailbox()
    interface = MailInterface(
        name="support",
        server="pop.example.com",
        login="support",
        project="helpdesk",
        policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
    )
    report = Importer(store=store, fetcher_factory=mailbox.fetcher, batch_size=batch_size).run(interface)
    assert report.error is None
    assert len(mailbox) == 0
    return store


def _outcome(store: SQLRecordStore) -> list[tuple[int, str, list[str]]]:
    return [
        (record.id, record.title, [detail.subject for detail in record.details])
        for record in sorted(store.list_records(), key=lambda record: record.id)
    ]


def test_batched_import_gives_the_same_records_as_one_by_one(tmp_path: Path) -> None:
    one_by_one = _run(tmp_path, 1)
    batched = _run(tmp_path, 100)
    try:
        assert _outcome(batched) == _outcome(one_by_one)
        appended = [subjects for _id, _title, subjects in _outcome(batched) if len(subjects) == 2]
        assert appended == [["VPN down", "Re: [#2] VPN down"]]
    finally:
        one_by_one.close()
        batched.close()


def test_batch_is_cut_only_for_a_record_it_may_open(tmp_path: Path) -> None:
    store = _run(tmp_path, 100)
    try:
        # Cut before c (names #2, which the batch opens), not before e (#9999).
        assert store.batches == [2, 3]
    finally:
        store.close()


def test_next_record_ids_follow_the_highest_id(tmp_path: Path) -> None:
    store = _run(tmp_path, 100)
    try:
        assert store.next_record_ids(3) == range(5, 8)
    finally:
        store.close()


# -- how many runs at once: no more than the store has connections --------------------------------


def test_own_engine_pool_serves_many_parallel_runs(tmp_path: Path) -> None:
    with SQLRecordStore(f"sqlite:///{tmp_path / 'own.db'}") as store:
        assert store.max_connections == POOL_CONNECTIONS
    with SQLRecordStore("sqlite://") as memory:  # one shared connection, threads take turns
        assert memory.max_connections is None
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'given.db'}", pool_size=2, max_overflow=1)
    with SQLRecordStore(engine) as given:
        assert given.max_connections == 3
    engine.dispose()


def test_run_all_polls_no_more_mailboxes_at_once_than_the_store_has_connections(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'small.db'}", pool_size=1, max_overflow=1)
    mailboxes = {f"box{i}": FakeMailbox([build_message(subject=f"box {i}")]) for i in range(8)}
    lock = threading.Lock()
    active = [0]
    most = [0]

    @attrs.define
    class Watched:
        """A fake session that counts the sessions open at once."""

        inner: FakeFetcher

        def open(self) -> list[MessageInfo]:
            with lock:
                active[0] += 1
                most[0] = max(most[0], active[0])
            time.sleep(0.02)  # time for other runs to start, if they may
            return self.inner.open()

        def retrieve_many(self, messages: Sequence[MessageInfo]) -> Iterator[tuple[MessageInfo, bytes]]:
            return self.inner.retrieve_many(messages)

        def delete(self, message: MessageInfo) -> None:
            self.inner.delete(message)

        def close(self, *, commit: bool) -> None:
            with lock:
                active[0] -= 1
            self.inner.close(commit=commit)

        def check(self) -> ConnectionCheck:
            return self.inner.check()

    def fetcher(interface: MailInterface) -> Watched:
        return Watched(mailboxes[interface.name].fetcher(interface))

    with SQLRecordStore(engine) as store:
        importer = Importer(store=store, fetcher_factory=fetcher, max_parallel_runs=8)
        interfaces = [
            MailInterface(name=name, server="pop.example.com", login=name, project="helpdesk")
            for name in mailboxes
        ]
        reports = importer.run_all(interfaces)
        assert [report.error for report in reports] == [None] * 8
        assert sum(report.created for report in reports) == 8
    engine.dispose()
    assert most[0] <= 2
