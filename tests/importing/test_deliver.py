"""Importer.deliver: one message handed over by a host or an MTA, through the run's machinery."""

from __future__ import annotations

import threading

import pytest

from mailtrack import (
    ClassAction,
    CommitEvent,
    DeliveryOutcome,
    Importer,
    ImportPolicy,
    InterfaceDisabledError,
    InterfaceNotFoundError,
    MailInterface,
    MemoryRecordStore,
    MessageClass,
    RecordStore,
    Route,
    SenderPolicy,
    StoreError,
)
from mailtrack.testing import FakeMailbox, build_message


def make_interface(**overrides: object) -> MailInterface:
    settings: dict[str, object] = {
        "name": "support",
        "server": "pop.example.com",
        "login": "support",
        "project": "helpdesk",
        "policy": ImportPolicy(sender_policy=SenderPolicy.ANYONE),
    }
    settings.update(overrides)
    return MailInterface(**settings)  # type: ignore[arg-type]


def test_a_delivered_message_opens_a_record(store: RecordStore) -> None:
    report = Importer(store=store).deliver(make_interface(), build_message(subject="Printer on fire"))
    assert report.outcome is DeliveryOutcome.CREATED
    assert report.interface == "support"
    assert report.key.startswith("deliver:")
    assert report.record_id is not None
    assert report.detail_id is not None
    record = store.get_record(report.record_id)
    assert record.project == "helpdesk"
    assert record.title == "Printer on fire"
    assert [detail.id for detail in record.details] == [report.detail_id]
    assert store.is_imported("support", report.key)


def test_the_same_message_delivered_twice_is_imported_once(store: RecordStore) -> None:
    raw = build_message(subject="Retried by the mail server")
    importer = Importer(store=store)
    first = importer.deliver(make_interface(), raw)
    # The MTA may hand it over with other line ends the second time: same content, same key.
    second = importer.deliver(make_interface(), raw.replace(b"\r\n", b"\n"))
    assert first.outcome is DeliveryOutcome.CREATED
    assert second.outcome is DeliveryOutcome.ALREADY_IMPORTED
    assert second.key == first.key
    assert len(store.list_records()) == 1


def test_one_message_id_delivered_to_two_addresses_becomes_one_detail(store: RecordStore) -> None:
    raw = build_message(subject="To sales and support", message_id="<once@example.com>")
    importer = Importer(store=store)
    first = importer.deliver(make_interface(), raw, recipient="support@example.com")
    # Another copy: the MTA added its own trace header, so the bytes differ; the Message-ID is one.
    second = importer.deliver(make_interface(), b"Delivered-To: sales@example.com\r\n" + raw)
    assert first.outcome is DeliveryOutcome.CREATED
    assert second.outcome is DeliveryOutcome.ALREADY_IMPORTED
    assert (second.record_id, second.detail_id) == (first.record_id, first.detail_id)
    assert second.key != first.key
    assert len(store.list_records()) == 1


def test_a_reply_is_added_to_its_record(store: RecordStore) -> None:
    importer = Importer(store=store)
    opened = importer.deliver(make_interface(), build_message(subject="Printer on fire"))
    reply = importer.deliver(
        make_interface(), build_message(subject=f"Re: [#{opened.record_id}] Printer on fire")
    )
    assert reply.outcome is DeliveryOutcome.UPDATED
    assert reply.record_id == opened.record_id
    assert len(store.get_record(opened.record_id or 0).details) == 2


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\x01\x02 not mail at all \xff\xfe",
        b"",
        b"Subject: =?bogus?Q?x?=\nContent-Type: multipart/mixed; boundary=never\n\n--never\nunterminated",
    ],
)
def test_malformed_mail_is_imported_as_well_as_possible_never_an_error(
    store: RecordStore, raw: bytes
) -> None:
    report = Importer(store=store).deliver(make_interface(), raw)
    assert report.outcome in (DeliveryOutcome.CREATED, DeliveryOutcome.QUARANTINED)
    if report.outcome is DeliveryOutcome.QUARANTINED:
        assert [kept.raw for kept in store.list_quarantined()] == [raw]
    else:
        assert report.record_id is not None


def test_policy_quarantine_keeps_the_raw_bytes(store: RecordStore) -> None:
    interface = make_interface(policy=ImportPolicy(on_auto_reply=ClassAction.QUARANTINE))
    raw = build_message(subject="Out of office", headers={"Auto-Submitted": "auto-replied"})
    report = Importer(store=store).deliver(interface, raw)
    assert report.outcome is DeliveryOutcome.QUARANTINED
    assert report.record_id is None
    assert any("quarantined" in note for note in report.notes)
    (kept,) = store.list_quarantined()
    assert (kept.uid, kept.raw) == (report.key, raw)
    # Delivered again: it stays where it is, not quarantined twice.
    again = Importer(store=store).deliver(interface, raw)
    assert again.outcome is DeliveryOutcome.QUARANTINED
    assert len(store.list_quarantined()) == 1


def test_a_message_over_max_message_bytes_is_quarantined_not_lost(store: RecordStore) -> None:
    raw = build_message(subject="Huge", text="x" * 5000)
    report = Importer(store=store).deliver(make_interface(max_message_bytes=1000), raw)
    assert report.outcome is DeliveryOutcome.QUARANTINED
    assert [kept.raw for kept in store.list_quarantined()] == [raw]
    assert store.list_records() == []


def test_an_interface_is_found_by_name(store: RecordStore) -> None:
    store.save_interface(make_interface(project="saved"))
    report = Importer(store=store).deliver("support", build_message())
    assert store.get_record(report.record_id or 0).project == "saved"


def test_an_unknown_interface_name_raises(store: RecordStore) -> None:
    with pytest.raises(InterfaceNotFoundError):
        Importer(store=store).deliver("nobody", build_message())
    assert store.list_records() == []


def test_a_disabled_interface_raises_and_imports_nothing(store: RecordStore) -> None:
    raw = build_message(subject="While it was disabled")
    importer = Importer(store=store)
    store.save_interface(make_interface(enabled=False))
    for interface in (make_interface(enabled=False), "support"):  # given, or saved in the store
        with pytest.raises(InterfaceDisabledError, match="'support' is disabled") as caught:
            importer.deliver(interface, raw)
        assert caught.value.name == "support"
    assert (store.list_records(), store.list_quarantined()) == ([], [])
    # Nothing was kept in the ledger either: delivered again once it is enabled, it is imported.
    report = importer.deliver(make_interface(), raw)
    assert report.outcome is DeliveryOutcome.CREATED
    assert [record.title for record in store.list_records()] == ["While it was disabled"]


def test_the_recipient_routes_before_the_headers(store: RecordStore) -> None:
    interface = make_interface(routes=(Route(address="billing@example.com", project="billing"),))
    raw = build_message(to="Support <support@example.com>")  # the headers name no route
    report = Importer(store=store).deliver(interface, raw, recipient="billing@example.com")
    assert store.get_record(report.record_id or 0).project == "billing"
    plain = Importer(store=store).deliver(interface, build_message(subject="other"))
    assert store.get_record(plain.record_id or 0).project == "helpdesk"


def test_mail_from_the_recipient_itself_is_own_mail(store: RecordStore) -> None:
    """The own-address check: mail claiming to come from the address it was delivered to is a loop."""
    interface = make_interface(
        policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE, on_own_mail=ClassAction.DROP)
    )
    raw = build_message(sender="Help <help@example.com>", to="help@example.com")
    report = Importer(store=store).deliver(interface, raw, recipient="help@example.com")
    assert report.outcome is DeliveryOutcome.SKIPPED
    assert store.list_records() == []
    # Without the recipient, help@ is nobody the interface knows: a normal message.
    other = build_message(sender="Help <help@example.com>", to="help@example.com", subject="second")
    assert Importer(store=store).deliver(interface, other).outcome is DeliveryOutcome.CREATED


def test_on_committed_is_told_once(store: RecordStore) -> None:
    events: list[CommitEvent] = []
    importer = Importer(store=store, on_committed=events.append)
    raw = build_message(subject="Tell me")
    importer.deliver(make_interface(), raw)
    importer.deliver(make_interface(), raw)
    assert [(event.interface, event.detail.subject) for event in events] == [("support", "Tell me")]
    assert events[0].detail.message_class is MessageClass.NORMAL


def test_a_delivered_message_is_not_imported_again_by_a_poll_of_the_same_interface(
    store: RecordStore,
) -> None:
    raw = build_message(subject="Both ways")
    importer = Importer(store=store)
    importer.deliver(make_interface(), raw.replace(b"\r\n", b"\n"))
    mailbox = FakeMailbox([raw])
    report = Importer(store=store, fetcher_factory=mailbox.fetcher).run(make_interface())
    assert (report.created, report.already_imported) == (0, 1)
    assert len(store.list_records()) == 1


def test_concurrent_deliveries_of_one_message_import_it_once(tmp_path: object) -> None:
    from mailtrack.stores import SQLRecordStore

    store = SQLRecordStore(f"sqlite:///{tmp_path}/deliver.db")
    raw = build_message(subject="Twice at once")
    outcomes: list[DeliveryOutcome] = []
    barrier = threading.Barrier(4)

    def deliver() -> None:
        barrier.wait()
        outcomes.append(Importer(store=store).deliver(make_interface(), raw).outcome)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == sorted([DeliveryOutcome.CREATED] + [DeliveryOutcome.ALREADY_IMPORTED] * 3)
    assert len(store.list_records()) == 1
    store.close()


class _FailingStore(MemoryRecordStore):
    def commit(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise StoreError("database is locked")

    def quarantine(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise StoreError("database is locked")


def test_a_failing_store_raises_store_error_and_writes_nothing() -> None:
    store = _FailingStore()
    with pytest.raises(StoreError, match="nothing was imported"):
        Importer(store=store).deliver(make_interface(), build_message())
    assert store.list_records() == []
    assert store.list_quarantined() == []
