"""Importer.explain: the decision without writing anything, equal to what a real import does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mailtrack import (
    ConfigError,
    CreateRecord,
    Explanation,
    Importer,
    ImportPolicy,
    MailInterface,
    RecordStore,
    RunReport,
    SenderPolicy,
    outgoing_headers,
)
from mailtrack.testing import FakeMailbox, build_message, make_incoming

MESSAGES = Path(__file__).parent.parent / "messages"
GOLDEN = sorted([*MESSAGES.glob("*.eml"), *MESSAGES.glob("machine/*.eml"), *MESSAGES.glob("malformed/*.eml")])
KEY = "a key of sixteen characters or more"


def make_interface(name: str = "support", **policy: Any) -> MailInterface:
    return MailInterface(
        name=name,
        server="pop.example.com",
        login="support",
        project="helpdesk",
        policy=ImportPolicy(
            own_addresses=["support@example.com"],
            reply_keys=[KEY],
            reply_address="support@example.com",
            loop_header_value="helpdesk-7f3a",
            delete_quarantined=True,  # so that each run sees only the message explained
            **policy,
        ),
    )


def snapshot(store: RecordStore) -> tuple[Any, ...]:
    records = store.list_records()
    return (
        [(record.id, record.updated_at, len(record.details)) for record in records],
        [(item.id, item.attempts) for item in store.list_quarantined()],
        store.last_run("support"),
    )


def agrees(told: Explanation, report: RunReport, store: RecordStore) -> None:
    """The explanation says what the real import did."""
    counts = {
        "create": (1, 0, 0, 0, 0, 0),
        "append": (0, 1, 0, 0, 0, 0),
        "skip": (0, 0, 1, 0, 0, 0),
        "duplicate": (0, 0, 0, 1, 0, 0),
        "quarantine": (0, 0, 0, 0, 1, 0),
        "leave": (0, 0, 0, 0, 0, 1),
    }[told.action]
    got = (
        report.created,
        report.updated,
        report.skipped,
        report.already_imported,
        report.quarantined,
        report.left_on_server,
    )
    assert got == counts, told
    if told.action in ("append", "duplicate"):
        assert store.record_ids_by_message_ids([told.message_id]) == {told.message_id: told.record_id}
    if told.action == "quarantine":
        assert any(item.error == told.reason for item in store.list_quarantined())
    for note in told.notes:
        assert any(line.endswith(note) for line in report.notes), (note, report.notes)


@pytest.mark.parametrize("sender_policy", [SenderPolicy.PARTICIPANTS, SenderPolicy.ANYONE])
def test_explain_equals_a_real_import_on_every_golden_message(
    store: RecordStore, sender_policy: SenderPolicy
) -> None:
    """Each golden message is explained, then imported, into a store that the earlier ones
    filled (so replies, tags and references find records), and then once more through a second
    mailbox (duplicates). The explanation writes nothing and matches each import."""
    assert len(GOLDEN) > 40
    for number in range(1, 126):  # records #1..#125: the golden messages' tags name some of them
        store.commit(
            "filler", str(number), CreateRecord(message=make_incoming(), project="helpdesk", title="x")
        )
    mailbox = FakeMailbox()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher, conversion_workers=0)
    interface = make_interface(sender_policy=sender_policy)
    reply_to = outgoing_headers(interface, record_id=7)["Reply-To"]
    forged = reply_to.replace("@", "x@")
    extra = [
        build_message(
            subject="by references", sender="carol@c.example", references=["status-2024-14@example.org"]
        ),
        build_message(subject="[#9] token wins", sender="carol@c.example", to=reply_to),
        build_message(subject="forged", sender="carol@c.example", to=forged),
        build_message(subject="Re: [#123] from a participant", sender="alice@example.com"),
    ]
    for each in (interface, make_interface("sales", sender_policy=sender_policy)):
        for raw in [path.read_bytes() for path in GOLDEN] + extra:
            before = snapshot(store)
            told = importer.explain(each, raw)
            assert snapshot(store) == before, told
            mailbox.add(raw)
            agrees(told, importer.run(each), store)


def test_explain_names_the_evidence_the_verdict_and_the_action(store: RecordStore) -> None:
    mailbox = FakeMailbox()
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher)
    interface = make_interface(sender_policy=SenderPolicy.PARTICIPANTS)
    mailbox.add(build_message(subject="Printer", sender="carol@customer.example", message_id="<a@x>"))
    importer.run(interface)
    [record] = store.list_records()
    other = build_message(subject="Other", sender="carol@customer.example", message_id="<b@x>")
    mailbox.add(other)
    importer.run(interface)
    reply_to = outgoing_headers(interface, record_id=record.id)["Reply-To"]

    told = importer.explain(
        interface,
        build_message(
            subject="[#2] new subject", sender="carol@customer.example", to=reply_to, in_reply_to="<b@x>"
        ),
    )
    assert told.message_class is not None
    assert told.message_class.value == "normal"
    assert told.evidence == (
        f"the signed reply token names #{record.id}",
        "In-Reply-To/References name a message of #2",
        "the subject names #2",
    )
    assert (
        told.reasons[1]
        == f"carol@customer.example answered mail sent for record #{record.id} (signed reply token)"
    )
    assert (told.action, told.record_id, told.summary) == ("append", record.id, f"append to #{record.id}")
    assert any("wins" in note for note in told.notes)

    stranger = importer.explain(interface, build_message(subject="[#2] hi", sender="mallory@evil.example"))
    assert stranger.action == "create"
    assert stranger.reasons[-1] == "mallory@evil.example is not a participant of record #2"

    auto = importer.explain(
        interface,
        build_message(
            subject="Out of office", sender="bob@x.example", headers={"Auto-Submitted": "auto-replied"}
        ),
    )
    assert (auto.message_class is not None and auto.message_class.value, auto.action) == (
        "auto_reply",
        "skip",
    )

    small = attrs_evolve_size(interface, 10)
    too_large = importer.explain(small, build_message())
    assert too_large.action == "leave"
    assert "max_message_bytes" in (too_large.reason or "")
    mailbox.add(build_message())
    agrees(too_large, importer.run(small), store)


def attrs_evolve_size(interface: MailInterface, size: int) -> MailInterface:
    import attrs

    return attrs.evolve(interface, max_message_bytes=size)


def test_explain_refuses_a_callback_policy_without_a_callback() -> None:
    interface = make_interface(sender_policy=SenderPolicy.CALLBACK)
    with pytest.raises(ConfigError, match="sender_authorizer"):
        Importer().explain(interface, build_message())
