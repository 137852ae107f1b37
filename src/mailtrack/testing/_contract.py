"""The record store contract as a pytest class: every store's tests subclass it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar

import attrs
import pytest

from ..abc import RecordStore
from ..config import ImportPolicy, MailInterface, Security
from ..exceptions import (
    InterfaceNotFoundError,
    QuarantineNotFoundError,
    RecordNotFoundError,
    StoreError,
)
from ..models import (
    AppendToRecord,
    Attachment,
    CommitOutcome,
    CommitResult,
    CreateRecord,
    EmailAddress,
    IncomingMessage,
    MessageClass,
    Record,
    RunReport,
    SkipMessage,
)
from ._builders import ManualClock, make_attachment, make_incoming

__all__ = ["RecordStoreContract"]

T = TypeVar("T")

ALL_BYTES = bytes(range(256))
UTC = timezone.utc


def _create(
    message: IncomingMessage | None = None,
    *,
    project: str = "default",
    title: str = "Printer on fire",
    fields: dict[str, str] | None = None,
    message_class: MessageClass = MessageClass.NORMAL,
) -> CreateRecord:
    return CreateRecord(
        message=make_incoming() if message is None else message,
        project=project,
        title=title,
        fields={} if fields is None else fields,
        message_class=message_class,
    )


def _append(
    record_id: int,
    message: IncomingMessage | None = None,
    *,
    message_class: MessageClass = MessageClass.NORMAL,
) -> AppendToRecord:
    return AppendToRecord(
        message=make_incoming() if message is None else message,
        record_id=record_id,
        message_class=message_class,
    )


def _interface(name: str, **changes: Any) -> MailInterface:
    values: dict[str, Any] = {
        "name": name,
        "server": "pop.example.com",
        "login": f"{name}@example.com",
        "password": f"s3cret-{name}",
    }
    values.update(changes)
    return MailInterface(**values)


def _is_utc(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def _record_ids(records: list[Record]) -> list[int]:
    return [record.id for record in records]


class RecordStoreContract:
    """The contract of :class:`mailtrack.abc.RecordStore`, as pytest tests to inherit.

    Subclass it in a ``test_*.py`` module under a name pytest collects, and provide a ``store``
    fixture that yields a fresh, empty store (closing it afterwards)::

        import pytest
        from mailtrack.testing import RecordStoreContract

        class TestMyStore(RecordStoreContract):
            @pytest.fixture
            def store(self, clock):
                store = MyStore(..., clock=clock)
                yield store
                store.close()

    Time: the contract's ``clock`` fixture is a :class:`~mailtrack.testing.ManualClock`. A store
    that takes a clock should be given it, so that timestamps and lease expiry are checked
    exactly and without sleeping. A store that reads the real time instead sets
    ``controls_time = False``; the time-dependent tests then sleep (about four seconds in all) and
    check order instead of exact values.

    Threads: the concurrency tests commit and take leases from several threads at once, with
    one store object shared between them. A store that may not be shared between threads sets
    ``supports_threads = False`` to skip them (and must then guard against concurrent
    processes by other means; the contract cannot check that).

    Timestamps the contract puts in have microseconds and non-UTC offsets; a store must give
    back the same instant, in UTC. Text includes characters outside the Basic Multilingual
    Plane, and attachments include every byte value and one of 1 MiB.
    """

    #: True when the store fixture passes the ``clock`` fixture to the store.
    controls_time: ClassVar[bool] = True
    #: False to skip the tests that share one store between threads.
    supports_threads: ClassVar[bool] = True
    #: Threads used by the concurrency tests.
    concurrency: ClassVar[int] = 8

    @pytest.fixture
    def clock(self) -> ManualClock:
        """The time the store should use (see the class docstring)."""
        return ManualClock()

    @pytest.fixture
    def store(self) -> RecordStore:
        """A fresh, empty store: subclasses must override this fixture."""
        raise NotImplementedError("a RecordStoreContract subclass must provide a `store` fixture")

    # -- helpers -------------------------------------------------------------------------------

    def wait(self, clock: ManualClock, seconds: float) -> None:
        """Let *seconds* pass for the store: move the manual clock, or sleep for real."""
        clock.advance(seconds)
        if not self.controls_time:
            time.sleep(seconds)

    def lease_window(self) -> tuple[float, float]:
        """(lease seconds, a wait that outlasts it): long under a manual clock, short otherwise."""
        return (30.0, 31.0) if self.controls_time else (1.0, 1.3)

    def run_in_threads(self, count: int, work: Callable[[int], T]) -> list[T]:
        """Run ``work(i)`` for i in range(count) in threads that start together; results in order."""
        if not self.supports_threads:
            pytest.skip("this store does not support sharing one store between threads")
        barrier = threading.Barrier(count)
        results: list[Any] = [None] * count
        errors: list[BaseException] = []

        def run(index: int) -> None:
            try:
                barrier.wait(timeout=30)
                results[index] = work(index)
            except BaseException as exc:  # reported in the test thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        if errors:
            raise errors[0]
        return results

    # -- commit: create, append, skip ----------------------------------------------------------

    def test_create_record_returns_created_with_ids(self, store: RecordStore) -> None:
        result = store.commit("support", "uid-1", _create())
        assert result.outcome is CommitOutcome.CREATED
        assert isinstance(result.record_id, int)
        assert isinstance(result.detail_id, int)
        record = store.get_record(result.record_id)
        assert record.id == result.record_id
        assert [detail.id for detail in record.details] == [result.detail_id]

    def test_created_record_holds_the_action_values(self, store: RecordStore, clock: ManualClock) -> None:
        action = _create(project="acme", title="Printer on fire", fields={"priority": "high", "owner": ""})
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
        result = store.commit("support", "uid-1", _create(message, message_class=MessageClass.AUTO_REPLY))
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
        result = store.commit("support", "uid-1", _create(message))
        assert result.record_id is not None
        (detail,) = store.get_record(result.record_id).details
        assert detail.sender is None
        assert detail.to == ()
        assert detail.text == ""
        assert detail.html is None
        assert detail.headers == ""

    def test_empty_html_stays_distinct_from_none(self, store: RecordStore) -> None:
        result = store.commit("support", "uid-1", _create(make_incoming(html="")))
        assert result.record_id is not None
        assert store.get_record(result.record_id).details[0].html == ""

    def test_unicode_round_trips(self, store: RecordStore) -> None:
        text = "Grüße, ça va? 日本語 — emoji 🔥🖨️ and a NUL-free \u2028 separator"
        message = make_incoming(subject="Drucker brennt 🔥", text=text, html=f"<p>{text}</p>")
        result = store.commit(
            "support", "uid-1", _create(message, title="Drucker brennt 🔥", fields={"Ort": "Büro 🏢"})
        )
        assert result.record_id is not None
        record = store.get_record(result.record_id)
        assert record.title == "Drucker brennt 🔥"
        assert dict(record.fields) == {"Ort": "Büro 🏢"}
        assert record.details[0].subject == "Drucker brennt 🔥"
        assert record.details[0].text == text
        assert record.details[0].html == f"<p>{text}</p>"

    def test_record_ids_grow_with_each_new_record(self, store: RecordStore) -> None:
        ids = [_record_id(store.commit("support", f"uid-{n}", _create())) for n in range(3)]
        assert all(record_id > 0 for record_id in ids)
        assert ids == sorted(ids)
        assert len(set(ids)) == 3

    def test_append_adds_a_detail_oldest_first(self, store: RecordStore) -> None:
        first = store.commit("support", "uid-1", _create(make_incoming(subject="first")))
        assert first.record_id is not None
        second = store.commit("support", "uid-2", _append(first.record_id, make_incoming(subject="second")))
        third = store.commit("support", "uid-3", _append(first.record_id, make_incoming(subject="third")))
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
        first = store.commit("support", "uid-1", _create())
        assert first.record_id is not None
        store.commit("sales", "uid-9", _append(first.record_id, message_class=MessageClass.BOUNCE))
        details = store.get_record(first.record_id).details
        assert [(detail.interface, detail.message_class) for detail in details] == [
            ("support", MessageClass.NORMAL),
            ("sales", MessageClass.BOUNCE),
        ]

    def test_append_moves_updated_at(self, store: RecordStore, clock: ManualClock) -> None:
        first = store.commit("support", "uid-1", _create())
        assert first.record_id is not None
        created = store.get_record(first.record_id)
        self.wait(clock, 60 if self.controls_time else 1.1)
        store.commit("support", "uid-2", _append(first.record_id))
        appended = store.get_record(first.record_id)
        assert appended.created_at == created.created_at
        assert appended.updated_at > created.updated_at
        if self.controls_time:
            assert appended.updated_at == clock()

    def test_append_to_a_missing_record_raises_and_writes_nothing(self, store: RecordStore) -> None:
        message = make_incoming(attachments=[make_attachment(b"data")])
        with pytest.raises(RecordNotFoundError):
            store.commit("support", "uid-1", _append(4711, message))
        assert not store.is_imported("support", "uid-1")
        assert store.find_record_by_message_id(message.message_id) is None
        assert store.list_records() == []
        assert not store.has_record(4711)

    def test_record_not_found_is_a_store_and_lookup_error(self, store: RecordStore) -> None:
        with pytest.raises(StoreError):
            store.commit("support", "uid-1", _append(4711))
        with pytest.raises(LookupError):
            store.commit("support", "uid-1", _append(4711))

    def test_uid_of_a_failed_append_can_be_committed_later(self, store: RecordStore) -> None:
        message = make_incoming()
        with pytest.raises(RecordNotFoundError):
            store.commit("support", "uid-1", _append(4711, message))
        result = store.commit("support", "uid-1", _create(message))
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
        result = store.commit("sales", "uid-1", _create(make_incoming(message_id="m1@example.com")))
        assert result.outcome is CommitOutcome.CREATED

    # -- commit: exactly once --------------------------------------------------------------------

    def test_second_commit_of_a_pair_is_already_imported(self, store: RecordStore) -> None:
        first = store.commit("support", "uid-1", _create())
        assert first.record_id is not None
        again = store.commit("support", "uid-1", _create(make_incoming(subject="other")))
        assert again.outcome is CommitOutcome.ALREADY_IMPORTED
        assert _record_ids(store.list_records()) == [first.record_id]
        assert len(store.get_record(first.record_id).details) == 1

    def test_already_imported_writes_nothing_for_append_or_skip(self, store: RecordStore) -> None:
        first = store.commit("support", "uid-1", _create())
        assert first.record_id is not None
        before = store.get_record(first.record_id)
        appended = store.commit("support", "uid-1", _append(first.record_id))
        skipped = store.commit("support", "uid-1", SkipMessage(reason="again"))
        assert appended.outcome is CommitOutcome.ALREADY_IMPORTED
        assert skipped.outcome is CommitOutcome.ALREADY_IMPORTED
        assert store.get_record(first.record_id) == before

    def test_already_imported_comes_before_a_missing_record(self, store: RecordStore) -> None:
        store.commit("support", "uid-1", SkipMessage(reason="seen"))
        result = store.commit("support", "uid-1", _append(4711))
        assert result.outcome is CommitOutcome.ALREADY_IMPORTED

    def test_same_uid_in_two_interfaces_is_two_messages(self, store: RecordStore) -> None:
        first = store.commit("support", "1", _create())
        second = store.commit("sales", "1", _create())
        assert first.outcome is CommitOutcome.CREATED
        assert second.outcome is CommitOutcome.CREATED
        assert first.record_id != second.record_id

    def test_same_message_id_in_two_interfaces_is_one_detail(self, store: RecordStore) -> None:
        message = make_incoming(message_id="shared@example.com")
        first = store.commit("support", "uid-1", _create(message))
        second = store.commit("sales", "uid-7", _create(message, project="sales"))
        assert first.outcome is CommitOutcome.CREATED
        assert second == CommitResult(
            outcome=CommitOutcome.DUPLICATE, record_id=first.record_id, detail_id=first.detail_id
        )
        assert store.is_imported("sales", "uid-7")
        assert _record_ids(store.list_records()) == [first.record_id]
        assert store.list_records("sales") == []
        assert first.record_id is not None
        assert len(store.get_record(first.record_id).details) == 1

    def test_duplicate_message_id_on_append_leaves_both_records(self, store: RecordStore) -> None:
        original = store.commit("support", "uid-1", _create(make_incoming(message_id="dup@example.com")))
        other = store.commit("support", "uid-2", _create())
        assert other.record_id is not None
        before = store.get_record(other.record_id)
        result = store.commit(
            "sales", "uid-3", _append(other.record_id, make_incoming(message_id="dup@example.com"))
        )
        assert result.outcome is CommitOutcome.DUPLICATE
        assert result.record_id == original.record_id
        assert result.detail_id == original.detail_id
        assert store.get_record(other.record_id) == before

    def test_duplicate_in_the_same_interface_under_a_new_uid(self, store: RecordStore) -> None:
        message = make_incoming()
        first = store.commit("support", "uid-1", _create(message))
        again = store.commit("support", "uid-2", _create(message))
        assert again.outcome is CommitOutcome.DUPLICATE
        assert again.detail_id == first.detail_id
        assert store.imported_uids("support", ["uid-1", "uid-2"]) == {"uid-1", "uid-2"}

    def test_duplicate_comes_before_a_missing_record(self, store: RecordStore) -> None:
        message = make_incoming()
        first = store.commit("support", "uid-1", _create(message))
        result = store.commit("sales", "uid-1", _append(4711, message))
        assert result.outcome is CommitOutcome.DUPLICATE
        assert result.record_id == first.record_id
        assert store.is_imported("sales", "uid-1")

    def test_commit_many_returns_one_result_per_item_in_order(self, store: RecordStore) -> None:
        results = store.commit_many(
            [
                ("support", "uid-1", _create(make_incoming(message_id="a@example.com"))),
                ("support", "uid-2", SkipMessage(reason="bounce")),
                ("support", "uid-1", _create()),
                ("sales", "uid-1", _create(make_incoming(message_id="a@example.com"))),
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
                    ("support", "uid-1", _create()),
                    ("support", "uid-2", _append(4711)),
                ]
            )
        assert store.is_imported("support", "uid-1")
        assert not store.is_imported("support", "uid-2")
        assert len(store.list_records()) == 1

    def test_is_imported_and_imported_uids(self, store: RecordStore) -> None:
        store.commit("support", "uid-1", _create())
        store.commit("support", "uid-2", SkipMessage(reason="drop"))
        store.commit("sales", "uid-3", _create())
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

    # -- reading records -----------------------------------------------------------------------

    def test_get_record_of_a_missing_id_raises(self, store: RecordStore) -> None:
        with pytest.raises(RecordNotFoundError):
            store.get_record(1)
        store.commit("support", "uid-1", _create())
        with pytest.raises(RecordNotFoundError):
            store.get_record(4711)

    def test_changing_a_returned_record_does_not_change_the_store(self, store: RecordStore) -> None:
        result = store.commit("support", "uid-1", _create(fields={"priority": "high"}))
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
        result = store.commit("support", "uid-1", _create(fields=fields))
        fields["priority"] = "low"
        assert result.record_id is not None
        assert dict(store.get_record(result.record_id).fields) == {"priority": "high"}

    def test_each_read_returns_new_objects(self, store: RecordStore) -> None:
        result = store.commit("support", "uid-1", _create(fields={"a": "b"}))
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
        result = store.commit("support", "uid-1", _create(message))
        assert result.record_id is not None
        record = store.get_record(result.record_id)
        (detail,) = record.details
        for moment in (record.created_at, record.updated_at, detail.sent_at, detail.received_at):
            assert _is_utc(moment), moment
        assert detail.sent_at == sent_at
        assert detail.sent_at.hour == 12
        assert detail.sent_at.microsecond == 123456
        assert detail.received_at == received_at
        listed = store.list_records()[0]
        assert _is_utc(listed.created_at)
        assert _is_utc(listed.details[0].sent_at)

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
        result = store.commit("support", "uid-1", _create(make_incoming(attachments=sent)))
        assert result.record_id is not None
        got = store.get_record(result.record_id).details[0].attachments
        assert len(got) == len(sent)
        for stored, original in zip(got, sent, strict=True):
            assert isinstance(stored.id, int)
            assert stored.content == original.content
            assert attrs.evolve(stored, id=None) == original
        assert len({stored.id for stored in got}) == len(sent)

    def test_equal_attachment_contents_stay_separate(self, store: RecordStore) -> None:
        same = [make_attachment(ALL_BYTES, filename="a.bin"), make_attachment(ALL_BYTES, filename="b.bin")]
        first = store.commit("support", "uid-1", _create(make_incoming(attachments=same)))
        assert first.record_id is not None
        store.commit(
            "support",
            "uid-2",
            _append(first.record_id, make_incoming(attachments=[make_attachment(ALL_BYTES, filename="c")])),
        )
        details = store.get_record(first.record_id).details
        got = [attachment for detail in details for attachment in detail.attachments]
        assert [attachment.filename for attachment in got] == ["a.bin", "b.bin", "c"]
        assert [attachment.content for attachment in got] == [ALL_BYTES] * 3
        assert len({_id(attachment) for attachment in got}) == 3
        assert all(store.get_attachment_content(_id(attachment)) == ALL_BYTES for attachment in got)

    def test_long_values_round_trip(self, store: RecordStore) -> None:
        # RFC 5322 allows header lines of 998 characters; hostile mail goes beyond.
        message_id = "x" * 900 + "@example.com"
        subject = "Lorem ipsum dolor sit amet " * 200
        text = "line of text\n" * 100_000
        attachment = make_attachment(b"x", filename="n" * 200 + ".txt", content_type="text/plain")
        message = make_incoming(message_id=message_id, subject=subject, text=text, attachments=[attachment])
        result = store.commit("support", "u" * 200, _create(message, title=subject, fields={"k": "v" * 5000}))
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
        again = store.commit("sales", "uid-1", _create(message))
        assert again.outcome is CommitOutcome.DUPLICATE
        # Message-IDs that differ only after a long common prefix are different messages.
        other = store.commit("sales", "uid-2", _create(make_incoming(message_id="x" * 900 + "@example.org")))
        assert other.outcome is CommitOutcome.CREATED

    def test_get_record_without_content_leaves_content_out(self, store: RecordStore) -> None:
        sent = make_attachment(ALL_BYTES, filename="all-bytes.bin")
        result = store.commit("support", "uid-1", _create(make_incoming(attachments=[sent])))
        assert result.record_id is not None
        (attachment,) = store.get_record(result.record_id, load_content=False).details[0].attachments
        assert attachment.content is None
        assert attachment.id is not None
        assert attachment.size == 256
        assert attachment.sha256 == sent.sha256
        assert attachment.filename == "all-bytes.bin"

    def test_get_attachment_content(self, store: RecordStore) -> None:
        sent = [make_attachment(ALL_BYTES, filename="a.bin"), make_attachment(b"second", filename="b.bin")]
        result = store.commit("support", "uid-1", _create(make_incoming(attachments=sent)))
        assert result.record_id is not None
        got = store.get_record(result.record_id, load_content=False).details[0].attachments
        assert [store.get_attachment_content(_id(attachment)) for attachment in got] == [
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
            result = store.commit("support", f"uid-{n}", _create(make_incoming(subject=f"s{n}")))
            ids.append(result.record_id)
        assert ids[0] is not None
        store.commit("support", "uid-9", _append(ids[0], make_incoming(subject="later")))
        records = store.list_records()
        assert _record_ids(records) == ids[::-1]
        assert [detail.subject for detail in records[-1].details] == ["s0", "later"]
        assert records[-1] == store.get_record(ids[0], load_content=False)

    def test_list_records_pages_with_limit_and_offset(self, store: RecordStore) -> None:
        ids = [store.commit("support", f"uid-{n}", _create()).record_id for n in range(7)]
        newest_first = ids[::-1]
        assert _record_ids(store.list_records(limit=3)) == newest_first[:3]
        assert _record_ids(store.list_records(limit=3, offset=3)) == newest_first[3:6]
        assert _record_ids(store.list_records(limit=3, offset=6)) == newest_first[6:]
        assert _record_ids(store.list_records(offset=5)) == newest_first[5:]
        assert store.list_records(limit=3, offset=7) == []
        assert store.list_records(limit=0) == []

    def test_list_records_filters_by_project(self, store: RecordStore) -> None:
        acme: list[int] = []
        other: list[int] = []
        for n in range(6):
            project = "acme" if n % 2 == 0 else "other"
            result = store.commit("support", f"uid-{n}", _create(project=project))
            (acme if project == "acme" else other).append(_record_id(result))
        assert _record_ids(store.list_records("acme")) == acme[::-1]
        assert _record_ids(store.list_records("other")) == other[::-1]
        assert _record_ids(store.list_records("acme", limit=2, offset=1)) == acme[::-1][1:3]
        assert store.list_records("nobody") == []
        assert len(store.list_records()) == 6

    def test_list_records_leaves_content_out_unless_asked(self, store: RecordStore) -> None:
        sent = make_attachment(ALL_BYTES)
        store.commit("support", "uid-1", _create(make_incoming(attachments=[sent])))
        (without,) = store.list_records()[0].details[0].attachments
        assert without.content is None
        assert without.id is not None
        (loaded,) = store.list_records(load_content=True)[0].details[0].attachments
        assert loaded.content == ALL_BYTES

    def test_has_record(self, store: RecordStore) -> None:
        result = store.commit("support", "uid-1", _create(project="acme"))
        assert result.record_id is not None
        assert store.has_record(result.record_id)
        assert store.has_record(result.record_id, "acme")
        assert not store.has_record(result.record_id, "other")
        assert not store.has_record(result.record_id + 1000)
        assert not store.has_record(result.record_id + 1000, "acme")

    def test_find_record_by_message_id(self, store: RecordStore) -> None:
        first = store.commit("support", "uid-1", _create(make_incoming(message_id="one@example.com")))
        assert first.record_id is not None
        store.commit("support", "uid-2", _create(make_incoming(message_id="other@example.com")))
        store.commit(
            "support", "uid-3", _append(first.record_id, make_incoming(message_id="two@example.com"))
        )
        for message_id in ("one@example.com", "two@example.com"):
            found = store.find_record_by_message_id(message_id)
            assert found is not None
            assert found.id == first.record_id
            assert len(found.details) == 2
        assert store.find_record_by_message_id("missing@example.com") is None
        assert store.find_record_by_message_id("ONE@example.com") is None  # Message-IDs are exact

    def test_record_participants(self, store: RecordStore) -> None:
        first = store.commit(
            "support",
            "uid-1",
            _create(
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
            _append(first.record_id, make_incoming(sender="dave@example.com", to=(), cc=("Erin@x.org",))),
        )
        store.commit("support", "uid-3", _append(first.record_id, make_incoming(sender=None, to=())))
        store.commit("support", "uid-4", _create(make_incoming(sender="mallory@example.com")))
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

    # -- quarantine ----------------------------------------------------------------------------

    def test_quarantine_keeps_raw_bytes_and_error(self, store: RecordStore, clock: ManualClock) -> None:
        raw = b"From: x\r\n\r\n" + ALL_BYTES * 4096  # 1 MiB, every byte value
        kept = store.quarantine("support", "uid-1", raw, "the message has no header block")
        assert isinstance(kept.id, int)
        assert kept.interface == "support"
        assert kept.uid == "uid-1"
        assert kept.raw == raw
        assert kept.error == "the message has no header block"
        assert kept.attempts == 1
        assert _is_utc(kept.quarantined_at)
        if self.controls_time:
            assert kept.quarantined_at == clock()
        assert store.get_quarantined(kept.id) == kept

    def test_quarantining_again_counts_one_more_attempt(self, store: RecordStore, clock: ManualClock) -> None:
        first = store.quarantine("support", "uid-1", b"raw", "first error")
        self.wait(clock, 10 if self.controls_time else 0)
        second = store.quarantine("support", "uid-1", b"raw", "second error")
        third = store.quarantine("support", "uid-1", b"raw", "third error")
        assert second.id == third.id == first.id
        assert third.attempts == 3
        assert third.error == "third error"
        assert third.quarantined_at == first.quarantined_at
        assert store.list_quarantined() == [third]
        assert store.get_quarantined(first.id) == third

    def test_is_quarantined(self, store: RecordStore) -> None:
        store.quarantine("support", "uid-1", b"raw", "bad")
        assert store.is_quarantined("support", "uid-1")
        assert not store.is_quarantined("support", "uid-2")
        assert not store.is_quarantined("sales", "uid-1")

    def test_quarantine_is_separate_from_the_ledger(self, store: RecordStore) -> None:
        store.quarantine("support", "uid-1", b"raw", "bad")
        assert not store.is_imported("support", "uid-1")
        assert store.list_records() == []

    def test_list_quarantined_oldest_first_and_by_interface(self, store: RecordStore) -> None:
        a = store.quarantine("support", "uid-1", b"1", "e1")
        b = store.quarantine("sales", "uid-1", b"2", "e2")
        c = store.quarantine("support", "uid-2", b"3", "e3")
        assert [kept.id for kept in store.list_quarantined()] == [a.id, b.id, c.id]
        assert store.list_quarantined("support") == [a, c]
        assert store.list_quarantined("sales") == [b]
        assert store.list_quarantined("nobody") == []
        assert len({a.id, b.id, c.id}) == 3

    def test_get_quarantined_of_a_missing_id_raises(self, store: RecordStore) -> None:
        with pytest.raises(QuarantineNotFoundError):
            store.get_quarantined(4711)
        with pytest.raises(LookupError):
            store.get_quarantined(4711)

    def test_release_quarantined(self, store: RecordStore) -> None:
        kept = store.quarantine("support", "uid-1", b"raw", "bad")
        other = store.quarantine("support", "uid-2", b"raw", "bad")
        store.release_quarantined(kept.id)
        assert not store.is_quarantined("support", "uid-1")
        assert store.list_quarantined() == [other]
        with pytest.raises(QuarantineNotFoundError):
            store.get_quarantined(kept.id)
        with pytest.raises(QuarantineNotFoundError):
            store.release_quarantined(kept.id)

    def test_quarantine_after_release_starts_again(self, store: RecordStore) -> None:
        kept = store.quarantine("support", "uid-1", b"raw", "bad")
        store.quarantine("support", "uid-1", b"raw", "bad")
        store.release_quarantined(kept.id)
        again = store.quarantine("support", "uid-1", b"raw", "worse")
        assert again.attempts == 1
        assert again.error == "worse"
        assert store.list_quarantined() == [again]

    # -- interfaces ----------------------------------------------------------------------------

    def test_save_and_get_interface_keeps_every_value(self, store: RecordStore) -> None:
        interface = _interface(
            "support",
            port=1995,
            security=Security.STARTTLS,
            ca_file="/etc/ssl/private-ca.pem",
            leave_copy=True,
            project="helpdesk",
            defaults={"priority": "normal", "queue": "Grüße 🔥"},
            timeout=12.5,
            max_message_bytes=1234567,
            enabled=False,
            policy=ImportPolicy(own_addresses=("support@example.com",), delete_quarantined=True),
        )
        store.save_interface(interface)
        got = store.get_interface("support")
        assert got == interface
        assert got.password == "s3cret-support"  # noqa: S105 - a test value

    def test_changing_a_returned_interface_does_not_change_the_store(self, store: RecordStore) -> None:
        store.save_interface(_interface("support", defaults={"priority": "normal"}))
        defaults: Any = store.get_interface("support").defaults
        defaults["priority"] = "urgent"
        assert dict(store.get_interface("support").defaults) == {"priority": "normal"}

    def test_save_interface_replaces_by_name(self, store: RecordStore) -> None:
        store.save_interface(_interface("support"))
        changed = _interface("support", server="pop2.example.com", password="new-pw")  # noqa: S106
        store.save_interface(changed)
        assert store.get_interface("support") == changed
        assert store.list_interfaces() == [changed]

    def test_get_interface_of_a_missing_name_raises(self, store: RecordStore) -> None:
        with pytest.raises(InterfaceNotFoundError):
            store.get_interface("nobody")
        with pytest.raises(LookupError):
            store.get_interface("nobody")

    def test_list_interfaces_by_name(self, store: RecordStore) -> None:
        assert store.list_interfaces() == []
        for name in ("support", "billing", "sales"):
            store.save_interface(_interface(name))
        assert [interface.name for interface in store.list_interfaces()] == ["billing", "sales", "support"]
        assert store.list_interfaces()[0] == _interface("billing")

    def test_delete_interface_keeps_its_ledger_and_records(self, store: RecordStore) -> None:
        store.save_interface(_interface("support"))
        store.save_interface(_interface("sales"))
        store.commit("support", "uid-1", _create())
        store.delete_interface("support")
        assert [interface.name for interface in store.list_interfaces()] == ["sales"]
        with pytest.raises(InterfaceNotFoundError):
            store.get_interface("support")
        assert store.is_imported("support", "uid-1")
        assert len(store.list_records()) == 1

    def test_delete_interface_of_a_missing_name_raises(self, store: RecordStore) -> None:
        with pytest.raises(InterfaceNotFoundError):
            store.delete_interface("nobody")

    # -- runs ----------------------------------------------------------------------------------

    def test_last_run_of_an_interface_that_never_ran(self, store: RecordStore) -> None:
        assert store.last_run("support") is None

    def test_last_run_is_the_newest_report_of_that_interface(self, store: RecordStore) -> None:
        start = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
        older = RunReport(interface="support", started_at=start, finished_at=start + timedelta(seconds=3))
        newer = RunReport(
            interface="support",
            started_at=start + timedelta(minutes=5),
            finished_at=start + timedelta(minutes=5, seconds=2),
            imported=4,
            created=2,
            updated=1,
            skipped=1,
            failed=1,
            error="the server closed the connection",
            classes={"normal": 3, "bounce": 1},
            notes=("message 7 is larger than max_message_bytes", "message 9 was quarantined"),
        )
        plus_two = timezone(timedelta(hours=2))
        other = RunReport(
            interface="sales",
            started_at=datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=plus_two),
            finished_at=datetime(2024, 5, 1, 12, 0, 1, 500000, tzinfo=plus_two),
            imported=9,
        )
        store.save_run(older)
        store.save_run(newer)
        store.save_run(other)
        assert store.last_run("support") == newer
        assert store.last_run("sales") == other
        last = store.last_run("support")
        assert last is not None
        assert _is_utc(last.started_at)
        assert _is_utc(last.finished_at)
        sales = store.last_run("sales")
        assert sales is not None
        assert _is_utc(sales.started_at)
        assert sales.started_at.hour == 10
        assert sales.started_at.microsecond == 250000

    def test_changing_a_returned_run_report_does_not_change_the_store(self, store: RecordStore) -> None:
        moment = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
        classes = {"normal": 1}
        store.save_run(RunReport(interface="support", started_at=moment, finished_at=moment, classes=classes))
        classes["normal"] = 99
        got = store.last_run("support")
        assert got is not None
        got_classes: Any = got.classes
        got_classes["bounce"] = 5
        again = store.last_run("support")
        assert again is not None
        assert dict(again.classes) == {"normal": 1}

    # -- leases --------------------------------------------------------------------------------

    def test_free_lease_is_granted(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds) is True

    def test_lease_held_by_another_owner_is_refused(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds)
        assert store.acquire_lease("support", "worker-2", seconds) is False

    def test_same_owner_renews_its_lease(self, store: RecordStore, clock: ManualClock) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds)
        self.wait(clock, seconds * 0.6)
        assert store.acquire_lease("support", "worker-1", seconds) is True
        # Past the first lease's end (1.2 > 1.0), inside the renewed one (1.2 < 1.6).
        self.wait(clock, seconds * 0.6)
        assert store.acquire_lease("support", "worker-2", seconds) is False
        self.wait(clock, seconds * 0.5)
        assert store.acquire_lease("support", "worker-2", seconds) is True

    def test_expired_lease_goes_to_another_owner(self, store: RecordStore, clock: ManualClock) -> None:
        seconds, outlast = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds)
        self.wait(clock, outlast)
        assert store.acquire_lease("support", "worker-2", seconds) is True
        assert store.acquire_lease("support", "worker-1", seconds) is False

    def test_released_lease_is_free(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds)
        store.release_lease("support", "worker-1")
        assert store.acquire_lease("support", "worker-2", seconds) is True

    def test_release_by_another_owner_does_nothing(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds)
        store.release_lease("support", "worker-2")
        store.release_lease("sales", "worker-1")
        assert store.acquire_lease("support", "worker-2", seconds) is False
        store.release_lease("nobody", "worker-1")  # no lease at all: no error

    def test_leases_are_per_interface(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "worker-1", seconds)
        assert store.acquire_lease("sales", "worker-2", seconds) is True
        assert store.acquire_lease("sales", "worker-1", seconds) is False

    def provides(self, store: RecordStore, capability: str) -> bool:
        """Whether *store* implements an optional method of the ABC (rather than inheriting the
        default). A store without it is checked for the default behaviour instead."""
        return getattr(type(store), capability) is not getattr(RecordStore, capability)

    def test_lease_holder_names_the_owner_and_the_end(self, store: RecordStore, clock: ManualClock) -> None:
        seconds, outlast = self.lease_window()
        assert store.lease_holder("support") is None
        assert store.acquire_lease("support", "worker-1", seconds)
        holder = store.lease_holder("support")
        if not self.provides(store, "lease_holder"):
            assert holder is None  # the default: not known
            return
        assert holder is not None
        assert (holder.interface, holder.owner) == ("support", "worker-1")
        assert holder.expires_at > clock()
        self.wait(clock, outlast)
        assert store.lease_holder("support") is None  # expired: nobody holds it
        assert store.acquire_lease("sales", "worker-2", seconds)
        store.release_lease("sales", "worker-2")
        assert store.lease_holder("sales") is None

    def test_take_over_lease_only_from_the_owner_named(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "dead-worker", seconds)
        assert store.take_over_lease("support", "worker-2", seconds, "someone-else") is False
        assert store.acquire_lease("support", "worker-2", seconds) is False
        if not self.provides(store, "take_over_lease"):
            # The default: never taken over; the lease stays with its holder until it expires.
            assert store.take_over_lease("support", "worker-2", seconds, "dead-worker") is False
            assert store.acquire_lease("support", "worker-2", seconds) is False
            return
        assert store.take_over_lease("support", "worker-2", seconds, "dead-worker") is True
        assert store.acquire_lease("support", "dead-worker", seconds) is False
        assert store.acquire_lease("support", "worker-2", seconds) is True  # its own lease: renewed
        # The second of two workers taking over the same holder finds it gone.
        assert store.take_over_lease("support", "worker-3", seconds, "dead-worker") is False
        assert store.take_over_lease("nothing-held", "worker-2", seconds, "dead-worker") is False

    def test_concurrent_take_overs_of_one_lease_have_one_winner(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()
        assert store.acquire_lease("support", "dead-worker", seconds)
        won = self.run_in_threads(
            self.concurrency,
            lambda index: store.take_over_lease("support", f"worker-{index}", seconds, "dead-worker"),
        )
        assert won.count(True) == (1 if self.provides(store, "take_over_lease") else 0)

    # -- concurrency ---------------------------------------------------------------------------

    def test_concurrent_commits_of_one_pair_create_one_record(self, store: RecordStore) -> None:
        def work(index: int) -> CommitResult:
            return store.commit("support", "uid-1", _create(make_incoming(subject=f"try {index}")))

        results = self.run_in_threads(self.concurrency, work)
        outcomes = sorted(result.outcome.value for result in results)
        assert outcomes.count(CommitOutcome.CREATED.value) == 1
        assert outcomes.count(CommitOutcome.ALREADY_IMPORTED.value) == self.concurrency - 1
        (record,) = store.list_records()
        assert len(record.details) == 1

    def test_concurrent_commits_of_one_message_id_make_one_detail(self, store: RecordStore) -> None:
        message = make_incoming()

        def work(index: int) -> CommitResult:
            return store.commit(f"mailbox-{index}", "uid-1", _create(message))

        results = self.run_in_threads(self.concurrency, work)
        outcomes = [result.outcome for result in results]
        assert outcomes.count(CommitOutcome.CREATED) == 1
        assert outcomes.count(CommitOutcome.DUPLICATE) == self.concurrency - 1
        (record,) = store.list_records()
        assert len(record.details) == 1
        assert {result.record_id for result in results} == {record.id}
        assert all(store.is_imported(f"mailbox-{index}", "uid-1") for index in range(self.concurrency))

    def test_concurrent_commits_of_different_pairs_all_land(self, store: RecordStore) -> None:
        first = store.commit("support", "uid-0", _create())
        assert first.record_id is not None
        record_id = first.record_id

        def work(index: int) -> list[CommitResult]:
            return [
                store.commit("support", f"uid-{index}-create", _create()),
                store.commit("support", f"uid-{index}-append", _append(record_id)),
            ]

        results = [result for pair in self.run_in_threads(self.concurrency, work) for result in pair]
        assert sorted(result.outcome.value for result in results) == sorted(
            [CommitOutcome.CREATED.value, CommitOutcome.APPENDED.value] * self.concurrency
        )
        assert len(store.list_records()) == self.concurrency + 1
        assert len(store.get_record(record_id).details) == self.concurrency + 1
        detail_ids = [result.detail_id for result in results]
        assert len(set(detail_ids)) == len(detail_ids)

    def test_concurrent_lease_requests_have_one_winner(self, store: RecordStore) -> None:
        seconds, _ = self.lease_window()

        def work(index: int) -> bool:
            return store.acquire_lease("support", f"worker-{index}", seconds)

        assert self.run_in_threads(self.concurrency, work).count(True) == 1

    # -- lifecycle -----------------------------------------------------------------------------

    def test_store_is_a_context_manager_and_close_can_be_repeated(self, store: RecordStore) -> None:
        with store as entered:
            assert entered is store
        store.close()


def _id(attachment: Attachment) -> int:
    assert attachment.id is not None
    return attachment.id


def _record_id(result: CommitResult) -> int:
    assert result.record_id is not None
    return result.record_id
