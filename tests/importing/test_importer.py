"""Importer.run(): the import flow end to end, against MemoryRecordStore and SQLite, and a FakeMailbox.

Every test looks at both sides: what the store holds afterwards and what is left in the mailbox.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

import attrs
import pytest

from mailtrack import (
    AuthenticationError,
    ClassAction,
    CommitOutcome,
    CommitResult,
    FetchError,
    ImportAction,
    Importer,
    ImportPolicy,
    IncomingMessage,
    MailInterface,
    MemoryRecordStore,
    MessageClass,
    ParseError,
    RecordStore,
    RunReport,
    SenderPolicy,
    StoreError,
)
from mailtrack._importing.lease import ANOTHER_WORKER
from mailtrack._importing.session import UNCONFIRMED_DELETIONS
from mailtrack.testing import FakeFetcher, FakeMailbox, ManualClock, build_message

ANYONE = ImportPolicy(sender_policy=SenderPolicy.ANYONE)


def make_interface(name: str = "support", **overrides: object) -> MailInterface:
    values: dict[str, object] = {
        "server": "pop.example.com",
        "login": name,
        "password": "s3cret",
        "project": "helpdesk",
        "defaults": {"priority": "normal", "category": "email"},
        "policy": ANYONE,
    }
    values.update(overrides)
    return MailInterface(name=name, **values)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store_clock(clock: ManualClock) -> ManualClock:
    """The stores (memory, SQL on in-memory SQLite: see conftest.py) keep the test's clock."""
    return clock


def importer_for(
    mailbox: FakeMailbox, store: RecordStore, clock: ManualClock | None = None, **kwargs: object
) -> Importer:
    if clock is not None:
        kwargs.setdefault("clock", clock)
    return Importer(store=store, fetcher_factory=mailbox.fetcher, **kwargs)  # type: ignore[arg-type]


class FailingConverter:
    """Wraps the real converter and fails on messages whose bytes contain *marker*."""

    def __init__(self, marker: bytes, error: Exception) -> None:
        self.marker = marker
        self.error = error
        self.inner = Importer().converter

    def convert(self, raw: bytes, *, received_at: datetime) -> IncomingMessage:
        if self.marker in raw:
            raise self.error
        return self.inner.convert(raw, received_at=received_at)


# -- creating and appending ---------------------------------------------------------------------


def test_new_message_opens_a_record_in_the_interface_project(store: RecordStore) -> None:
    raw = build_message(subject="Re: FW:  Printer   jammed", text="It jams on every page.\n")
    mailbox = FakeMailbox({"u1": raw})

    report = importer_for(mailbox, store).run(make_interface())

    [record] = store.list_records()
    assert record.project == "helpdesk"
    assert record.title == "Printer jammed"
    assert dict(record.fields) == {"priority": "normal", "category": "email"}
    [detail] = record.details
    assert "It jams on every page." in detail.text
    assert detail.sender is not None
    assert detail.sender.address == "alice@example.com"
    assert detail.interface == "support"
    assert (report.created, report.imported, report.updated, report.failed, report.error) == (
        1,
        1,
        0,
        0,
        None,
    )
    assert report.classes == {"normal": 1}
    assert store.is_imported("support", "u1")
    assert len(mailbox) == 0
    assert mailbox.sessions[0].committed


def test_follow_up_naming_the_record_is_appended_and_moves_updated_at(
    store: RecordStore, clock: ManualClock
) -> None:
    mailbox = FakeMailbox([build_message(subject="Printer jammed")])
    importer = importer_for(mailbox, store, clock)
    importer.run(make_interface())
    [record] = store.list_records()

    clock.advance(3600)
    mailbox.add(build_message(subject=f"Re: [#{record.id}] Printer jammed", text="Still jammed.\n"))
    report = importer.run(make_interface())

    updated = store.get_record(record.id)
    assert (report.updated, report.created, report.imported) == (1, 0, 1)
    assert len(store.list_records()) == 1
    assert len(updated.details) == 2
    assert "Still jammed." in updated.details[1].text
    assert updated.updated_at > record.updated_at
    assert updated.title == "Printer jammed"
    assert len(mailbox) == 0


def test_unknown_record_id_opens_a_new_record(store: RecordStore) -> None:
    mailbox = FakeMailbox([build_message(subject="Re: #999 printer")])

    report = importer_for(mailbox, store).run(make_interface())

    [record] = store.list_records()
    assert record.title == "#999 printer"
    assert report.created == 1
    assert any("#999" in note for note in report.notes)


def test_record_id_of_another_project_opens_a_new_record(store: RecordStore) -> None:
    mailbox = FakeMailbox([build_message(subject="Invoice missing")])
    importer = importer_for(mailbox, store)
    importer.run(make_interface("sales", project="sales"))
    [foreign] = store.list_records()

    mailbox.add(build_message(subject=f"Re: #{foreign.id} printer"))
    report = importer.run(make_interface("support", project="helpdesk"))

    assert report.created == 1
    assert len(store.get_record(foreign.id).details) == 1
    [new] = store.list_records(project="helpdesk")
    assert new.id != foreign.id
    assert len(mailbox) == 0


def test_html_attachments_and_inline_images_arrive_intact(store: RecordStore) -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 4
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    raw = build_message(
        subject="Screenshot",
        text="See the screenshot.\n",
        html='<p>See <img src="cid:shot@example.com"></p>',
        inline_images=[("shot@example.com", "image/png", png)],
        attachments=[("report.pdf", "application/pdf", pdf)],
    )
    importer_for(FakeMailbox([raw]), store).run(make_interface())

    [record] = store.list_records(load_content=True)
    [detail] = record.details
    assert detail.html is not None
    assert "cid:shot@example.com" in detail.html
    contents = {attachment.filename: attachment.content for attachment in detail.attachments}
    assert contents["report.pdf"] == pdf
    assert png in contents.values()


# -- exactly once --------------------------------------------------------------------------------


def test_second_run_with_leave_copy_imports_nothing_twice(store: RecordStore) -> None:
    mailbox = FakeMailbox([build_message(subject="one"), build_message(subject="two")])
    importer = importer_for(mailbox, store)
    interface = make_interface(leave_copy=True)

    first = importer.run(interface)
    second = importer.run(interface)

    assert (first.created, first.imported) == (2, 2)
    assert (second.created, second.imported, second.already_imported) == (0, 0, 2)
    assert len(store.list_records()) == 2
    assert len(mailbox) == 2
    assert mailbox.sessions[1].retrieved == []
    assert mailbox.sessions[1].deleted == []


def test_delete_mode_empties_the_mailbox(store: RecordStore) -> None:
    mailbox = FakeMailbox([build_message(subject=f"message {n}") for n in range(5)])

    report = importer_for(mailbox, store).run(make_interface())

    assert report.created == 5
    assert len(mailbox) == 0
    assert sorted(mailbox.sessions[0].deleted) == [f"uid-{n}" for n in range(1, 6)]
    assert len(store.list_records()) == 5


def test_committed_messages_left_by_a_crash_before_quit_are_deleted_next_run(
    store: RecordStore,
) -> None:
    mailbox = FakeMailbox([build_message(subject="one"), build_message(subject="two")])
    importer = importer_for(mailbox, store)
    mailbox.fail_on_close = FetchError("connection reset before QUIT was answered")

    first = importer.run(make_interface())
    assert first.error == UNCONFIRMED_DELETIONS
    assert first.created == 2
    assert len(mailbox) == 2

    mailbox.fail_on_close = None
    second = importer.run(make_interface())

    assert (second.created, second.imported, second.already_imported, second.error) == (0, 0, 2, None)
    # Retrieved once more, to tell them from new mail under UIDs the server reused (test_faults.py).
    assert mailbox.sessions[1].retrieved == ["uid-1", "uid-2"]
    assert len(mailbox) == 0
    assert len(store.list_records()) == 2


def test_same_message_id_through_two_interfaces_is_one_detail(store: RecordStore) -> None:
    raw = build_message(subject="Printer", message_id="<same-mail@example.com>", to=["support@x", "sales@x"])
    boxes = {"support": FakeMailbox([raw]), "sales": FakeMailbox([raw])}
    importer = Importer(store=store, fetcher_factory=lambda i: boxes[i.name].fetcher(i))

    first = importer.run(make_interface("support"))
    second = importer.run(make_interface("sales"))

    [record] = store.list_records()
    assert len(record.details) == 1
    assert (first.created, second.created, second.already_imported, second.imported) == (1, 0, 1, 0)
    assert store.is_imported("sales", "uid-1")
    assert len(boxes["sales"]) == 0


def test_mailbox_without_uidl_is_keyed_by_digest_and_idempotent(store: RecordStore) -> None:
    raws = [build_message(subject="one"), build_message(subject="two")]
    mailbox = FakeMailbox(raws, uidl=False)
    importer = importer_for(mailbox, store)
    interface = make_interface(leave_copy=True)

    first = importer.run(interface)
    second = importer.run(interface)

    assert first.created == 2
    assert (second.created, second.imported, second.already_imported) == (0, 0, 2)
    assert len(store.list_records()) == 2
    assert len(mailbox) == 2
    assert store.is_imported("support", "sha256:" + hashlib.sha256(raws[0]).hexdigest())


def test_mailbox_without_uidl_in_delete_mode_empties_it(store: RecordStore) -> None:
    mailbox = FakeMailbox([build_message(subject="one"), build_message(subject="two")], uidl=False)

    report = importer_for(mailbox, store).run(make_interface())

    assert report.created == 2
    assert len(mailbox) == 0


# -- nothing lost ----------------------------------------------------------------------------------


def test_converter_failure_quarantines_the_message_and_the_run_goes_on(store: RecordStore) -> None:
    bad = build_message(subject="broken", text="POISON\n")
    mailbox = FakeMailbox({"bad": bad, "good": build_message(subject="fine")})
    converter = FailingConverter(b"POISON", ParseError("the MIME structure is broken"))

    report = importer_for(mailbox, store, converter=converter).run(make_interface())

    assert (report.failed, report.created, report.error) == (1, 1, None)
    [held] = store.list_quarantined()
    assert (held.interface, held.uid, held.raw) == ("support", "bad", bad)
    assert "the MIME structure is broken" in held.error
    assert mailbox.uids == ["bad"]
    assert [record.title for record in store.list_records()] == ["fine"]
    assert any("bad" in note and "quarantined" in note for note in report.notes)


def test_unexpected_converter_exception_is_quarantined_too(store: RecordStore) -> None:
    mailbox = FakeMailbox({"bad": build_message(text="POISON\n")})
    converter = FailingConverter(b"POISON", RuntimeError("converter bug"))

    report = importer_for(mailbox, store, converter=converter).run(make_interface())

    assert report.failed == 1
    assert report.error is None
    [held] = store.list_quarantined()
    assert "RuntimeError: converter bug" in held.error
    assert mailbox.uids == ["bad"]


def test_quarantined_message_is_skipped_next_run_and_stays(store: RecordStore) -> None:
    mailbox = FakeMailbox({"bad": build_message(text="POISON\n")})
    importer = importer_for(mailbox, store, converter=FailingConverter(b"POISON", ParseError("unreadable")))
    importer.run(make_interface())

    second = importer.run(make_interface())

    assert (second.quarantined, second.left_on_server) == (0, 1)
    assert mailbox.sessions[1].retrieved == []
    assert mailbox.uids == ["bad"]
    assert store.list_quarantined()[0].attempts == 1


def test_delete_quarantined_policy_removes_the_quarantined_message(store: RecordStore) -> None:
    raw = build_message(text="POISON\n")
    mailbox = FakeMailbox({"bad": raw})
    interface = make_interface(policy=attrs.evolve(ANYONE, delete_quarantined=True))
    importer = importer_for(mailbox, store, converter=FailingConverter(b"POISON", ParseError("x")))

    report = importer.run(interface)

    assert report.failed == 1
    assert len(mailbox) == 0
    assert store.list_quarantined()[0].raw == raw


def test_run_that_cannot_start_reports_the_error_saves_it_and_loses_nothing(
    store: RecordStore,
) -> None:
    mailbox = FakeMailbox([build_message()], fail_on_open=AuthenticationError("the server refused the login"))

    report = importer_for(mailbox, store).run(make_interface())

    assert report.error == "the server refused the login"
    assert not report.ok
    assert store.last_run("support") == report
    assert len(mailbox) == 1
    assert store.list_records() == []
    assert "s3cret" not in repr(report)


def test_connection_lost_mid_run_keeps_everything_on_the_server(store: RecordStore) -> None:
    mailbox = FakeMailbox([build_message(subject=f"m{n}") for n in range(3)])
    mailbox.fail_on_retrieve = {2: FetchError("connection reset by peer")}
    importer = importer_for(mailbox, store)

    first = importer.run(make_interface())

    assert first.error is not None
    assert "connection reset by peer" in first.error
    assert first.created == 1
    assert not mailbox.sessions[0].committed
    assert len(mailbox) == 3  # no QUIT: not even the committed one is deleted

    mailbox.fail_on_retrieve = {}
    second = importer.run(make_interface())

    assert (second.created, second.already_imported, second.error) == (2, 1, None)
    assert len(mailbox) == 0
    assert sorted(record.title for record in store.list_records()) == ["m0", "m1", "m2"]


def test_too_large_messages_are_not_retrieved_and_are_noted(store: RecordStore) -> None:
    big = build_message(subject="big", text="x" * 5000)
    mailbox = FakeMailbox({"small": build_message(subject="small"), "big": big})

    report = importer_for(mailbox, store).run(make_interface(max_message_bytes=3000))

    assert (report.created, report.left_on_server) == (1, 1)
    assert mailbox.sessions[0].retrieved == ["small"]
    assert mailbox.uids == ["big"]
    [note] = [note for note in report.notes if "max_message_bytes" in note]
    assert "message 2" in note
    assert "uid big" in note
    assert str(len(big)) in note


class CommitFailingStore(MemoryRecordStore):
    """A store whose commit fails for subjects containing 'FAIL'; quarantine can be broken too."""

    quarantine_broken = False

    def commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
        message = getattr(action, "message", None)
        if message is not None and "FAIL" in message.subject:
            raise StoreError("database is locked")
        return super().commit(interface, uid, action)

    def quarantine(self, interface: str, uid: str, raw: bytes, error: str):  # type: ignore[no-untyped-def]
        if self.quarantine_broken:
            raise StoreError("disk full")
        return super().quarantine(interface, uid, raw, error)


def test_store_failure_on_commit_quarantines_the_message() -> None:
    store = CommitFailingStore()
    mailbox = FakeMailbox({"a": build_message(subject="FAIL me"), "b": build_message(subject="ok")})

    report = importer_for(mailbox, store).run(make_interface())

    assert (report.failed, report.created, report.error) == (1, 1, None)
    [held] = store.list_quarantined()
    assert held.uid == "a"
    assert "database is locked" in held.error
    assert mailbox.uids == ["a"]


@pytest.mark.parametrize("batch_size", [1, 100], ids=["one by one", "batched"])
def test_unusable_store_stops_the_run_and_deletes_only_committed_messages(batch_size: int) -> None:
    # Batched, the batch fails and is committed again one by one: the same outcome.
    store = CommitFailingStore()
    store.quarantine_broken = True
    mailbox = FakeMailbox(
        {
            "a": build_message(subject="ok"),
            "b": build_message(subject="FAIL"),
            "c": build_message(subject="c"),
        }
    )

    report = importer_for(mailbox, store, batch_size=batch_size).run(make_interface())

    assert report.error is not None
    assert "disk full" in report.error
    assert report.created == 1
    assert mailbox.sessions[0].committed
    assert mailbox.uids == ["b", "c"]
    assert [record.title for record in store.list_records()] == ["ok"]


def test_keyboard_interrupt_drops_the_session_saves_the_report_and_propagates(
    store: RecordStore,
) -> None:
    mailbox = FakeMailbox({"a": build_message(subject="a"), "b": build_message(subject="STOP")})
    importer = importer_for(mailbox, store, converter=FailingConverter(b"STOP", KeyboardInterrupt()))  # type: ignore[arg-type]

    with pytest.raises(KeyboardInterrupt):
        importer.run(make_interface())

    assert not mailbox.sessions[0].committed
    assert mailbox.sessions[0].closed
    assert len(mailbox) == 2
    last = store.last_run("support")
    assert last is not None
    assert last.error is not None
    assert "interrupted" in last.error
    assert store.acquire_lease("support", "someone-else", 60)


def test_unexpected_fetcher_error_is_reported_and_logged(
    store: RecordStore, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox = FakeMailbox([build_message()])
    mailbox.fail_on_retrieve = {1: ValueError("fetcher bug")}

    with caplog.at_level(logging.ERROR, logger="mailtrack"):
        report = importer_for(mailbox, store).run(make_interface())

    assert report.error is not None
    assert "fetcher bug" in report.error
    assert "unexpected" in report.error
    assert any("fetcher bug" in (record.exc_text or "") for record in caplog.records)
    assert len(mailbox) == 1
    assert store.last_run("support") == report


# -- machine mail ------------------------------------------------------------------------------------

AUTO_REPLY_HEADERS = {"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"}


def test_auto_reply_never_opens_a_record(store: RecordStore) -> None:
    raw = build_message(subject="Out of office: printer", headers=AUTO_REPLY_HEADERS)
    mailbox = FakeMailbox([raw])

    report = importer_for(mailbox, store).run(make_interface())

    assert store.list_records() == []
    assert (report.created, report.skipped, report.imported) == (0, 1, 1)
    assert report.classes == {"auto_reply": 1}
    assert store.is_imported("support", "uid-1")
    assert len(mailbox) == 0


def test_auto_reply_is_appended_to_the_record_it_answers(store: RecordStore) -> None:
    mailbox = FakeMailbox([build_message(subject="Printer", message_id="<first@example.com>")])
    importer = importer_for(mailbox, store)
    importer.run(make_interface())
    [record] = store.list_records()

    mailbox.add(
        build_message(
            subject="Automatic reply: Printer",
            headers=AUTO_REPLY_HEADERS,
            in_reply_to="<first@example.com>",
            references=["<first@example.com>"],
        )
    )
    report = importer.run(make_interface())

    assert report.updated == 1
    details = store.get_record(record.id).details
    assert len(details) == 2
    assert details[1].message_class is MessageClass.AUTO_REPLY
    assert len(store.list_records()) == 1


@pytest.mark.parametrize(
    ("action", "records", "quarantined", "left"),
    [(ClassAction.DROP, 0, 0, 0), (ClassAction.QUARANTINE, 0, 1, 1), (ClassAction.NORMAL, 1, 0, 0)],
)
def test_auto_reply_follows_its_class_action(
    store: RecordStore, action: ClassAction, records: int, quarantined: int, left: int
) -> None:
    mailbox = FakeMailbox([build_message(subject="Out of office", headers=AUTO_REPLY_HEADERS)])
    interface = make_interface(policy=attrs.evolve(ANYONE, on_auto_reply=action))

    report = importer_for(mailbox, store).run(interface)

    assert len(store.list_records()) == records
    assert len(store.list_quarantined()) == quarantined
    assert len(mailbox) == left
    assert report.classes == {"auto_reply": 1}


# -- retry, run_all, check, lease ----------------------------------------------------------------


def test_retry_quarantined_imports_the_message_and_releases_it(store: RecordStore) -> None:
    raw = build_message(subject="Printer", text="POISON\n")
    mailbox = FakeMailbox({"bad": raw})
    interface = make_interface()
    store.save_interface(interface)
    failing = importer_for(mailbox, store, converter=FailingConverter(b"POISON", ParseError("x")))
    failing.run(interface)
    [held] = store.list_quarantined()

    fixed = importer_for(mailbox, store)
    result = fixed.retry_quarantined(held.id)

    assert result.outcome is CommitOutcome.CREATED
    assert store.list_quarantined() == []
    record = store.get_record(result.record_id or 0)
    assert (record.title, record.project) == ("Printer", "helpdesk")
    assert store.is_imported("support", "bad")

    later = fixed.run(interface)  # the message is in the ledger now: deleted, not imported again
    assert (later.created, later.already_imported) == (0, 1)
    assert len(mailbox) == 0
    assert len(store.list_records()) == 1


def test_retry_quarantined_that_fails_again_updates_the_error(store: RecordStore) -> None:
    mailbox = FakeMailbox({"bad": build_message(text="POISON\n")})
    importer = importer_for(mailbox, store, converter=FailingConverter(b"POISON", ParseError("first")))
    importer.run(make_interface())
    [held] = store.list_quarantined()

    importer.converter = FailingConverter(b"POISON", ParseError("still broken"))
    with pytest.raises(ParseError, match="still broken"):
        importer.retry_quarantined(held.id, interface=make_interface())

    [again] = store.list_quarantined()
    assert again.id == held.id
    assert again.error == "still broken"
    assert again.attempts == 2
    assert store.list_records() == []


def test_run_all_runs_saved_enabled_interfaces_and_survives_a_failing_one(store: RecordStore) -> None:
    boxes = {
        "broken": FakeMailbox(
            [build_message()], fail_on_open=FetchError("cannot connect to pop.example.com")
        ),
        "sales": FakeMailbox([build_message(subject="sales mail")]),
        "off": FakeMailbox([build_message(subject="disabled mail")]),
        "support": FakeMailbox([build_message(subject="support mail")]),
    }
    store.save_interface(make_interface("broken"))
    store.save_interface(make_interface("sales", project="sales"))
    store.save_interface(make_interface("off", enabled=False))
    store.save_interface(make_interface("support"))
    importer = Importer(store=store, fetcher_factory=lambda i: boxes[i.name].fetcher(i))

    reports = importer.run_all()

    by_name = {report.interface: report for report in reports}
    assert set(by_name) == {"broken", "sales", "support"}
    assert by_name["broken"].error == "cannot connect to pop.example.com"
    assert by_name["sales"].created == by_name["support"].created == 1
    assert sorted(record.title for record in store.list_records()) == ["sales mail", "support mail"]
    assert len(boxes["broken"]) == len(boxes["off"]) == 1
    assert store.last_run("off") is None
    assert store.last_run("broken") == by_name["broken"]


def test_check_delegates_to_the_fetcher(store: RecordStore) -> None:
    mailbox = FakeMailbox([build_message(), build_message()])
    importer = importer_for(mailbox, store)

    check = importer.check(make_interface())

    assert check.ok
    assert (check.interface, check.message_count) == ("support", 2)
    assert check.uidl

    mailbox.fail_on_open = AuthenticationError("the server refused the login")
    failed = importer.check(make_interface())
    assert (failed.ok, failed.error) == (False, "the server refused the login")


def test_lease_held_by_another_worker_stops_the_run_before_connecting(store: RecordStore) -> None:
    mailbox = FakeMailbox([build_message()])
    assert store.acquire_lease("support", "worker-elsewhere", 300)

    report = importer_for(mailbox, store).run(make_interface())

    assert report.error is not None
    assert report.error.startswith(f"{ANOTHER_WORKER} (worker-elsewhere, lease until ")
    assert report.busy
    assert mailbox.sessions == []
    assert len(mailbox) == 1
    assert store.list_records() == []
    # The busy run is not saved: last_run stays the report of the worker that does the work.
    assert store.last_run("support") is None
    # ... and the other worker's lease was left alone:
    assert not store.acquire_lease("support", "third-worker", 300)


class LeaseStolenStore(MemoryRecordStore):
    """Grants the lease at the start and for *renewals* renewals; then another worker has it."""

    renewals = 1
    calls = 0

    def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        self.calls += 1
        if self.calls > 1 + self.renewals:
            return False
        return super().acquire_lease(name, owner, seconds)


@pytest.mark.parametrize("batch_size", [1, 100], ids=["one by one", "batched"])
def test_lease_lost_while_working_stops_the_run_after_the_committed_messages(batch_size: int) -> None:
    store = LeaseStolenStore()
    mailbox = FakeMailbox(
        {"a": build_message(subject="a"), "b": build_message(subject="b"), "c": build_message()}
    )
    # A tiny lease is renewed after every message. Batched, the messages decided before the
    # lease was lost are committed (and deleted) all the same, as one by one.
    importer = importer_for(mailbox, store, lease_seconds=1e-9, batch_size=batch_size)

    report = importer.run(make_interface())

    assert report.error is not None
    assert "another worker took it over" in report.error
    assert report.created == 2
    assert mailbox.sessions[0].committed
    assert mailbox.uids == ["c"]
    assert sorted(record.title for record in store.list_records()) == ["a", "b"]


def test_lease_is_released_after_the_run(store: RecordStore) -> None:
    importer = importer_for(FakeMailbox([build_message()]), store, worker_id="me")

    importer.run(make_interface())

    assert store.acquire_lease("support", "someone-else", 300)


def test_report_times_come_from_the_clock(store: RecordStore, clock: ManualClock) -> None:
    report = importer_for(FakeMailbox([]), store, clock).run(make_interface())

    assert report.started_at == report.finished_at == clock()
    assert report == RunReport(interface="support", started_at=clock(), finished_at=clock())


def test_one_fake_fetcher_serves_run_after_run(store: RecordStore) -> None:
    fetcher = FakeFetcher([build_message(subject="one")])
    importer = Importer(store=store, fetcher_factory=fetcher.factory)

    first = importer.run(make_interface())
    fetcher.mailbox.add(build_message(subject="two"))
    second = importer.run(make_interface())

    assert (first.created, second.created) == (1, 1)
    assert fetcher.deleted == ["uid-2"]
    assert fetcher.committed
    assert len(fetcher.mailbox) == 0


def test_default_importer_has_working_parts() -> None:
    importer = Importer()

    assert isinstance(importer.store, MemoryRecordStore)
    assert importer.matcher.match("#5") == 5
    from mailtrack.fetching import fetcher_for

    assert importer.fetcher_factory is fetcher_for


# -- end to end over real POP3 (POP3TestServer + POP3Fetcher) --------------------------------------


def pop3_messages() -> list[bytes]:
    return [build_message(subject=f"pop3 message {n}", text=f"body {n}\n" * 50) for n in range(3)]


def test_pop3_import_deletes_only_after_commit_and_quit(store: RecordStore) -> None:
    from mailtrack.testing import POP3TestServer

    with POP3TestServer(pop3_messages(), tls="implicit") as server:
        interface = server.interface(name="support", project="helpdesk", policy=ANYONE)
        importer = Importer(store=store)

        report = importer.run(interface)

        assert (report.created, report.imported, report.error) == (3, 3, None)
        assert server.mailbox == []
        assert not server.password_exposed
    assert sorted(record.title for record in store.list_records()) == [f"pop3 message {n}" for n in range(3)]


def test_pop3_connection_dropped_mid_retrieve_loses_and_doubles_nothing(store: RecordStore) -> None:
    from mailtrack.testing import Faults, POP3TestServer

    with POP3TestServer(pop3_messages()) as server:
        interface = server.interface(name="support", policy=ANYONE)
        importer = Importer(store=store)
        server.faults = Faults(drop_after_bytes=100, drop_on_message=2)

        first = importer.run(interface)

        assert first.error is not None
        assert first.created == 1
        assert len(server.mailbox) == 3

        server.faults = Faults()
        second = importer.run(interface)

        assert (second.created, second.already_imported, second.error) == (2, 1, None)
        assert server.mailbox == []
    assert len(store.list_records()) == 3


def test_pop3_connection_dropped_before_quit_is_answered_is_retried(store: RecordStore) -> None:
    from mailtrack.testing import Faults, POP3TestServer

    with POP3TestServer(pop3_messages()) as server:
        interface = server.interface(name="support", policy=ANYONE)
        importer = Importer(store=store)
        server.faults = Faults(drop_after_dele=True)

        first = importer.run(interface)

        assert first.error == UNCONFIRMED_DELETIONS
        assert first.created == 3
        assert len(server.mailbox) == 3

        server.faults = Faults()
        second = importer.run(interface)

        assert (second.created, second.imported, second.already_imported, second.error) == (0, 0, 3, None)
        assert server.mailbox == []
    assert len(store.list_records()) == 3


# -- the test helpers themselves ---------------------------------------------------------------------


def test_fake_fetcher_deletes_only_at_a_committed_close() -> None:
    mailbox = FakeMailbox({"a": b"Subject: a\r\n\r\na\r\n", "b": b"Subject: b\r\n\r\nb\r\n"})

    abandoned = mailbox.fetcher()
    listing = abandoned.open()
    abandoned.delete(listing[0])
    abandoned.close(commit=False)
    assert mailbox.uids == ["a", "b"]
    assert not abandoned.committed

    session = mailbox.fetcher()
    listing = session.open()
    assert [(info.number, info.uid, info.size) for info in listing] == [(1, "a", 17), (2, "b", 17)]
    assert list(session.retrieve_many(listing[1:])) == [(listing[1], b"Subject: b\r\n\r\nb\r\n")]
    session.delete(listing[0])
    assert mailbox.uids == ["a", "b"]
    session.close(commit=True)
    assert (session.deleted, session.retrieved, session.committed) == (["a"], ["b"], True)
    assert mailbox.uids == ["b"]
    with pytest.raises(RuntimeError, match="without an open session"):
        session.delete(listing[1])


def test_fake_mailbox_without_uidl_lists_no_uids() -> None:
    session = FakeMailbox([b"x\r\n"], uidl=False).fetcher()
    assert [info.uid for info in session.open()] == [None]
    assert not session.check().uidl


def test_build_message_makes_parseable_mime_with_exact_bytes() -> None:
    import email
    import email.policy

    pdf = bytes(range(256))
    raw = build_message(
        subject="Grüße zum #7",
        sender="Jürgen <j@example.com>",
        cc=["a@example.com", "b@example.com"],
        text="Grüße\n",
        html='<p>Grüße <img src="cid:logo@x"></p>',
        inline_images=[("logo@x", "image/png", b"\x89PNG")],
        attachments=[("Prüfbericht.pdf", "application/pdf", pdf)],
        message_id="m1@example.com",
        in_reply_to="m0@example.com",
        references=["m-1@example.com", "m0@example.com"],
        headers=[("Received", "from a"), ("Received", "from b")],
        charset="iso-8859-1",
    )
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "Grüße zum #7"
    assert parsed["Message-ID"] == "<m1@example.com>"
    assert parsed["In-Reply-To"] == "<m0@example.com>"
    assert parsed["References"] == "<m-1@example.com> <m0@example.com>"
    assert parsed.get_all("Received") == ["from a", "from b"]
    assert parsed["Cc"] == "a@example.com, b@example.com"
    text = parsed.get_body(preferencelist=("plain",))
    assert text is not None
    assert text.get_content_charset() == "iso-8859-1"
    assert text.get_content().replace("\r\n", "\n") == "Grüße\n"
    [attachment] = list(parsed.iter_attachments())
    assert attachment.get_filename() == "Prüfbericht.pdf"
    assert attachment.get_content() == pdf
    images = [part for part in parsed.walk() if part.get_content_type() == "image/png"]
    assert [part["Content-ID"] for part in images] == ["<logo@x>"]
