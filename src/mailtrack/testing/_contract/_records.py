"""The store contract: reading records, details and attachments."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from ...abc import RecordStore
from ...exceptions import (
    RecordNotFoundError,
    StoreError,
)
from ...models import (
    CommitOutcome,
    RefusedAttachment,
)
from .._builders import ManualClock, make_attachment, make_incoming
from ._base import (
    ALL_BYTES,
    ContractBase,
    append_action,
    attachment_id,
    create_action,
    is_utc,
    record_id_of,
    record_ids,
)

__all__ = ["RecordsContract"]


class RecordsContract(ContractBase):
    """The part of the store contract on reading records, details and attachments."""

    # -- reading records -----------------------------------------------------------------------

    def test_get_record_of_a_missing_id_raises(self, store: RecordStore) -> None:
        with pytest.raises(RecordNotFoundError):
            store.get_record(1)
        store.commit("support", "uid-1", create_action())
        with pytest.raises(RecordNotFoundError):
            store.get_record(4711)

    def test_changing_a_returned_record_does_not_change_the_store(self, store: RecordStore) -> None:
        result = store.commit("support", "uid-1", create_action(fields={"priority": "high"}))
        assert result.record_id is not None
        record = store.get_record(result.record_id)
        fields: Any = record.fields
        fields["priority"] = "low"
        fields["new"] = "value"
        listed: Any = store.list_records()[0].fields
        listed.clear()
        assert dict(store.get_record(result.record_id).fields) == {"priority": "high"}
        assert dict(store.list_records()[0].fields) == {"priority": "high"}

    def test_changing_the_committed_action_does_not_change_the_store(self, store: RecordStore) -> None:
        fields = {"priority": "high"}
        result = store.commit("support", "uid-1", create_action(fields=fields))
        fields["priority"] = "low"
        assert result.record_id is not None
        assert dict(store.get_record(result.record_id).fields) == {"priority": "high"}

    def test_each_read_returns_new_objects(self, store: RecordStore) -> None:
        result = store.commit("support", "uid-1", create_action(fields={"a": "b"}))
        assert result.record_id is not None
        first = store.get_record(result.record_id)
        second = store.get_record(result.record_id)
        assert first == second
        assert first is not second
        assert first.fields is not second.fields

    def test_datetimes_come_back_timezone_aware_in_utc(self, store: RecordStore) -> None:
        plus_two = timezone(timedelta(hours=2))
        sent_at = datetime(2024, 6, 1, 14, 30, 15, 123456, tzinfo=plus_two)
        received_at = datetime(2024, 6, 1, 7, 31, 0, 654321, tzinfo=timezone(timedelta(hours=-5)))
        message = make_incoming(sent_at=sent_at, received_at=received_at)
        result = store.commit("support", "uid-1", create_action(message))
        assert result.record_id is not None
        record = store.get_record(result.record_id)
        (detail,) = record.details
        for moment in (record.created_at, record.updated_at, detail.sent_at, detail.received_at):
            assert is_utc(moment), moment
        assert detail.sent_at == sent_at
        assert detail.sent_at.hour == 12
        assert detail.sent_at.microsecond == 123456
        assert detail.received_at == received_at
        listed = store.list_records()[0]
        assert is_utc(listed.created_at)
        assert is_utc(listed.details[0].sent_at)

    def test_attachments_round_trip_byte_identical(self, store: RecordStore) -> None:
        megabyte = bytes((n * 7 + n // 256) % 256 for n in range(1024 * 1024))
        sent = [
            make_attachment(ALL_BYTES, filename="all-bytes.bin"),
            make_attachment(megabyte, filename="big.bin"),
            make_attachment(
                "Grüße\r\n".encode(),
                filename="note.txt",
                content_type="text/plain",
                original_filename="../../Grüße.txt",
            ),
            make_attachment(
                b"\x89PNG\r\n\x1a\n\x00",
                filename="logo.png",
                content_type="image/png",
                content_id="logo@example.com",
                disposition="inline",
            ),
            make_attachment(b"", filename="empty.dat"),
        ]
        result = store.commit("support", "uid-1", create_action(make_incoming(attachments=sent)))
        assert result.record_id is not None
        got = store.get_record(result.record_id).details[0].attachments
        assert len(got) == len(sent)
        for stored, original in zip(got, sent, strict=True):
            assert isinstance(stored.id, int)
            assert stored.content == original.content
            assert attrs.evolve(stored, id=None) == original
        assert len({stored.id for stored in got}) == len(sent)

    def test_defects_and_refused_attachments_are_kept_on_the_detail(self, store: RecordStore) -> None:
        refused = RefusedAttachment(
            filename="setup.exe",
            content_type="application/x-msdownload",
            size=123456,
            sha256="ab" * 32,
            reason="its name ends in .exe (attachments.refuse_extensions)",
            quarantined=True,
        )
        defects = ("the From header uses the unknown charset 'x-unknown'; read as utf-8", "Grüße \u2028 ✓")
        message = attrs.evolve(make_incoming(), defects=defects, refused_attachments=(refused,))
        first = record_id_of(store.commit("support", "uid-1", create_action(message)))
        store.commit("support", "uid-2", append_action(first))  # a clean message: none
        damaged, clean = store.get_record(first).details
        assert (damaged.defects, damaged.refused_attachments) == (defects, (refused,))
        assert (clean.defects, clean.refused_attachments) == ((), ())
        assert store.list_records()[0].details == store.get_record(first, load_content=False).details

    def test_equal_attachment_contents_stay_separate(self, store: RecordStore) -> None:
        same = [make_attachment(ALL_BYTES, filename="a.bin"), make_attachment(ALL_BYTES, filename="b.bin")]
        first = store.commit("support", "uid-1", create_action(make_incoming(attachments=same)))
        assert first.record_id is not None
        store.commit(
            "support",
            "uid-2",
            append_action(
                first.record_id, make_incoming(attachments=[make_attachment(ALL_BYTES, filename="c")])
            ),
        )
        details = store.get_record(first.record_id).details
        got = [attachment for detail in details for attachment in detail.attachments]
        assert [attachment.filename for attachment in got] == ["a.bin", "b.bin", "c"]
        assert [attachment.content for attachment in got] == [ALL_BYTES] * 3
        assert len({attachment_id(attachment) for attachment in got}) == 3
        assert all(store.get_attachment_content(attachment_id(attachment)) == ALL_BYTES for attachment in got)

    def test_long_values_round_trip(self, store: RecordStore) -> None:
        # RFC 5322 allows header lines of 998 characters; hostile mail goes beyond.
        message_id = "x" * 900 + "@example.com"
        subject = "Lorem ipsum dolor sit amet " * 200
        text = "line of text\n" * 100_000
        attachment = make_attachment(b"x", filename="n" * 200 + ".txt", content_type="text/plain")
        message = make_incoming(message_id=message_id, subject=subject, text=text, attachments=[attachment])
        result = store.commit(
            "support", "u" * 200, create_action(message, title=subject, fields={"k": "v" * 5000})
        )
        assert result.record_id is not None
        record = store.get_record(result.record_id)
        assert record.title == subject
        assert record.fields["k"] == "v" * 5000
        (detail,) = record.details
        assert detail.message_id == message_id
        assert detail.subject == subject
        assert detail.text == text
        assert detail.attachments[0].filename == attachment.filename
        assert store.is_imported("support", "u" * 200)
        found = store.find_record_by_message_id(message_id)
        assert found is not None
        assert found.id == result.record_id
        again = store.commit("sales", "uid-1", create_action(message))
        assert again.outcome is CommitOutcome.DUPLICATE
        # Message-IDs that differ only after a long common prefix are different messages.
        other = store.commit(
            "sales", "uid-2", create_action(make_incoming(message_id="x" * 900 + "@example.org"))
        )
        assert other.outcome is CommitOutcome.CREATED

    def test_get_record_without_content_leaves_content_out(self, store: RecordStore) -> None:
        sent = make_attachment(ALL_BYTES, filename="all-bytes.bin")
        result = store.commit("support", "uid-1", create_action(make_incoming(attachments=[sent])))
        assert result.record_id is not None
        (attachment,) = store.get_record(result.record_id, load_content=False).details[0].attachments
        assert attachment.content is None
        assert attachment.id is not None
        assert attachment.size == 256
        assert attachment.sha256 == sent.sha256
        assert attachment.filename == "all-bytes.bin"

    def test_get_attachment_content(self, store: RecordStore) -> None:
        sent = [make_attachment(ALL_BYTES, filename="a.bin"), make_attachment(b"second", filename="b.bin")]
        result = store.commit("support", "uid-1", create_action(make_incoming(attachments=sent)))
        assert result.record_id is not None
        got = store.get_record(result.record_id, load_content=False).details[0].attachments
        assert [store.get_attachment_content(attachment_id(attachment)) for attachment in got] == [
            ALL_BYTES,
            b"second",
        ]

    def test_get_attachment_content_of_a_missing_id_raises(self, store: RecordStore) -> None:
        with pytest.raises(StoreError):
            store.get_attachment_content(4711)
        with pytest.raises(LookupError):
            store.get_attachment_content(4711)

    def test_list_records_of_an_empty_store(self, store: RecordStore) -> None:
        assert store.list_records() == []
        assert store.list_records("acme", limit=10, offset=5) == []

    def test_list_records_newest_id_first_with_details(self, store: RecordStore) -> None:
        ids = []
        for n in range(3):
            result = store.commit("support", f"uid-{n}", create_action(make_incoming(subject=f"s{n}")))
            ids.append(result.record_id)
        assert ids[0] is not None
        store.commit("support", "uid-9", append_action(ids[0], make_incoming(subject="later")))
        records = store.list_records()
        assert record_ids(records) == ids[::-1]
        assert [detail.subject for detail in records[-1].details] == ["s0", "later"]
        assert records[-1] == store.get_record(ids[0], load_content=False)

    def test_list_records_pages_with_limit_and_offset(self, store: RecordStore) -> None:
        ids = [store.commit("support", f"uid-{n}", create_action()).record_id for n in range(7)]
        newest_first = ids[::-1]
        assert record_ids(store.list_records(limit=3)) == newest_first[:3]
        assert record_ids(store.list_records(limit=3, offset=3)) == newest_first[3:6]
        assert record_ids(store.list_records(limit=3, offset=6)) == newest_first[6:]
        assert record_ids(store.list_records(offset=5)) == newest_first[5:]
        assert store.list_records(limit=3, offset=7) == []
        assert store.list_records(limit=0) == []

    def test_list_records_filters_by_project(self, store: RecordStore) -> None:
        acme: list[int] = []
        other: list[int] = []
        for n in range(6):
            project = "acme" if n % 2 == 0 else "other"
            result = store.commit("support", f"uid-{n}", create_action(project=project))
            (acme if project == "acme" else other).append(record_id_of(result))
        assert record_ids(store.list_records("acme")) == acme[::-1]
        assert record_ids(store.list_records("other")) == other[::-1]
        assert record_ids(store.list_records("acme", limit=2, offset=1)) == acme[::-1][1:3]
        assert store.list_records("nobody") == []
        assert len(store.list_records()) == 6

    def test_list_records_leaves_content_out_unless_asked(self, store: RecordStore) -> None:
        sent = make_attachment(ALL_BYTES)
        store.commit("support", "uid-1", create_action(make_incoming(attachments=[sent])))
        (without,) = store.list_records()[0].details[0].attachments
        assert without.content is None
        assert without.id is not None
        (loaded,) = store.list_records(load_content=True)[0].details[0].attachments
        assert loaded.content == ALL_BYTES

    def _records_updated_in_turn(self, store: RecordStore, clock: ManualClock) -> list[int]:
        """Records 1, 2, 3 opened a second apart, then a follow-up on the first: IDs in order."""
        ids = []
        for n in range(3):
            ids.append(record_id_of(store.commit("support", f"uid-{n}", create_action(project=f"p{n % 2}"))))
            self.wait(clock, 1.1)
        store.commit("support", "uid-9", append_action(ids[0], make_incoming(subject="follow-up")))
        return ids

    def test_list_records_most_recently_updated_first(self, store: RecordStore, clock: ManualClock) -> None:
        first, second, third = self._records_updated_in_turn(store, clock)
        assert record_ids(store.list_records(order="updated")) == [first, third, second]
        assert record_ids(store.list_records(order="updated", limit=2, offset=1)) == [third, second]
        assert record_ids(store.list_records("p0", order="updated")) == [first, third]
        assert record_ids(store.list_records(order="id")) == [third, second, first]

    def test_list_records_updated_since(self, store: RecordStore, clock: ManualClock) -> None:
        first, _second, third = self._records_updated_in_turn(store, clock)
        since = store.get_record(third).updated_at  # at or after: the third itself is in
        assert record_ids(store.list_records(updated_since=since)) == [third, first]
        assert record_ids(store.list_records(updated_since=since, order="updated")) == [first, third]
        latest = store.get_record(first).updated_at
        assert record_ids(store.list_records(updated_since=latest)) == [first]
        assert store.list_records(updated_since=latest + timedelta(seconds=1)) == []
        assert record_ids(store.list_records("p1", updated_since=since)) == []
        naive = since.astimezone(timezone.utc).replace(tzinfo=None)  # naive means UTC
        assert record_ids(store.list_records(updated_since=naive)) == [third, first]
        in_berlin = since.astimezone(timezone(timedelta(hours=1)))
        assert record_ids(store.list_records(updated_since=in_berlin)) == [third, first]
        assert len(store.list_records(updated_since=since - timedelta(days=1))) == 3

    def test_list_records_refuses_an_unknown_order(self, store: RecordStore) -> None:
        with pytest.raises(ValueError, match="order"):
            store.list_records(order="title")  # type: ignore[arg-type]

    def test_has_record(self, store: RecordStore) -> None:
        result = store.commit("support", "uid-1", create_action(project="acme"))
        assert result.record_id is not None
        assert store.has_record(result.record_id)
        assert store.has_record(result.record_id, "acme")
        assert not store.has_record(result.record_id, "other")
        assert not store.has_record(result.record_id + 1000)
        assert not store.has_record(result.record_id + 1000, "acme")

    def test_find_record_by_message_id(self, store: RecordStore) -> None:
        first = store.commit("support", "uid-1", create_action(make_incoming(message_id="one@example.com")))
        assert first.record_id is not None
        store.commit("support", "uid-2", create_action(make_incoming(message_id="other@example.com")))
        store.commit(
            "support", "uid-3", append_action(first.record_id, make_incoming(message_id="two@example.com"))
        )
        for message_id in ("one@example.com", "two@example.com"):
            found = store.find_record_by_message_id(message_id)
            assert found is not None
            assert found.id == first.record_id
            assert len(found.details) == 2
        assert store.find_record_by_message_id("missing@example.com") is None
        assert store.find_record_by_message_id("ONE@example.com") is None  # Message-IDs are exact

    def test_a_record_keeps_the_record_it_was_opened_beside(self, store: RecordStore) -> None:
        first = store.commit("support", "uid-1", create_action())
        assert first.record_id is not None
        action = attrs.evolve(
            create_action(make_incoming(message_id="two@example.com")), related=first.record_id
        )
        second = store.commit("support", "uid-2", action)
        assert second.record_id is not None
        assert store.get_record(second.record_id).related == first.record_id
        assert store.get_record(first.record_id).related is None
        assert {record.id: record.related for record in store.list_records()}[
            second.record_id
        ] == first.record_id

    def test_fields_a_message_sets_are_changed_and_recorded_on_its_detail(self, store: RecordStore) -> None:
        opened = attrs.evolve(
            create_action(fields={"priority": "normal", "queue": "it"}),
            set_fields={"priority": "high", "queue": "it"},
        )
        record_id = store.commit("support", "uid-1", opened).record_id
        assert record_id is not None
        record = store.get_record(record_id)
        assert dict(record.fields) == {"priority": "high", "queue": "it"}
        assert dict(record.details[0].field_changes) == {"priority": ("normal", "high")}

        append = attrs.evolve(
            append_action(record_id, make_incoming(message_id="two@example.com")),
            set_fields={"status": "closed", "priority": "high"},
        )
        store.commit("support", "uid-2", append)
        store.commit(
            "support", "uid-3", append_action(record_id, make_incoming(message_id="three@example.com"))
        )
        record = store.get_record(record_id)
        assert dict(record.fields) == {"priority": "high", "queue": "it", "status": "closed"}
        changes = [dict(detail.field_changes) for detail in record.details]
        assert changes == [{"priority": ("normal", "high")}, {"status": (None, "closed")}, {}]

    def test_record_ids_by_message_ids(self, store: RecordStore) -> None:
        first = store.commit("support", "uid-1", create_action(make_incoming(message_id="one@example.com")))
        second = store.commit(
            "support", "uid-2", create_action(make_incoming(message_id="other@example.com"))
        )
        assert first.record_id is not None
        assert second.record_id is not None
        store.commit(
            "support", "uid-3", append_action(first.record_id, make_incoming(message_id="two@example.com"))
        )
        asked = ["two@example.com", "missing@example.com", "ONE@example.com", "other@example.com", "x" * 5000]
        assert store.record_ids_by_message_ids(asked) == {
            "two@example.com": first.record_id,
            "other@example.com": second.record_id,
        }
        assert store.record_ids_by_message_ids([]) == {}
        many = [f"{n}@example.com" for n in range(3000)] + ["one@example.com"]
        assert store.record_ids_by_message_ids(many) == {"one@example.com": first.record_id}

    def test_record_participants(self, store: RecordStore) -> None:
        first = store.commit(
            "support",
            "uid-1",
            create_action(
                make_incoming(
                    sender="Alice <Alice@Example.COM>",
                    to=("Support@Example.com",),
                    cc=("Carol <carol@example.com>",),
                )
            ),
        )
        assert first.record_id is not None
        store.commit(
            "support",
            "uid-2",
            append_action(
                first.record_id, make_incoming(sender="dave@example.com", to=(), cc=("Erin@x.org",))
            ),
        )
        store.commit("support", "uid-3", append_action(first.record_id, make_incoming(sender=None, to=())))
        store.commit("support", "uid-4", create_action(make_incoming(sender="mallory@example.com")))
        assert store.record_participants(first.record_id) == {
            "alice@example.com",
            "support@example.com",
            "carol@example.com",
            "dave@example.com",
            "erin@x.org",
        }

    def test_record_participants_of_a_missing_record_raises(self, store: RecordStore) -> None:
        with pytest.raises(RecordNotFoundError):
            store.record_participants(4711)
