"""The store contract: commits (create, append, skip) and exactly once."""

from __future__ import annotations

from datetime import datetime

import pytest

from ...abc import RecordStore
from ...exceptions import (
    RecordNotFoundError,
    StoreError,
)
from ...models import (
    CommitOutcome,
    CommitResult,
    EmailAddress,
    MessageClass,
    SkipMessage,
)
from .._builders import ManualClock, make_attachment, make_incoming
from ._base import (
    UTC,
    ContractBase,
    append_action,
    create_action,
    record_id_of,
    record_ids,
)

__all__ = ["CommitContract"]


class CommitContract(ContractBase):
    """The part of the store contract on commits: create, append, skip; exactly once."""

    # -- commit: create, append, skip ----------------------------------------------------------

    def test_create_record_returns_created_with_ids(self, store: RecordStore) -> None:
        result = store.commit("support", "uid-1", create_action())
        assert result.outcome is CommitOutcome.CREATED
        assert isinstance(result.record_id, int)
        assert isinstance(result.detail_id, int)
        record = store.get_record(result.record_id)
        assert record.id == result.record_id
        assert [detail.id for detail in record.details] == [result.detail_id]

    def test_created_record_holds_the_action_values(self, store: RecordStore, clock: ManualClock) -> None:
        action = create_action(
            project="acme", title="Printer on fire", fields={"priority": "high", "owner": ""}
        )
        result = store.commit("support", "uid-1", action)
        assert result.record_id is not None
        record = store.get_record(result.record_id)
        assert record.project == "acme"
        assert record.title == "Printer on fire"
        assert dict(record.fields) == {"priority": "high", "owner": ""}
        assert record.created_at == record.updated_at
        if self.controls_time:
            assert record.created_at == clock()

    def test_detail_keeps_every_message_value(self, store: RecordStore) -> None:
        message = make_incoming(
            message_id="abc.123@example.com",
            subject="Printer on fire",
            sender=EmailAddress(address="Alice@Example.com", name="Alice Ä. Example"),
            to=("support@example.com", "Bob <bob@example.com>"),
            cc=("carol@example.com",),
            text="Hello\r\nworld\n",
            html="<p>Hello <b>world</b></p>",
            headers="From: Alice <Alice@Example.com>\r\nSubject: Printer on fire\r\nX-Raw: caf\xe9\r\n",
            sent_at=datetime(2024, 4, 30, 8, 15, 30, tzinfo=UTC),
            received_at=datetime(2024, 4, 30, 8, 16, 0, tzinfo=UTC),
        )
        result = store.commit(
            "support", "uid-1", create_action(message, message_class=MessageClass.AUTO_REPLY)
        )
        assert result.record_id is not None
        (detail,) = store.get_record(result.record_id).details
        assert detail.id == result.detail_id
        assert detail.record_id == result.record_id
        assert detail.message_id == "abc.123@example.com"
        assert detail.subject == "Printer on fire"
        assert detail.sender == EmailAddress(address="Alice@Example.com", name="Alice Ä. Example")
        assert detail.to == (
            EmailAddress(address="support@example.com"),
            EmailAddress(address="bob@example.com", name="Bob"),
        )
        assert detail.cc == (EmailAddress(address="carol@example.com"),)
        assert detail.text == "Hello\r\nworld\n"
        assert detail.html == "<p>Hello <b>world</b></p>"
        assert detail.headers == message.headers
        assert detail.sent_at == datetime(2024, 4, 30, 8, 15, 30, tzinfo=UTC)
        assert detail.received_at == datetime(2024, 4, 30, 8, 16, 0, tzinfo=UTC)
        assert detail.message_class is MessageClass.AUTO_REPLY
        assert detail.interface == "support"
        assert detail.attachments == ()

    def test_detail_without_sender_html_or_text(self, store: RecordStore) -> None:
        message = make_incoming(sender=None, to=(), text="", html=None, headers="")
        result = store.commit("support", "uid-1", create_action(message))
        assert result.record_id is not None
        (detail,) = store.get_record(result.record_id).details
        assert detail.sender is None
        assert detail.to == ()
        assert detail.text == ""
        assert detail.html is None
        assert detail.headers == ""

    def test_empty_html_stays_distinct_from_none(self, store: RecordStore) -> None:
        result = store.commit("support", "uid-1", create_action(make_incoming(html="")))
        assert result.record_id is not None
        assert store.get_record(result.record_id).details[0].html == ""

    def test_unicode_round_trips(self, store: RecordStore) -> None:
        text = "Grüße, ça va? 日本語 — emoji 🔥🖨️ and a NUL-free \u2028 separator"
        message = make_incoming(subject="Drucker brennt 🔥", text=text, html=f"<p>{text}</p>")
        result = store.commit(
            "support", "uid-1", create_action(message, title="Drucker brennt 🔥", fields={"Ort": "Büro 🏢"})
        )
        assert result.record_id is not None
        record = store.get_record(result.record_id)
        assert record.title == "Drucker brennt 🔥"
        assert dict(record.fields) == {"Ort": "Büro 🏢"}
        assert record.details[0].subject == "Drucker brennt 🔥"
        assert record.details[0].text == text
        assert record.details[0].html == f"<p>{text}</p>"

    def test_record_ids_grow_with_each_new_record(self, store: RecordStore) -> None:
        ids = [record_id_of(store.commit("support", f"uid-{n}", create_action())) for n in range(3)]
        assert all(record_id > 0 for record_id in ids)
        assert ids == sorted(ids)
        assert len(set(ids)) == 3

    def test_append_adds_a_detail_oldest_first(self, store: RecordStore) -> None:
        first = store.commit("support", "uid-1", create_action(make_incoming(subject="first")))
        assert first.record_id is not None
        second = store.commit(
            "support", "uid-2", append_action(first.record_id, make_incoming(subject="second"))
        )
        third = store.commit(
            "support", "uid-3", append_action(first.record_id, make_incoming(subject="third"))
        )
        assert second.outcome is CommitOutcome.APPENDED
        assert third.outcome is CommitOutcome.APPENDED
        assert second.record_id == third.record_id == first.record_id
        record = store.get_record(first.record_id)
        assert [detail.subject for detail in record.details] == ["first", "second", "third"]
        assert [detail.id for detail in record.details] == [
            first.detail_id,
            second.detail_id,
            third.detail_id,
        ]
        assert len({first.detail_id, second.detail_id, third.detail_id}) == 3
        assert len(store.list_records()) == 1

    def test_append_keeps_its_own_interface_and_class(self, store: RecordStore) -> None:
        first = store.commit("support", "uid-1", create_action())
        assert first.record_id is not None
        store.commit("sales", "uid-9", append_action(first.record_id, message_class=MessageClass.BOUNCE))
        details = store.get_record(first.record_id).details
        assert [(detail.interface, detail.message_class) for detail in details] == [
            ("support", MessageClass.NORMAL),
            ("sales", MessageClass.BOUNCE),
        ]

    def test_append_moves_updated_at(self, store: RecordStore, clock: ManualClock) -> None:
        first = store.commit("support", "uid-1", create_action())
        assert first.record_id is not None
        created = store.get_record(first.record_id)
        self.wait(clock, 60 if self.controls_time else 1.1)
        store.commit("support", "uid-2", append_action(first.record_id))
        appended = store.get_record(first.record_id)
        assert appended.created_at == created.created_at
        assert appended.updated_at > created.updated_at
        if self.controls_time:
            assert appended.updated_at == clock()

    def test_append_to_a_missing_record_raises_and_writes_nothing(self, store: RecordStore) -> None:
        message = make_incoming(attachments=[make_attachment(b"data")])
        with pytest.raises(RecordNotFoundError):
            store.commit("support", "uid-1", append_action(4711, message))
        assert not store.is_imported("support", "uid-1")
        assert store.find_record_by_message_id(message.message_id) is None
        assert store.list_records() == []
        assert not store.has_record(4711)

    def test_record_not_found_is_a_store_and_lookup_error(self, store: RecordStore) -> None:
        with pytest.raises(StoreError):
            store.commit("support", "uid-1", append_action(4711))
        with pytest.raises(LookupError):
            store.commit("support", "uid-1", append_action(4711))

    def test_uid_of_a_failed_append_can_be_committed_later(self, store: RecordStore) -> None:
        message = make_incoming()
        with pytest.raises(RecordNotFoundError):
            store.commit("support", "uid-1", append_action(4711, message))
        result = store.commit("support", "uid-1", create_action(message))
        assert result.outcome is CommitOutcome.CREATED
        assert store.is_imported("support", "uid-1")

    def test_skip_writes_only_the_ledger_row(self, store: RecordStore) -> None:
        result = store.commit(
            "support", "uid-1", SkipMessage(reason="too large", message_id="big@example.com")
        )
        assert result.outcome is CommitOutcome.SKIPPED
        assert result.record_id is None
        assert result.detail_id is None
        assert store.is_imported("support", "uid-1")
        assert store.list_records() == []
        assert store.find_record_by_message_id("big@example.com") is None

    def test_skipped_message_id_does_not_block_a_later_detail(self, store: RecordStore) -> None:
        store.commit("support", "uid-1", SkipMessage(reason="bounce", message_id="m1@example.com"))
        result = store.commit("sales", "uid-1", create_action(make_incoming(message_id="m1@example.com")))
        assert result.outcome is CommitOutcome.CREATED

    # -- commit: exactly once --------------------------------------------------------------------

    def test_second_commit_of_a_pair_is_already_imported(self, store: RecordStore) -> None:
        first = store.commit("support", "uid-1", create_action())
        assert first.record_id is not None
        again = store.commit("support", "uid-1", create_action(make_incoming(subject="other")))
        assert again.outcome is CommitOutcome.ALREADY_IMPORTED
        assert record_ids(store.list_records()) == [first.record_id]
        assert len(store.get_record(first.record_id).details) == 1

    def test_already_imported_writes_nothing_for_append_or_skip(self, store: RecordStore) -> None:
        first = store.commit("support", "uid-1", create_action())
        assert first.record_id is not None
        before = store.get_record(first.record_id)
        appended = store.commit("support", "uid-1", append_action(first.record_id))
        skipped = store.commit("support", "uid-1", SkipMessage(reason="again"))
        assert appended.outcome is CommitOutcome.ALREADY_IMPORTED
        assert skipped.outcome is CommitOutcome.ALREADY_IMPORTED
        assert store.get_record(first.record_id) == before

    def test_already_imported_comes_before_a_missing_record(self, store: RecordStore) -> None:
        store.commit("support", "uid-1", SkipMessage(reason="seen"))
        result = store.commit("support", "uid-1", append_action(4711))
        assert result.outcome is CommitOutcome.ALREADY_IMPORTED

    def test_same_uid_in_two_interfaces_is_two_messages(self, store: RecordStore) -> None:
        first = store.commit("support", "1", create_action())
        second = store.commit("sales", "1", create_action())
        assert first.outcome is CommitOutcome.CREATED
        assert second.outcome is CommitOutcome.CREATED
        assert first.record_id != second.record_id

    def test_same_message_id_in_two_interfaces_is_one_detail(self, store: RecordStore) -> None:
        message = make_incoming(message_id="shared@example.com")
        first = store.commit("support", "uid-1", create_action(message))
        second = store.commit("sales", "uid-7", create_action(message, project="sales"))
        assert first.outcome is CommitOutcome.CREATED
        assert second == CommitResult(
            outcome=CommitOutcome.DUPLICATE, record_id=first.record_id, detail_id=first.detail_id
        )
        assert store.is_imported("sales", "uid-7")
        assert record_ids(store.list_records()) == [first.record_id]
        assert store.list_records("sales") == []
        assert first.record_id is not None
        assert len(store.get_record(first.record_id).details) == 1

    def test_duplicate_message_id_on_append_leaves_both_records(self, store: RecordStore) -> None:
        original = store.commit(
            "support", "uid-1", create_action(make_incoming(message_id="dup@example.com"))
        )
        other = store.commit("support", "uid-2", create_action())
        assert other.record_id is not None
        before = store.get_record(other.record_id)
        result = store.commit(
            "sales", "uid-3", append_action(other.record_id, make_incoming(message_id="dup@example.com"))
        )
        assert result.outcome is CommitOutcome.DUPLICATE
        assert result.record_id == original.record_id
        assert result.detail_id == original.detail_id
        assert store.get_record(other.record_id) == before

    def test_duplicate_in_the_same_interface_under_a_new_uid(self, store: RecordStore) -> None:
        message = make_incoming()
        first = store.commit("support", "uid-1", create_action(message))
        again = store.commit("support", "uid-2", create_action(message))
        assert again.outcome is CommitOutcome.DUPLICATE
        assert again.detail_id == first.detail_id
        assert store.imported_uids("support", ["uid-1", "uid-2"]) == {"uid-1", "uid-2"}

    def test_duplicate_comes_before_a_missing_record(self, store: RecordStore) -> None:
        message = make_incoming()
        first = store.commit("support", "uid-1", create_action(message))
        result = store.commit("sales", "uid-1", append_action(4711, message))
        assert result.outcome is CommitOutcome.DUPLICATE
        assert result.record_id == first.record_id
        assert store.is_imported("sales", "uid-1")

    def test_commit_many_returns_one_result_per_item_in_order(self, store: RecordStore) -> None:
        results = store.commit_many(
            [
                ("support", "uid-1", create_action(make_incoming(message_id="a@example.com"))),
                ("support", "uid-2", SkipMessage(reason="bounce")),
                ("support", "uid-1", create_action()),
                ("sales", "uid-1", create_action(make_incoming(message_id="a@example.com"))),
            ]
        )
        assert [result.outcome for result in results] == [
            CommitOutcome.CREATED,
            CommitOutcome.SKIPPED,
            CommitOutcome.ALREADY_IMPORTED,
            CommitOutcome.DUPLICATE,
        ]
        assert results[3].record_id == results[0].record_id
        assert store.imported_uids("support", ["uid-1", "uid-2"]) == {"uid-1", "uid-2"}

    def test_commit_many_keeps_earlier_items_when_a_record_is_missing(self, store: RecordStore) -> None:
        with pytest.raises(RecordNotFoundError):
            store.commit_many(
                [
                    ("support", "uid-1", create_action()),
                    ("support", "uid-2", append_action(4711)),
                ]
            )
        assert store.is_imported("support", "uid-1")
        assert not store.is_imported("support", "uid-2")
        assert len(store.list_records()) == 1

    def test_is_imported_and_imported_uids(self, store: RecordStore) -> None:
        store.commit("support", "uid-1", create_action())
        store.commit("support", "uid-2", SkipMessage(reason="drop"))
        store.commit("sales", "uid-3", create_action())
        assert store.is_imported("support", "uid-1")
        assert not store.is_imported("support", "uid-3")
        assert not store.is_imported("sales", "uid-1")
        uids = iter(["uid-1", "uid-2", "uid-3", "uid-4"])  # any iterable, consumed once
        assert store.imported_uids("support", uids) == {"uid-1", "uid-2"}
        assert store.imported_uids("sales", ["uid-1", "uid-3"]) == {"uid-3"}
        assert store.imported_uids("support", []) == set()
        assert store.imported_uids("nobody", ["uid-1"]) == set()

    def test_imported_uids_handles_a_large_listing(self, store: RecordStore) -> None:
        store.commit_many([("support", f"uid-{n}", SkipMessage(reason="x")) for n in range(0, 3000, 7)])
        listing = [f"uid-{n}" for n in range(3000)]
        assert store.imported_uids("support", listing) == {f"uid-{n}" for n in range(0, 3000, 7)}
