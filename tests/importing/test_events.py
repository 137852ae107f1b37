"""``Importer(on_committed=...)``: told after each commit, once per message, and never in the way."""

from __future__ import annotations

import pytest

from mailtrack import (
    ClassAction,
    CommitEvent,
    CommitOutcome,
    Importer,
    ImportPolicy,
    MailInterface,
    RecordStore,
    SenderPolicy,
)
from mailtrack.testing import FakeMailbox, build_message


def interface(name: str = "support", **changes: object) -> MailInterface:
    values: dict[str, object] = {
        "server": "pop.example.com",
        "login": name,
        "project": "helpdesk",
        "defaults": {"priority": "normal"},
        "policy": ImportPolicy(sender_policy=SenderPolicy.ANYONE, quarantine_refused=True),
    }
    values.update(changes)
    return MailInterface(name=name, **values)  # type: ignore[arg-type]


def mail(n: int, subject: str | None = None) -> bytes:
    return build_message(subject=subject or f"Request {n}", message_id=f"<{n}@customer.example>")


@pytest.mark.parametrize("batch_size", [1, 100])
def test_the_listener_hears_each_new_record_and_follow_up_after_its_commit(
    store: RecordStore, batch_size: int
) -> None:
    heard: list[tuple[CommitOutcome, int, str, bool, bool]] = []

    def listener(event: CommitEvent) -> None:
        # After the commit: the store holds the record, the detail and the ledger row already.
        stored = store.get_record(event.record.id, load_content=False)
        heard.append(
            (
                event.outcome,
                event.record.id,
                event.detail.subject,
                event.detail in stored.details,
                store.is_imported(event.interface, event.uid),
            )
        )

    mailbox = FakeMailbox([mail(1), mail(2), mail(3, "Re: [#1] Request 1"), mail(4, "Re: [#2] more")])
    importer = Importer(
        store=store, fetcher_factory=mailbox.fetcher, on_committed=listener, batch_size=batch_size
    )
    report = importer.run(interface())
    assert (report.created, report.updated, report.error) == (2, 2, None)
    assert heard == [
        (CommitOutcome.CREATED, 1, "Request 1", True, True),
        (CommitOutcome.CREATED, 2, "Request 2", True, True),
        (CommitOutcome.APPENDED, 1, "Re: [#1] Request 1", True, True),
        (CommitOutcome.APPENDED, 2, "Re: [#2] more", True, True),
    ]


def test_the_event_carries_the_record_the_detail_and_the_fields_set(store: RecordStore) -> None:
    events: list[CommitEvent] = []
    mailbox = FakeMailbox([mail(1), mail(2, "Re: [#1] Request 1")])
    Importer(store=store, fetcher_factory=mailbox.fetcher, on_committed=events.append).run(interface())
    created, appended = events
    assert created.created
    assert not appended.created
    assert (created.interface, created.record.project, created.record.title) == (
        "support",
        "helpdesk",
        "Request 1",
    )
    assert dict(created.changed_fields) == {"priority": "normal"}
    assert dict(appended.changed_fields) == {}  # a follow-up moves only updated_at
    assert created.detail == created.record.details[-1]
    assert [detail.subject for detail in appended.record.details] == ["Request 1", "Re: [#1] Request 1"]
    assert appended.record.updated_at >= created.record.updated_at
    assert appended.detail.attachments == ()


def test_never_twice_for_one_message(store: RecordStore) -> None:
    events: list[CommitEvent] = []
    same = mail(1)
    support = FakeMailbox([same, mail(2)])
    sales = FakeMailbox([same])  # the same mail sent to two mailboxes is one detail
    importer = Importer(store=store, fetcher_factory=support.fetcher, on_committed=events.append)
    importer.run(interface(leave_copy=True))
    importer.run(interface(leave_copy=True))  # a second pass: already imported
    Importer(store=store, fetcher_factory=sales.fetcher, on_committed=events.append).run(interface("sales"))
    assert [(event.interface, event.detail.message_id) for event in events] == [
        ("support", "1@customer.example"),
        ("support", "2@customer.example"),
    ]


def test_skipped_and_quarantined_messages_tell_nothing(store: RecordStore) -> None:
    events: list[CommitEvent] = []
    auto_reply = build_message(
        subject="Out of office",
        message_id="<ooo@customer.example>",
        headers={"Auto-Submitted": "auto-replied"},
    )
    outlook_file = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64)  # refused by the converter
    mailbox = FakeMailbox([auto_reply, outlook_file, b"   "])
    policy = ImportPolicy(on_auto_reply=ClassAction.DROP)
    report = Importer(store=store, fetcher_factory=mailbox.fetcher, on_committed=events.append).run(
        interface(policy=policy)
    )
    assert (report.created, report.updated, report.failed) == (0, 0, 2)
    assert events == []


def test_a_failing_listener_neither_undoes_nor_stops_the_import(store: RecordStore) -> None:
    calls: list[int] = []

    def listener(event: CommitEvent) -> None:
        calls.append(event.record.id)
        if len(calls) == 1:
            raise RuntimeError("the notification service is down")

    mailbox = FakeMailbox([mail(1), mail(2), mail(3)])
    report = Importer(store=store, fetcher_factory=mailbox.fetcher, on_committed=listener, batch_size=1).run(
        interface()
    )
    assert (report.created, report.failed, report.error, report.ok) == (3, 0, None, True)
    assert calls == [1, 2, 3]
    assert len(store.list_records()) == 3
    assert len(mailbox) == 0  # deleted from the server as usual
    (note,) = [note for note in report.notes if "on_committed" in note]
    assert "record #1" in note
    assert "RuntimeError: the notification service is down" in note


def test_a_retried_quarantined_message_is_told_too(store: RecordStore) -> None:
    events: list[CommitEvent] = []
    support = interface()
    store.save_interface(support)
    kept = store.quarantine("support", "uid-7", mail(7), "the sender was refused")
    Importer(store=store, on_committed=events.append).retry_quarantined(kept.id)
    (event,) = events
    assert (event.outcome, event.uid, event.detail.message_id) == (
        CommitOutcome.CREATED,
        "uid-7",
        "7@customer.example",
    )


def test_a_listener_failing_on_a_retry_is_logged_not_raised(
    store: RecordStore, caplog: pytest.LogCaptureFixture
) -> None:
    def listener(event: CommitEvent) -> None:
        raise ValueError("boom")

    store.save_interface(interface())
    kept = store.quarantine("support", "uid-7", mail(7), "refused")
    result = Importer(store=store, on_committed=listener).retry_quarantined(kept.id)
    assert result.outcome is CommitOutcome.CREATED
    assert store.list_quarantined() == []
    assert "on_committed listener failed" in caplog.text
