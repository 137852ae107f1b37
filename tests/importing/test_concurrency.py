"""Importer concurrency: batched commits (the default; deletions only after their batch's commit,
decisions as if committed one by one), conversion in worker processes (same records whatever
the start method, failures quarantined, a dead worker survived, never forked beside a thread
holding a lock), and run_all polling mailboxes at once in a bounded pool, one slow or failing
server holding up no other."""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

import attrs
import pytest

from mailtrack import (
    ConfigError,
    FetchError,
    ImportAction,
    Importer,
    ImportPolicy,
    IncomingMessage,
    MailInterface,
    MailParserConverter,
    MemoryRecordStore,
    MessageInfo,
    ParseLimits,
    RecordStore,
    Security,
    SenderPolicy,
    StoreError,
)
from mailtrack._importing.conversions import Conversions
from mailtrack._importing.workers import automatic_workers, available_start_methods, choose_start_method
from mailtrack.models import CommitResult
from mailtrack.testing import FakeFetcher, FakeMailbox, Faults, POP3TestServer, build_message

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
OUTLOOK_MSG = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600


def mail(number: int, **options: object) -> bytes:
    return build_message(
        subject=f"Printer {number} is jammed",
        message_id=f"<printer.{number}@customer.example>",
        text=f"Printer {number} jams on every page.\n",
        **options,  # type: ignore[arg-type]
    )


def interface(name: str = "support") -> MailInterface:
    return MailInterface(name=name, server="pop.example.com", login="support", security=Security.NONE)


class Journal:
    """What the store committed and what the fetcher marked for deletion, in one order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, tuple[str, ...]]] = []

    def check_deletions_follow_their_commits(self) -> None:
        committed: set[str] = set()
        for kind, uids in self.events:
            if kind == "commit":
                committed.update(uids)
            else:
                assert set(uids) <= committed, f"{uids} deleted before its commit"

    def batches(self) -> list[int]:
        return [len(uids) for kind, uids in self.events if kind == "commit"]


class JournalStore(MemoryRecordStore):
    def __init__(self, journal: Journal, *, fail_batches: bool = False) -> None:
        super().__init__()
        self.journal = journal
        self.fail_batches = fail_batches

    def commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
        if "FAIL" in getattr(action, "message", IncomingMessage).subject:
            raise StoreError("database is locked")
        result = super().commit(interface, uid, action)
        self.journal.events.append(("commit", (uid,)))
        return result

    def commit_many(self, items: Sequence[tuple[str, str, ImportAction]]) -> list[CommitResult]:
        if self.fail_batches:
            raise StoreError("database is locked")
        results = super().commit_many(items)
        self.journal.events.append(("commit", tuple(uid for _name, uid, _action in items)))
        return results


class JournalFetcher(FakeFetcher):
    def __init__(self, mailbox: FakeMailbox, journal: Journal, *, pause: float = 0.0) -> None:
        super().__init__(mailbox)
        self.journal = journal
        self.pause = pause

    def retrieve_many(self, messages: Sequence[MessageInfo]) -> Iterator[tuple[MessageInfo, bytes]]:
        for item in super().retrieve_many(messages):
            if self.pause:
                time.sleep(self.pause)
            yield item

    def delete(self, message: MessageInfo) -> None:
        super().delete(message)
        self.journal.events.append(("delete", (self._uid(message),)))


def journal_importer(
    messages: Sequence[bytes], *, pause: float = 0.0, fail_batches: bool = False, **settings: object
) -> tuple[Importer, FakeMailbox, JournalStore, Journal]:
    journal = Journal()
    mailbox = FakeMailbox(list(messages))
    store = JournalStore(journal, fail_batches=fail_batches)
    fetcher = JournalFetcher(mailbox, journal, pause=pause)
    importer = Importer(store=store, fetcher_factory=fetcher.factory, **settings)  # type: ignore[arg-type]
    return importer, mailbox, store, journal


# -- settings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("batch_size", True),
        ("batch_wait", 0),
        ("conversion_workers", -1),
        ("conversion_workers", "2"),
        ("conversion_start_method", "vfork"),
        ("conversion_start_method", 1),
        ("max_parallel_runs", 0),
    ],
)
def test_settings_out_of_range_are_refused_naming_the_field(name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"^{name}: "):
        Importer(**{name: value})  # type: ignore[arg-type]


def test_the_defaults_commit_in_batches_and_choose_workers_and_their_start_themselves() -> None:
    importer = Importer()
    assert (importer.batch_size, importer.batch_wait) == (100, 2.0)
    assert (importer.conversion_workers, importer.conversion_start_method, importer.max_parallel_runs) == (
        None,
        None,
        16,
    )
    assert Importer(conversion_start_method="spawn").conversion_start_method == "spawn"


# -- batched commits ---------------------------------------------------------------------------------


def test_by_default_a_run_is_one_batch_committed_before_any_deletion() -> None:
    importer, mailbox, store, journal = journal_importer([mail(n) for n in range(30)])

    report = importer.run(interface())

    assert (report.created, report.error) == (30, None)
    assert journal.batches() == [30]
    journal.check_deletions_follow_their_commits()
    assert len(mailbox) == 0
    assert len(store.list_records()) == 30


def test_batch_size_1_commits_each_message_before_the_next_is_decided() -> None:
    importer, mailbox, _store, journal = journal_importer([mail(n) for n in range(5)], batch_size=1)

    report = importer.run(interface())

    assert report.created == 5
    assert journal.batches() == [1, 1, 1, 1, 1]
    kinds = [kind for kind, _uids in journal.events]
    assert kinds == ["commit", "delete"] * 5
    assert len(mailbox) == 0


def test_a_batch_is_one_commit_and_its_messages_are_deleted_only_after_it() -> None:
    importer, mailbox, store, journal = journal_importer([mail(n) for n in range(10)], batch_size=4)

    report = importer.run(interface())

    assert (report.created, report.error) == (10, None)
    assert journal.batches() == [4, 4, 2]
    journal.check_deletions_follow_their_commits()
    assert len(mailbox) == 0
    assert len(store.list_records()) == 10


def test_a_batch_that_waited_batch_wait_is_committed_before_it_is_full() -> None:
    # A server slower than batch_wait per message: every message is committed on its own.
    importer, mailbox, _store, journal = journal_importer(
        [mail(n) for n in range(4)], pause=0.01, batch_size=100, batch_wait=0.001
    )

    report = importer.run(interface())

    assert report.created == 4
    assert journal.batches() == [1, 1, 1, 1]
    journal.check_deletions_follow_their_commits()
    assert len(mailbox) == 0


def anyone(name: str = "support") -> MailInterface:
    return attrs.evolve(interface(name), policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE))


@pytest.mark.parametrize("batch_size", [1, 100], ids=["one by one", "batched"])
def test_an_auto_reply_to_a_message_of_the_same_batch_is_added_to_its_record(batch_size: int) -> None:
    question = build_message(subject="Printer jammed", message_id="<question@customer.example>")
    away = build_message(
        subject="Out of office: Printer jammed",
        sender="Bob <bob@customer.example>",
        headers={"Auto-Submitted": "auto-replied"},
        in_reply_to="<question@customer.example>",
    )
    importer, mailbox, store, journal = journal_importer([question, away], batch_size=batch_size)

    report = importer.run(anyone())

    assert (report.created, report.updated, report.skipped) == (1, 1, 0)
    [record] = store.list_records()
    assert [detail.subject for detail in record.details] == [
        "Printer jammed",
        "Out of office: Printer jammed",
    ]
    # Its decision looks for the thread in the store: the batch before it was committed first.
    assert journal.batches() == [1, 1]
    journal.check_deletions_follow_their_commits()
    assert len(mailbox) == 0


@pytest.mark.parametrize("batch_size", [1, 100], ids=["one by one", "batched"])
def test_a_message_naming_a_record_the_batch_adds_to_sees_that_message_committed(batch_size: int) -> None:
    importer, mailbox, store, journal = journal_importer([build_message(subject="Printer jammed")])
    importer.batch_size = batch_size
    importer.run(interface())
    [record] = store.list_records()
    # Alice writes again, copying Bob in; then Bob writes: a participant only by Alice's message.
    mailbox.add(build_message(subject=f"Re: [#{record.id}] Printer jammed", cc="Bob <bob@example.com>"))
    mailbox.add(build_message(subject=f"Re: [#{record.id}] still jammed", sender="Bob <bob@example.com>"))
    mailbox.add(mail(1))

    report = importer.run(interface())  # the default policy: participants only

    assert (report.updated, report.created, report.error) == (2, 1, None)
    assert len(store.get_record(record.id).details) == 3
    if batch_size > 1:
        assert journal.batches()[1:] == [1, 2]
    journal.check_deletions_follow_their_commits()
    assert len(mailbox) == 0


@pytest.mark.parametrize("batch_size", [1, 100], ids=["one by one", "batched"])
def test_a_follow_up_naming_the_record_its_batch_opens_is_added_to_it(batch_size: int) -> None:
    # A fresh store numbers its first record 1: the follow-up names it before it is committed.
    messages = [
        build_message(subject="Printer jams"),
        build_message(subject="Re: [#1] Printer jams"),
        mail(2),
    ]
    importer, mailbox, store, journal = journal_importer(messages, batch_size=batch_size)

    report = importer.run(interface())

    assert (report.created, report.updated, report.error) == (2, 1, None)
    assert [detail.subject for detail in store.get_record(1).details] == [
        "Printer jams",
        "Re: [#1] Printer jams",
    ]
    assert journal.batches() == ([1, 1, 1] if batch_size == 1 else [1, 2])
    journal.check_deletions_follow_their_commits()
    assert len(mailbox) == 0


class CountingStore(MemoryRecordStore):
    """A store of one's own that overrides commit() only, to count what it commits."""

    def __init__(self) -> None:
        super().__init__()
        self.committed: list[str] = []

    def commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
        self.committed.append(uid)
        return super().commit(interface, uid, action)


def test_a_store_that_overrides_only_commit_sees_every_message_of_a_batch(tmp_path: Path) -> None:
    stores: list[RecordStore] = [CountingStore()]
    if _has_sqlalchemy():
        from mailtrack.stores.sql import SQLRecordStore

        class CountingSQLStore(SQLRecordStore):
            committed: list[str] = []

            def commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
                self.committed.append(uid)
                return super().commit(interface, uid, action)

        stores.append(CountingSQLStore(f"sqlite:///{tmp_path / 'counting.db'}"))
    for store in stores:
        mailbox = FakeMailbox([mail(n) for n in range(12)])

        report = Importer(store=store, fetcher_factory=mailbox.fetcher).run(interface())

        assert (report.created, report.error) == (12, None)
        assert store.committed == [f"uid-{n}" for n in range(1, 13)]  # type: ignore[attr-defined]
        assert len(mailbox) == 0


def _has_sqlalchemy() -> bool:
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        return False
    return True


def test_a_failed_batch_is_committed_again_one_by_one_and_only_the_bad_message_stays() -> None:
    messages = [mail(1), build_message(subject="FAIL to save"), mail(3)]
    importer, mailbox, store, journal = journal_importer(messages, batch_size=10, fail_batches=True)

    report = importer.run(interface())

    assert (report.created, report.failed, report.error) == (2, 1, None)
    [held] = store.list_quarantined()
    assert "database is locked" in held.error
    assert mailbox.uids == [held.uid]
    journal.check_deletions_follow_their_commits()


def test_with_leave_copy_a_batched_run_deletes_nothing_and_the_next_imports_nothing_twice() -> None:
    importer, mailbox, store, _journal = journal_importer([mail(n) for n in range(5)], batch_size=3)
    copy = MailInterface(name="support", server="pop.example.com", login="support", leave_copy=True)

    first, second = importer.run(copy), importer.run(copy)

    assert (first.created, second.created, second.already_imported) == (5, 0, 5)
    assert len(mailbox) == 5
    assert len(store.list_records()) == 5


def test_a_connection_lost_mid_batch_keeps_what_was_retrieved_and_deletes_nothing() -> None:
    messages = [mail(n) for n in range(6)]
    journal = Journal()
    mailbox = FakeMailbox(messages)
    store = JournalStore(journal)
    fetcher = JournalFetcher(mailbox, journal)
    fetcher.fail_on_retrieve = {5: FetchError("the server closed the connection unexpectedly")}
    importer = Importer(store=store, fetcher_factory=fetcher.factory, batch_size=100)

    first = importer.run(interface())

    assert first.error is not None
    assert "closed the connection" in first.error
    assert first.created == 4  # the four retrieved before the failure, in one batch
    assert not fetcher.committed
    assert len(mailbox) == 6
    fetcher.fail_on_retrieve = {}
    second = importer.run(interface())
    assert (second.created, second.already_imported, len(mailbox)) == (2, 4, 0)
    assert len(store.list_records()) == 6


# -- conversion in worker processes ----------------------------------------------------------------


def summary(store: MemoryRecordStore) -> list[tuple[str, str, list[str]]]:
    return sorted(
        (
            record.title,
            record.details[0].text,
            [attachment.sha256 for attachment in record.details[0].attachments],
        )
        for record in store.list_records(load_content=True)
    )


def test_worker_processes_make_the_same_records_as_converting_in_the_importer() -> None:
    messages = {f"m{n}": mail(n, attachments=[(f"scan{n}.png", "image/png", PNG)]) for n in range(20)}
    messages["outlook"] = OUTLOOK_MSG
    stores = []
    settings = [(0, None)] + [(2, method) for method in available_start_methods()]
    for workers, method in settings:
        with POP3TestServer(list(messages.items())) as server:
            store = MemoryRecordStore()
            importer = Importer(
                store=store, conversion_workers=workers, conversion_start_method=method, batch_size=7
            )
            report = importer.run(server.interface())
            assert (report.created, report.failed, report.error) == (20, 1, None)
            assert [uid for uid, _raw in server.mailbox] == ["outlook"]
            [held] = store.list_quarantined()
            assert "Outlook" in held.error
            stores.append(store)
    assert all(summary(store) == summary(stores[0]) for store in stores[1:])


class DiesInAWorker:
    """Converts like MailParserConverter, but a worker process converting dies on the spot."""

    def __init__(self) -> None:
        self.parent = os.getpid()
        self.inner = MailParserConverter()

    def convert(self, raw: bytes, *, received_at: datetime) -> IncomingMessage:
        if os.getpid() != self.parent:
            os._exit(1)
        return self.inner.convert(raw, received_at=received_at)


@pytest.mark.parametrize("method", available_start_methods())
def test_a_worker_that_dies_leaves_the_conversions_to_the_importer(method: str) -> None:
    mailbox = FakeMailbox([mail(n) for n in range(12)])
    store = MemoryRecordStore()
    importer = Importer(
        store=store,
        fetcher_factory=mailbox.fetcher,
        converter=DiesInAWorker(),
        conversion_workers=1,
        conversion_start_method=method,
    )

    report = importer.run(interface())

    assert (report.created, report.failed, report.error) == (12, 0, None)
    assert len(mailbox) == 0


class Unpicklable:
    """A converter holding a lock: it cannot be sent to a worker that is not forked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inner = MailParserConverter()

    def convert(self, raw: bytes, *, received_at: datetime) -> IncomingMessage:
        with self.lock:
            return self.inner.convert(raw, received_at=received_at)


@pytest.mark.skipif("forkserver" not in available_start_methods(), reason="no forkserver here")
def test_a_converter_that_cannot_be_pickled_converts_in_the_importer_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mailbox = FakeMailbox([mail(n) for n in range(6)])
    importer = Importer(
        fetcher_factory=mailbox.fetcher,
        converter=Unpicklable(),
        conversion_workers=2,
        conversion_start_method="forkserver",
    )

    with caplog.at_level(logging.WARNING, logger="mailtrack"):
        report = importer.run(interface())

    assert (report.created, report.error) == (6, None)
    assert len(mailbox) == 0
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "cannot be handed to worker processes" in warning
    assert "converting in the importer's process instead" in warning


def test_the_default_converter_can_be_sent_to_worker_processes() -> None:
    converter = MailParserConverter(limits=ParseLimits(max_parts=7))

    copy = pickle.loads(pickle.dumps(converter))  # noqa: S301 (bytes pickled right here)

    assert copy == converter
    received = datetime.now().astimezone()
    assert copy.convert(mail(1), received_at=received) == converter.convert(mail(1), received_at=received)


@pytest.mark.parametrize(
    ("cpus", "alone", "shared"), [(1, 0, 0), (2, 0, 2), (3, 3, 3), (4, 4, 4), (16, 4, 4)]
)
def test_automatic_workers_on_two_cpus_only_for_a_pool_that_runs_share(
    monkeypatch: pytest.MonkeyPatch, cpus: int, alone: int, shared: int
) -> None:
    # Measured on two CPUs: a run of one mailbox with two workers took more CPU and was not
    # faster than converting in its own thread (docs/performance.md).
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    assert (automatic_workers(), automatic_workers(shared=True)) == (alone, shared)


@pytest.mark.skipif(sys.platform != "linux", reason="the automatic start method is chosen on Linux")
def test_the_automatic_start_method_forks_only_a_process_without_other_threads() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="another thread")
    other.start()
    try:
        assert choose_start_method(None) == "forkserver"
    finally:
        stop.set()
        other.join()
    alone = subprocess.run(
        [
            sys.executable,
            "-c",
            "from mailtrack._importing.workers import choose_start_method; print(choose_start_method(None))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert alone.stdout.strip() == "fork"
    assert choose_start_method("spawn") == "spawn"


LOCK_WORKER = Path(__file__).parents[1] / "support" / "_lock_held_worker.py"


@pytest.mark.skipif(
    automatic_workers(shared=True) == 0, reason="conversion workers start automatically on Linux only"
)
def test_workers_start_and_convert_while_another_thread_holds_a_lock_the_converter_takes() -> None:
    # A worker forked while the lock is held would wait for it forever, and the run with it: the
    # importer runs in a process of its own, which is killed (with its workers) if it hangs.
    child = subprocess.Popen(
        [sys.executable, str(LOCK_WORKER), "auto"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        output, errors = child.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        pytest.fail("the run hung: a conversion worker waits for a lock it inherited locked")
    assert child.returncode == 0, errors
    result = json.loads(output.strip().splitlines()[-1])
    assert (result["created"], result["error"], result["left"]) == (20, None, 0)
    assert sorted(result["titles"]) == sorted(f"message {n}" for n in range(20))
    assert result["started"] == ["converting in 2 worker processes, started with 'forkserver'"]
    assert result["warnings"] == []


def test_conversions_without_workers_happen_at_once_in_the_calling_thread() -> None:
    conversions = Conversions(MailParserConverter(), None, owns_pool=False)
    ticket = conversions.submit(mail(1), datetime.now().astimezone())
    assert conversions.done(ticket)
    assert conversions.result(ticket).subject == "Printer 1 is jammed"
    assert not conversions.in_processes


# -- run_all -----------------------------------------------------------------------------------------


class MeetingFetcher(FakeFetcher):
    """Waits in open() until *parties* sessions have opened at once (a barrier): sessions run
    one after the other never get through."""

    def __init__(self, mailbox: FakeMailbox, barrier: threading.Barrier, counter: list[int]) -> None:
        super().__init__(mailbox)
        self.barrier = barrier
        self.counter = counter

    def open(self) -> list[MessageInfo]:
        with lock:
            self.counter[0] += 1
            self.counter[1] = max(self.counter[1], self.counter[0])
        try:
            self.barrier.wait(timeout=10)
        finally:
            with lock:
                self.counter[0] -= 1
        return super().open()


lock = threading.Lock()


def test_run_all_polls_mailboxes_at_once_but_never_more_than_max_parallel_runs() -> None:
    mailboxes = {f"box{n}": FakeMailbox([mail(n)]) for n in range(6)}
    barrier = threading.Barrier(3)
    counter = [0, 0]  # sessions in open() now, most at once

    def factory(chosen: MailInterface) -> FakeFetcher:
        return MeetingFetcher(mailboxes[chosen.name], barrier, counter)

    importer = Importer(fetcher_factory=factory, max_parallel_runs=3)
    reports = importer.run_all([interface(name) for name in mailboxes])

    assert [(report.interface, report.created, report.error) for report in reports] == [
        (name, 1, None) for name in mailboxes
    ]
    assert counter[1] == 3
    assert all(len(mailbox) == 0 for mailbox in mailboxes.values())


def test_run_all_with_one_stalled_and_one_refusing_server_imports_the_others() -> None:
    with (
        POP3TestServer([mail(1)]) as good,
        POP3TestServer([mail(2)], faults=Faults(stall="greeting")) as stalled,
        POP3TestServer([mail(3)], faults=Faults(login_error="[AUTH] no")) as refusing,
        POP3TestServer([mail(4)]) as also_good,
    ):
        interfaces = [
            good.interface(name="good"),
            stalled.interface(name="stalled", timeout=1.0),
            refusing.interface(name="refusing"),
            also_good.interface(name="also-good"),
        ]
        reports = Importer(max_parallel_runs=4).run_all(interfaces)

        assert [report.interface for report in reports] == ["good", "stalled", "refusing", "also-good"]
        assert [report.created for report in reports] == [1, 0, 0, 1]
        assert [report.error is None for report in reports] == [True, False, False, True]
        assert good.mailbox == also_good.mailbox == []
        assert len(stalled.mailbox) == len(refusing.mailbox) == 1


class InterruptedOnThird:
    """Converts like MailParserConverter until the third message, where Ctrl-C comes."""

    def __init__(self) -> None:
        self.inner = MailParserConverter()
        self.count = 0

    def convert(self, raw: bytes, *, received_at: datetime) -> IncomingMessage:
        self.count += 1
        if self.count == 3:
            raise KeyboardInterrupt
        return self.inner.convert(raw, received_at=received_at)


def test_ctrl_c_while_a_thread_retrieves_ahead_drops_the_session_and_stops_the_thread() -> None:
    with POP3TestServer([mail(n) for n in range(30)]) as server:
        store = MemoryRecordStore()
        importer = Importer(store=store, converter=InterruptedOnThird())
        with pytest.raises(KeyboardInterrupt):
            importer.run(server.interface())

        assert "QUIT" not in server.transcripts[0].commands
        assert len(server.mailbox) == 30
        # The two messages converted before Ctrl-C were in the batch, not yet committed: they
        # stay on the server for the next run, like every other message.
        assert store.list_records() == []
        assert store.imported_uids("pop3-test", [uid for uid, _raw in server.mailbox]) == set()
        assert not [t for t in threading.enumerate() if t.name.startswith("mailtrack-retrieve")]
        last = store.last_run("pop3-test")
        assert last is not None
        assert last.error is not None
        assert "interrupted" in last.error
