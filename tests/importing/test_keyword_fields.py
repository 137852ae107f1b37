"""Record fields set by mail: keyword lines and trusted X-Mailtrack-* headers, only by senders who
may write into the record, each change recorded on the detail; a refused sender's new record
keeps a link to the record it named (Record.related)."""

from __future__ import annotations

from typing import Any

import pytest

from mailtrack import ConfigError, Importer, ImportPolicy, MailInterface, RecordStore, SenderPolicy
from mailtrack.testing import FakeMailbox, build_message

FIELDS = {"priority": ["low", "normal", "high"], "status": ["open", "closed"], "customer": []}
CUSTOMER = "Carol <carol@customer.example>"


def make_interface(**policy: Any) -> MailInterface:
    settings: dict[str, Any] = {"sender_policy": SenderPolicy.PARTICIPANTS, "keyword_fields": FIELDS}
    settings.update(policy)
    return MailInterface(
        name="support", server="pop.example.com", login="support", project="helpdesk",
        defaults={"priority": "normal"}, policy=ImportPolicy(**settings),
    )  # fmt: skip


class Desk:
    def __init__(self, store: RecordStore, **policy: Any) -> None:
        self.store, self.mailbox = store, FakeMailbox()
        self.importer = Importer(store=store, fetcher_factory=self.mailbox.fetcher)
        self.interface = make_interface(**policy)

    def deliver(self, **message: Any) -> Any:
        self.mailbox.add(build_message(**message))
        report = self.importer.run(self.interface)
        assert report.error is None
        return report


def test_keyword_lines_set_fields_and_each_change_is_recorded(store: RecordStore) -> None:
    desk = Desk(store)
    desk.deliver(
        subject="Printer", sender=CUSTOMER, text="\nPRIORITY: High\nCustomer: ACME Ltd\n\nThe printer.\n"
    )
    [record] = store.list_records()
    assert dict(record.fields) == {"priority": "high", "customer": "ACME Ltd"}
    assert dict(record.details[0].field_changes) == {
        "priority": ("normal", "high"),
        "customer": (None, "ACME Ltd"),
    }
    assert record.details[0].text.startswith("\nPRIORITY: High")  # the text stays as sent

    report = desk.deliver(subject=f"Re: [#{record.id}]", sender=CUSTOMER, text="Status: closed\nThanks!\n")
    assert report.updated == 1
    record = store.get_record(record.id)
    assert record.fields["status"] == "closed"
    assert dict(record.details[1].field_changes) == {"status": (None, "closed")}


def test_a_sender_who_may_not_write_changes_nothing_and_opens_a_related_record(store: RecordStore) -> None:
    desk = Desk(store)
    desk.deliver(subject="Printer", sender=CUSTOMER)
    [record] = store.list_records()
    report = desk.deliver(
        subject=f"Re: [#{record.id}]", sender="mallory@evil.example", text="Status: closed\n"
    )
    assert report.created == 1
    assert "status" not in store.get_record(record.id).fields
    newest = store.list_records(limit=1)[0]
    assert newest.related == record.id
    assert any(f"related to #{record.id}" in note for note in report.notes)


@pytest.mark.parametrize(
    "text",
    [
        "Hello,\nStatus: closed\n",  # not at the top
        "> Status: closed\nok\n",  # in a quote
        "On Mon, Ann wrote:\n> Status: closed\n",
        "Thanks!\n\nStatus: closed\n",  # after a blank line that ends the keyword lines
    ],
)
def test_keyword_lines_elsewhere_are_ignored(store: RecordStore, text: str) -> None:
    desk = Desk(store)
    desk.deliver(subject="x", sender=CUSTOMER, text=text)
    [record] = store.list_records()
    assert "status" not in record.fields


def test_values_not_allowed_are_noted_and_ignored(store: RecordStore) -> None:
    desk = Desk(store)
    report = desk.deliver(subject="x", sender=CUSTOMER, text="Priority: urgent\nUnknown: key\nStatus: open\n")
    [record] = store.list_records()
    assert dict(record.fields) == {"priority": "normal", "status": "open"}
    assert any("'urgent', which is not one of low, normal, high" in note for note in report.notes)


def test_off_by_default(store: RecordStore) -> None:
    desk = Desk(store, keyword_fields={})
    desk.deliver(subject="x", sender=CUSTOMER, text="Priority: high\n")
    [record] = store.list_records()
    assert dict(record.fields) == {"priority": "normal"}


def test_headers_count_only_from_trusted_interfaces(store: RecordStore) -> None:
    desk = Desk(store)
    desk.deliver(subject="a", sender=CUSTOMER, headers={"X-Mailtrack-Priority": "high"})
    desk.interface = make_interface(trusted_headers=True)
    desk.deliver(subject="b", sender=CUSTOMER, headers={"X-Mailtrack-Priority": "low"}, text="Customer: Z\n")
    fields = {record.title: dict(record.fields) for record in store.list_records()}
    assert fields == {"a": {"priority": "normal"}, "b": {"priority": "low", "customer": "Z"}}


def test_machine_mail_sets_no_fields(store: RecordStore) -> None:
    desk = Desk(store, sender_policy=SenderPolicy.ANYONE)
    desk.deliver(subject="Printer", sender=CUSTOMER)
    [record] = store.list_records()
    desk.deliver(subject=f"Out of office: [#{record.id}]", sender=CUSTOMER, text="Status: closed\n",
                 headers={"Auto-Submitted": "auto-replied"})  # fmt: skip
    assert "status" not in store.get_record(record.id).fields


def test_explain_shows_the_field_changes(store: RecordStore) -> None:
    desk = Desk(store)
    desk.deliver(subject="Printer", sender=CUSTOMER)
    [record] = store.list_records()
    told = desk.importer.explain(
        desk.interface, build_message(subject=f"[#{record.id}]", sender=CUSTOMER, text="Priority: high\n")
    )
    assert dict(told.fields) == {"priority": ("normal", "high")}
    assert "sets priority to 'high'" in told.reasons


def test_bad_keyword_configuration_is_named() -> None:
    with pytest.raises(ConfigError, match="keyword_fields"):
        ImportPolicy(keyword_fields={"not a name!": []})
    with pytest.raises(ConfigError, match="keyword_fields"):
        ImportPolicy(keyword_fields=["priority"])


def test_the_commit_event_of_an_append_names_the_fields_it_changed(store: RecordStore) -> None:
    from mailtrack import CommitEvent

    events: list[CommitEvent] = []
    mailbox = FakeMailbox([build_message(subject="Printer", sender=CUSTOMER)])
    importer = Importer(store=store, fetcher_factory=mailbox.fetcher, on_committed=events.append)
    importer.run(make_interface())
    mailbox.add(
        build_message(subject=f"Re: [#{events[0].record.id}]", sender=CUSTOMER, text="Status: closed\n")
    )
    importer.run(make_interface())
    assert [dict(event.changed_fields) for event in events] == [{"priority": "normal"}, {"status": "closed"}]
