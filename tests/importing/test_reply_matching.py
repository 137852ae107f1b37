"""Replies find their record without the subject: threading, signed reply tokens, the evidence
order, trusted senders and the per-interface subject tag, through Importer.run() (memory and SQL
stores)."""

from __future__ import annotations

from typing import Any

import pytest

from mailtrack import (
    ConfigError,
    Importer,
    ImportPolicy,
    MailInterface,
    RecordStore,
    SenderPolicy,
    outgoing_headers,
)
from mailtrack._reply_tokens import SIGNATURE_CHARS, find_tokens, sign, verify
from mailtrack.testing import FakeMailbox, build_message, make_incoming

KEY = "first key, sixteen chars or more"
OLD_KEY = "the old key, still verifying"
CUSTOMER = "Carol Customer <carol@customer.example>"
STRANGER = "Mallory <mallory@evil.example>"


def interface(**policy: Any) -> MailInterface:
    settings: dict[str, Any] = {"reply_keys": [KEY], "reply_address": "support@example.com"}
    settings.update(policy)
    return MailInterface(
        name="support",
        server="pop.example.com",
        login="support",
        project="helpdesk",
        policy=ImportPolicy(**settings),
    )


class Desk:
    """A mailbox, an importer and the interface, with the customer's first message imported."""

    def __init__(self, store: RecordStore, **policy: Any) -> None:
        self.store = store
        self.mailbox = FakeMailbox()
        self.importer = Importer(store=store, fetcher_factory=self.mailbox.fetcher)
        self.interface = interface(**policy)

    def open(self, subject: str = "Printer jammed", message_id: str = "first@customer.example") -> int:
        report = self.deliver(build_message(subject=subject, sender=CUSTOMER, message_id=message_id))
        assert report.created == 1
        return max(record.id for record in self.store.list_records())

    def deliver(self, raw: bytes) -> Any:
        self.mailbox.add(raw)
        report = self.importer.run(self.interface)
        assert report.error is None
        return report

    def details(self, record_id: int) -> int:
        return len(self.store.get_record(record_id).details)


def test_a_reply_with_only_references_joins_its_record(store: RecordStore) -> None:
    desk = Desk(store)
    first = desk.open()
    desk.open("Other problem", "second@customer.example")
    reply = build_message(
        subject="my phone ate the subject",
        sender=CUSTOMER,
        references=["unknown@elsewhere.example", "first@customer.example"],
    )
    report = desk.deliver(reply)
    assert (report.created, report.updated) == (0, 1)
    assert desk.details(first) == 2


def test_in_reply_to_wins_over_references(store: RecordStore) -> None:
    desk = Desk(store)
    first = desk.open()
    second = desk.open("Other problem", "second@customer.example")
    desk.deliver(
        build_message(
            subject="x",
            sender=CUSTOMER,
            in_reply_to="second@customer.example",
            references=["first@customer.example"],
        )
    )
    assert (desk.details(first), desk.details(second)) == (1, 2)


def test_a_reply_to_the_hosts_mail_with_a_new_subject_joins_by_its_token(store: RecordStore) -> None:
    desk = Desk(store)
    record_id = desk.open()
    sent = outgoing_headers(desk.interface, record_id=record_id, subject="Printer jammed")
    reply = build_message(subject="new phone, new subject", sender=CUSTOMER, to=sent["Reply-To"])
    report = desk.deliver(reply)
    assert report.updated == 1
    assert desk.details(record_id) == 2


def test_a_reply_naming_only_the_hosts_message_id_joins_by_references(store: RecordStore) -> None:
    desk = Desk(store)
    record_id = desk.open()
    desk.open("Other", "second@customer.example")
    sent = outgoing_headers(desk.interface, record_id=record_id)
    reply = build_message(subject="no tag here", sender=CUSTOMER, in_reply_to=sent["Message-ID"])
    assert desk.deliver(reply).updated == 1
    assert desk.details(record_id) == 2


def test_a_token_counts_as_evidence_for_the_sender_policy(store: RecordStore) -> None:
    desk = Desk(store, sender_policy=SenderPolicy.PARTICIPANTS)
    record_id = desk.open()
    sent = outgoing_headers(desk.interface, record_id=record_id)
    # The customer forwarded our notification to a colleague, who answers it.
    colleague = build_message(
        subject="about this", sender="Dave <dave@customer.example>", to=sent["Reply-To"]
    )
    assert desk.deliver(colleague).updated == 1
    # Without the token, the same colleague is a stranger.
    stranger = build_message(subject=f"[#{record_id}] hi", sender=STRANGER)
    report = desk.deliver(stranger)
    assert (report.created, report.updated) == (1, 0)
    assert desk.details(record_id) == 2


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-1] + ("a" if token[-1] != "a" else "b"),  # altered signature
        lambda token: token.replace("r", "r1", 1),  # another record number
        lambda token: token + "====",  # padding
        lambda token: token[:-4],  # too short
    ],
    ids=["altered", "other-record", "padding", "short"],
)
def test_a_forged_token_is_ignored_and_noted(store: RecordStore, mangle: Any) -> None:
    desk = Desk(store, sender_policy=SenderPolicy.ANYONE)
    record_id = desk.open()
    token = sign([KEY], record_id)
    forged = f"support+{mangle(token)}@example.com"
    report = desk.deliver(build_message(subject="help", sender=STRANGER, to=forged))
    assert (report.created, report.updated) == (1, 0)
    assert desk.details(record_id) == 1
    assert any("forged or altered reply token" in note for note in report.notes)


def test_a_token_signed_with_a_key_not_configured_is_forged(store: RecordStore) -> None:
    desk = Desk(store)
    record_id = desk.open()
    address = f"support+{sign(['an attacker guessing a key'], record_id)}@example.com"
    report = desk.deliver(build_message(subject="help", sender=STRANGER, to=address))
    assert report.created == 1
    assert desk.details(record_id) == 1


def test_old_keys_still_verify_after_rotation(store: RecordStore) -> None:
    desk = Desk(store, reply_keys=[OLD_KEY])
    record_id = desk.open()
    sent_before = outgoing_headers(desk.interface, record_id=record_id)
    desk.interface = interface(reply_keys=[KEY, OLD_KEY])
    assert outgoing_headers(desk.interface, record_id=record_id)["Reply-To"] != sent_before["Reply-To"]
    report = desk.deliver(build_message(subject="late answer", sender=CUSTOMER, to=sent_before["Reply-To"]))
    assert report.updated == 1
    desk.interface = interface(reply_keys=[KEY])  # the old key retired: its tokens name nothing
    report = desk.deliver(build_message(subject="later still", sender=CUSTOMER, to=sent_before["Reply-To"]))
    assert report.created == 1


def test_tokens_in_another_case_and_after_a_plus_in_the_local_part_verify() -> None:
    token = sign([KEY], 42)
    message = make_incoming(to=[f"SUPPORT+ACME+{token.upper()}@EXAMPLE.COM"])
    [found] = find_tokens(message, [KEY])
    assert (found.place, found.record_id) == ("address", 42)
    assert len(token.partition(".")[2]) == SIGNATURE_CHARS


def test_hostile_token_shapes_verify_as_nothing() -> None:
    assert verify([KEY], "9" * 5000, "a" * SIGNATURE_CHARS) is None
    assert verify([KEY], "42", "é" * SIGNATURE_CHARS) is None
    assert verify([], "42", sign([KEY], 42).partition(".")[2]) is None
    huge = make_incoming(to=[f"support+r{'1' * 40}.{'x' * 64}@example.com"] * 10_000, cc=["x" * 5000])
    assert all(found.record_id is None for found in find_tokens(huge, [KEY]))


def test_without_keys_tokens_are_neither_made_nor_trusted(store: RecordStore) -> None:
    desk = Desk(store, reply_keys=[], reply_address=None)
    record_id = desk.open()
    assert "Reply-To" not in outgoing_headers(desk.interface, record_id=record_id)
    address = f"support+{sign([KEY], record_id)}@example.com"
    assert desk.deliver(build_message(subject="x", sender=CUSTOMER, to=address)).created == 1


def test_references_win_over_the_subject_and_the_notes_say_why(store: RecordStore) -> None:
    desk = Desk(store)
    first = desk.open()
    second = desk.open("Other", "second@customer.example")
    reply = build_message(
        subject=f"Re: [#{second}] Other", sender=CUSTOMER, in_reply_to="first@customer.example"
    )
    report = desk.deliver(reply)
    assert (desk.details(first), desk.details(second)) == (2, 1)
    assert any(f"#{first} wins" in note and "evidence order" in note for note in report.notes)


def test_the_token_wins_over_references_and_subject(store: RecordStore) -> None:
    desk = Desk(store)
    first = desk.open()
    second = desk.open("Other", "second@customer.example")
    third = desk.open("Third", "third@customer.example")
    to = outgoing_headers(desk.interface, record_id=third)["Reply-To"]
    reply = build_message(
        subject=f"[#{second}]", sender=CUSTOMER, to=to, in_reply_to="first@customer.example"
    )
    desk.deliver(reply)
    assert [desk.details(n) for n in (first, second, third)] == [1, 1, 2]


def test_the_evidence_order_is_configurable(store: RecordStore) -> None:
    desk = Desk(store, evidence_order=["subject", "references"])
    first = desk.open()
    second = desk.open("Other", "second@customer.example")
    reply = build_message(
        subject=f"Re: [#{second}] Other", sender=CUSTOMER, in_reply_to="first@customer.example"
    )
    desk.deliver(reply)
    assert (desk.details(first), desk.details(second)) == (1, 2)
    with pytest.raises(ConfigError, match="evidence_order"):
        ImportPolicy(evidence_order=["subject", "astrology"])


def test_references_are_bounded_and_huge_ids_crash_nothing(store: RecordStore) -> None:
    desk = Desk(store)
    first = desk.open()
    references = [f"{n}@spam.example" for n in range(10_000)] + [
        "x" * 5000 + "@spam.example",
        "first@customer.example",
    ]
    report = desk.deliver(build_message(subject="x", sender=CUSTOMER, references=references))
    assert report.updated == 1
    assert desk.details(first) == 2


def test_references_into_another_project_are_not_followed(store: RecordStore) -> None:
    desk = Desk(store)
    first = desk.open()
    desk.interface = MailInterface(name="sales", server="pop.example.com", login="sales", project="sales")
    report = desk.deliver(build_message(subject="x", sender=CUSTOMER, in_reply_to="first@customer.example"))
    assert report.created == 1
    assert desk.details(first) == 1
    assert any("no record of project 'sales'" in note for note in report.notes)


def test_a_stranger_replying_by_references_does_not_write_into_the_record(store: RecordStore) -> None:
    desk = Desk(store, sender_policy=SenderPolicy.PARTICIPANTS)
    first = desk.open()
    report = desk.deliver(build_message(subject="x", sender=STRANGER, in_reply_to="first@customer.example"))
    assert (report.created, report.updated) == (1, 0)
    assert desk.details(first) == 1


# -- trusted senders ------------------------------------------------------------------------------

ACME = {"trusted_senders": ["@acme.example"], "authserv_ids": ["mx.acme.example"]}


def colleague(auth_results: list[str], record_id: int) -> bytes:
    return build_message(
        subject=f"AW: [#{record_id}] Printer jammed",
        sender="Agent <agent@acme.example>",
        headers=[("Authentication-Results", value) for value in auth_results],
    )


@pytest.mark.parametrize(
    "results",
    [
        [
            "mx.acme.example; spf=pass smtp.mailfrom=acme.example; "
            "dmarc=pass (p=reject) header.from=acme.example"
        ],
        ["mx.acme.example 1; dkim=pass (good signature) header.d=acme.example header.s=sel"],
    ],
    ids=["dmarc", "dkim"],
)
def test_a_trusted_colleague_vouched_for_by_our_server_may_write(
    store: RecordStore, results: list[str]
) -> None:
    desk = Desk(store, sender_policy=SenderPolicy.PARTICIPANTS, **ACME)
    record_id = desk.open()
    assert desk.deliver(colleague(results, record_id)).updated == 1


@pytest.mark.parametrize(
    "results",
    [
        [],  # the From header alone
        ["mx.evil.example; dmarc=pass header.from=acme.example"],  # someone else's server
        ["mx.acme.example; dmarc=fail header.from=acme.example"],
        ["mx.acme.example; dkim=pass header.d=evil.example"],  # not aligned
        # Only the first header of our server counts: a forged one below it is ignored.
        [
            "mx.acme.example; dmarc=fail header.from=acme.example",
            "mx.acme.example; dmarc=pass header.from=acme.example",
        ],
    ],
    ids=["none", "foreign-server", "dmarc-fail", "dkim-unaligned", "forged-below"],
)
def test_a_trusted_address_without_our_servers_word_is_not_trusted(
    store: RecordStore, results: list[str]
) -> None:
    desk = Desk(store, sender_policy=SenderPolicy.PARTICIPANTS, **ACME)
    record_id = desk.open()
    report = desk.deliver(colleague(results, record_id))
    assert (report.created, report.updated) == (1, 0)
    assert any("listed as trusted" in note for note in report.notes)


def test_trust_unauthenticated_trusts_the_from_header(store: RecordStore) -> None:
    desk = Desk(store, sender_policy=SenderPolicy.PARTICIPANTS, trust_unauthenticated=True, **ACME)
    record_id = desk.open()
    assert desk.deliver(colleague([], record_id)).updated == 1


# -- the subject tag --------------------------------------------------------------------------------


def test_an_interface_tag_is_what_names_a_record_and_what_outgoing_mail_carries(store: RecordStore) -> None:
    desk = Desk(store, sender_policy=SenderPolicy.ANYONE)
    desk.interface = MailInterface(
        name="support",
        server="pop.example.com",
        login="support",
        project="helpdesk",
        tag="[ACME #{id}]",
        policy=ImportPolicy(sender_policy=SenderPolicy.ANYONE),
    )
    first = desk.open("Order question")
    # "#1" alone no longer names a record: it is an order number.
    report = desk.deliver(build_message(subject=f"Question about order #{first}", sender=CUSTOMER))
    assert report.created == 1
    subject = outgoing_headers(desk.interface, record_id=first, subject="Order question")["Subject"]
    assert subject == f"[ACME #{first}] Order question"
    assert desk.deliver(build_message(subject=f"Re: {subject}", sender=CUSTOMER)).updated == 1
    assert desk.details(first) == 2
    titles = {record.title for record in store.list_records()}
    assert titles == {"Order question", f"Question about order #{first}"}


@pytest.mark.parametrize("tag", ["ACME", "{id}", "[{id}] {id}", "a\n{id}"])
def test_a_tag_must_name_the_id_once_with_text_around_it(tag: str) -> None:
    with pytest.raises(ConfigError, match="tag"):
        MailInterface(name="s", server="pop.example.com", login="s", tag=tag)


def test_reply_keys_need_a_reply_address_and_stay_secret() -> None:
    with pytest.raises(ConfigError, match="reply_address"):
        ImportPolicy(reply_keys=[KEY])
    with pytest.raises(ConfigError, match="16 characters"):
        ImportPolicy(reply_keys=["short"], reply_address="support@example.com")
    policy = ImportPolicy(reply_keys=[KEY], reply_address="support@example.com")
    assert KEY not in repr(policy)
    from mailtrack import dump_config

    assert KEY not in str(dump_config(interface(), format="json"))


def test_replies_find_their_records_through_a_pop3_session(store: RecordStore) -> None:
    from _reply_scenario import replies_find_their_records
    from mailtrack.testing import POP3TestServer

    with POP3TestServer([], user="support", password="secret") as server:
        replies_find_their_records(store, server.interface(), server.add_message)


@pytest.mark.parametrize("batch_size", [1, 100])
def test_a_reply_in_the_same_batch_as_its_request_joins_it(store: RecordStore, batch_size: int) -> None:
    mailbox = FakeMailbox(
        [
            build_message(subject="Printer jammed", sender=CUSTOMER, message_id="<req@customer.example>"),
            build_message(subject="new subject", sender=CUSTOMER, in_reply_to="<req@customer.example>"),
            build_message(subject="and again", sender=CUSTOMER, references=["<req@customer.example>"]),
        ]
    )
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher, batch_size=batch_size)
    report = importer.run(interface(sender_policy=SenderPolicy.PARTICIPANTS))
    assert (report.created, report.updated) == (1, 2)
    [record] = store.list_records()
    assert len(record.details) == 3
