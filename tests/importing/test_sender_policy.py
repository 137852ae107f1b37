"""Who may add to an existing record by naming its #ID: SenderPolicy through Importer.run()."""

from __future__ import annotations

from typing import Any

import pytest

from mailtrack import (
    ConfigError,
    Importer,
    ImportPolicy,
    IncomingMessage,
    MailInterface,
    Record,
    RecordStore,
    SenderPolicy,
)
from mailtrack._importing.policy import check_sender_policy
from mailtrack.testing import FakeMailbox, build_message

CUSTOMER = "Carol Customer <carol@customer.example>"
STRANGER = "Mallory <mallory@evil.example>"


def make_interface(sender_policy: SenderPolicy, **policy: Any) -> MailInterface:
    return MailInterface(
        name="support",
        server="pop.example.com",
        login="support",
        project="helpdesk",
        policy=ImportPolicy(sender_policy=sender_policy, **policy),
    )


def open_record(store: RecordStore, mailbox: FakeMailbox, importer: Importer) -> Record:
    """Import a first message from the customer (cc a colleague), return its record."""
    mailbox.add(build_message(subject="Printer jammed", sender=CUSTOMER, cc="Dave <dave@customer.example>"))
    report = importer.run(make_interface(SenderPolicy.ANYONE))
    assert report.created == 1
    [record] = store.list_records()
    return record


def test_participant_may_append(store: RecordStore) -> None:
    mailbox = FakeMailbox()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)
    record = open_record(store, mailbox, importer)

    mailbox.add(build_message(subject=f"Re: #{record.id} Printer", sender="DAVE@Customer.Example"))
    report = importer.run(make_interface(SenderPolicy.PARTICIPANTS))

    assert report.updated == 1
    assert len(store.get_record(record.id).details) == 2
    assert len(store.list_records()) == 1
    assert len(mailbox) == 0


def test_stranger_opens_a_new_record_and_the_foreign_record_is_untouched(store: RecordStore) -> None:
    mailbox = FakeMailbox()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)
    record = open_record(store, mailbox, importer)

    mailbox.add(build_message(subject=f"Re: #{record.id} Printer", sender=STRANGER, text="Click here\n"))
    report = importer.run(make_interface(SenderPolicy.PARTICIPANTS))

    untouched = store.get_record(record.id)
    assert untouched == record
    assert (report.created, report.updated) == (1, 0)
    [new] = [other for other in store.list_records() if other.id != record.id]
    assert new.details[0].sender is not None
    assert new.details[0].sender.address == "mallory@evil.example"
    assert any("mallory@evil.example" in note and "not a participant" in note for note in report.notes)
    assert len(mailbox) == 0


def test_refused_sender_is_quarantined_when_the_policy_says_so(store: RecordStore) -> None:
    mailbox = FakeMailbox()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)
    record = open_record(store, mailbox, importer)

    raw = build_message(subject=f"Re: #{record.id} Printer", sender=STRANGER)
    uid = mailbox.add(raw)
    report = importer.run(make_interface(SenderPolicy.PARTICIPANTS, quarantine_refused=True))

    assert (report.failed, report.created, report.updated) == (1, 0, 0)
    assert store.get_record(record.id) == record
    assert len(store.list_records()) == 1
    [held] = store.list_quarantined()
    assert (held.uid, held.raw) == (uid, raw)
    assert "not a participant" in held.error
    assert mailbox.uids == [uid]


def test_anyone_may_append_under_the_anyone_policy(store: RecordStore) -> None:
    mailbox = FakeMailbox()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)
    record = open_record(store, mailbox, importer)

    mailbox.add(build_message(subject=f"Re: #{record.id}", sender=STRANGER))
    report = importer.run(make_interface(SenderPolicy.ANYONE))

    assert report.updated == 1
    assert len(store.get_record(record.id).details) == 2


def test_callback_decides_with_the_record_and_the_message(store: RecordStore) -> None:
    seen: list[tuple[int, str]] = []

    def only_customer_domain(record: Record, message: IncomingMessage) -> bool:
        assert message.sender is not None
        seen.append((record.id, message.sender.address))
        return message.sender.address.endswith("@customer.example")

    mailbox = FakeMailbox()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher, sender_authorizer=only_customer_domain)
    record = open_record(store, mailbox, importer)

    mailbox.add(build_message(subject=f"Re: #{record.id}", sender="erin@customer.example"))
    mailbox.add(build_message(subject=f"Re: #{record.id}", sender=STRANGER))
    report = importer.run(make_interface(SenderPolicy.CALLBACK))

    assert seen == [(record.id, "erin@customer.example"), (record.id, "mallory@evil.example")]
    assert (report.updated, report.created) == (1, 1)
    details = store.get_record(record.id).details
    assert [detail.sender.address for detail in details if detail.sender] == [
        "carol@customer.example",
        "erin@customer.example",
    ]


def test_callback_that_raises_quarantines_the_message(store: RecordStore) -> None:
    def broken(record: Record, message: IncomingMessage) -> bool:
        raise RuntimeError("directory service down")

    mailbox = FakeMailbox()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher, sender_authorizer=broken)
    record = open_record(store, mailbox, importer)

    uid = mailbox.add(build_message(subject=f"Re: #{record.id}", sender=CUSTOMER))
    report = importer.run(make_interface(SenderPolicy.CALLBACK))

    assert report.failed == 1
    assert store.get_record(record.id) == record
    [held] = store.list_quarantined()
    assert "directory service down" in held.error
    assert mailbox.uids == [uid]


def test_callback_policy_without_an_authorizer_fails_at_run_start(store: RecordStore) -> None:
    mailbox = FakeMailbox([build_message()])
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)

    report = importer.run(make_interface(SenderPolicy.CALLBACK))

    assert report.error is not None
    assert "sender_authorizer" in report.error
    assert mailbox.sessions == []
    assert len(mailbox) == 1
    assert store.last_run("support") == report
    with pytest.raises(ConfigError, match=r"^support: policy.sender_policy is 'callback'"):
        check_sender_policy(make_interface(SenderPolicy.CALLBACK), None)


def test_auto_reply_from_a_stranger_is_skipped_not_opened_as_a_record(store: RecordStore) -> None:
    mailbox = FakeMailbox()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)
    record = open_record(store, mailbox, importer)

    mailbox.add(
        build_message(
            subject=f"Out of office: Re: #{record.id}",
            sender=STRANGER,
            headers={"Auto-Submitted": "auto-replied"},
        )
    )
    report = importer.run(make_interface(SenderPolicy.PARTICIPANTS))

    assert (report.created, report.updated, report.skipped) == (0, 0, 1)
    assert store.get_record(record.id) == record
    assert len(store.list_records()) == 1
    assert len(mailbox) == 0


def test_refused_senders_new_record_does_not_keep_the_foreign_tag(store: RecordStore) -> None:
    # A reply to the new record's acknowledgement ("Re: [#2] …") must name that record alone.
    mailbox = FakeMailbox()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)
    record = open_record(store, mailbox, importer)

    mailbox.add(build_message(subject=f"Re: [#{record.id}] Printer", sender=STRANGER))
    importer.run(make_interface(SenderPolicy.PARTICIPANTS))
    [new] = [other for other in store.list_records() if other.id != record.id]
    assert new.title == "Printer"

    mailbox.add(build_message(subject=f"Re: [#{new.id}] {new.title}", sender=STRANGER))
    report = importer.run(make_interface(SenderPolicy.PARTICIPANTS))
    assert (report.created, report.updated) == (0, 1)
    assert len(store.get_record(new.id).details) == 2


# -- issue 14.6: the mailbox's own address ----------------------------------------------------------


def own_interface(**settings: Any) -> MailInterface:
    return MailInterface(
        name="support",
        server="pop.example.com",
        login="support@example.com",
        project="helpdesk",
        policy=ImportPolicy(sender_policy=SenderPolicy.PARTICIPANTS),
        **settings,
    )


@pytest.mark.parametrize(
    ("forged", "settings"),
    [
        ("Support <support@example.com>", {}),
        ("SUPPORT@Example.COM", {}),
        ("Help <help@example.com>", {"aliases": ("help@example.com",)}),
    ],
)
def test_a_forged_from_of_the_mailbox_itself_is_own_mail_not_a_follow_up(
    store: RecordStore, forged: str, settings: dict[str, Any]
) -> None:
    """Every record has support@ in its To, so PARTICIPANTS alone would let the forgery in."""
    mailbox = FakeMailbox()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)
    mailbox.add(
        build_message(subject="Printer jammed", sender=CUSTOMER, to="support@example.com, help@example.com")
    )
    assert importer.run(own_interface(**settings)).created == 1
    [record] = store.list_records()

    mailbox.add(build_message(subject=f"Re: #{record.id} closed, pay here", sender=forged))
    report = importer.run(own_interface(**settings))

    assert report.classes == {"own": 1}
    assert (report.created, report.updated, report.skipped) == (0, 0, 1)
    assert len(store.get_record(record.id).details) == 1
    assert len(store.list_records()) == 1


def test_own_addresses_gather_the_policy_the_login_and_the_aliases() -> None:
    interface = MailInterface(
        name="support",
        server="pop.example.com",
        login="Support@Example.com",
        aliases=["help@example.com", "support@example.com"],
        policy=ImportPolicy(own_addresses=("noreply@example.com",)),
    )
    assert interface.own_addresses == ("noreply@example.com", "support@example.com", "help@example.com")
    # A login that is no address adds nothing.
    assert MailInterface(name="x", server="pop.example.com", login="support").own_addresses == ()
