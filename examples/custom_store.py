"""A custom record store that passes mailtrack's store contract: ``RecordStoreContract``.

``NotifyingStore`` wraps any store and calls you back after every commit that created a record
or added a detail: the place to tell your tracker about new mail, or to send the customer an
acknowledgement "Your request #12 was received". Everything else it hands to the wrapped store.

The second half is the proof: ``TestNotifyingStore`` subclasses
:class:`mailtrack.testing.RecordStoreContract`, so the whole contract (atomic commits, exactly
once under concurrency, copies out, UTC datetimes, leases …) runs against the new store, plus one
test of its own feature. A store written from scratch is checked the same way.

Run it with (needs pytest)::

    python examples/custom_store.py

It first imports a message through the store, then runs the contract with pytest.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Literal

import pytest

from mailtrack import (
    CommitOutcome,
    CommitResult,
    ContentDigest,
    ImportAction,
    Importer,
    Lease,
    MailInterface,
    MemoryRecordStore,
    QuarantinedMessage,
    Record,
    RecordStore,
    RunReport,
)
from mailtrack.testing import FakeMailbox, ManualClock, RecordStoreContract, build_message

#: Called with the interface name and the result of each commit that created or appended.
CommitListener = Callable[[str, CommitResult], None]


class NotifyingStore(RecordStore):
    """A store that tells *listener* about every new record and every new detail.

    The listener runs after the transaction committed, so it never sees work that was rolled
    back; if it fails, the commit stands (the mail is imported) and the error propagates.
    """

    def __init__(self, inner: RecordStore, listener: CommitListener) -> None:
        self._inner = inner
        self._listener = listener

    def __repr__(self) -> str:
        return f"NotifyingStore({self._inner!r})"

    def _tell(self, interface: str, result: CommitResult) -> CommitResult:
        if result.outcome in {CommitOutcome.CREATED, CommitOutcome.APPENDED}:
            self._listener(interface, result)
        return result

    # -- import: the one place where this store adds something -------------------------------------

    def commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
        return self._tell(interface, self._inner.commit(interface, uid, action))

    def commit_many(self, items: Sequence[tuple[str, str, ImportAction]]) -> list[CommitResult]:
        results = self._inner.commit_many(items)
        return [
            self._tell(interface, result) for (interface, _, _), result in zip(items, results, strict=True)
        ]

    # -- everything else is the wrapped store's ---------------------------------------------------

    def is_imported(self, interface: str, uid: str) -> bool:
        return self._inner.is_imported(interface, uid)

    # Optional: with it, a UID the server reused is told apart from the message imported under it
    # for certain (also with leave_copy); without it, the importer judges by the Message-ID.
    def ledger_digests(self, interface: str, uids: Iterable[str]) -> dict[str, ContentDigest]:
        return self._inner.ledger_digests(interface, uids)

    def imported_uids(self, interface: str, uids: Iterable[str]) -> set[str]:
        return self._inner.imported_uids(interface, uids)

    def get_record(self, record_id: int, *, load_content: bool = True) -> Record:
        return self._inner.get_record(record_id, load_content=load_content)

    def list_records(
        self,
        project: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        load_content: bool = False,
        updated_since: datetime | None = None,
        order: Literal["id", "updated"] = "id",
    ) -> list[Record]:
        return self._inner.list_records(
            project,
            limit=limit,
            offset=offset,
            load_content=load_content,
            updated_since=updated_since,
            order=order,
        )

    def has_record(self, record_id: int, project: str | None = None) -> bool:
        return self._inner.has_record(record_id, project)

    def find_record_by_message_id(self, message_id: str) -> Record | None:
        return self._inner.find_record_by_message_id(message_id)

    def record_participants(self, record_id: int) -> set[str]:
        return self._inner.record_participants(record_id)

    def get_attachment_content(self, attachment_id: int) -> bytes:
        return self._inner.get_attachment_content(attachment_id)

    def quarantine(self, interface: str, uid: str, raw: bytes, error: str) -> QuarantinedMessage:
        return self._inner.quarantine(interface, uid, raw, error)

    def is_quarantined(self, interface: str, uid: str) -> bool:
        return self._inner.is_quarantined(interface, uid)

    def list_quarantined(self, interface: str | None = None) -> list[QuarantinedMessage]:
        return self._inner.list_quarantined(interface)

    def get_quarantined(self, quarantine_id: int) -> QuarantinedMessage:
        return self._inner.get_quarantined(quarantine_id)

    def release_quarantined(self, quarantine_id: int) -> None:
        self._inner.release_quarantined(quarantine_id)

    def save_interface(self, interface: MailInterface) -> None:
        self._inner.save_interface(interface)

    def get_interface(self, name: str) -> MailInterface:
        return self._inner.get_interface(name)

    def list_interfaces(self) -> list[MailInterface]:
        return self._inner.list_interfaces()

    def delete_interface(self, name: str) -> None:
        self._inner.delete_interface(name)

    def save_run(self, report: RunReport) -> None:
        self._inner.save_run(report)

    def last_run(self, name: str) -> RunReport | None:
        return self._inner.last_run(name)

    def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        return self._inner.acquire_lease(name, owner, seconds)

    def release_lease(self, name: str, owner: str) -> None:
        self._inner.release_lease(name, owner)

    # Optional: without these two, a dead worker's lease on a mailbox only expires (after
    # lease_seconds); with them, the next run on the same host takes it over at once.
    def lease_holder(self, name: str) -> Lease | None:
        return self._inner.lease_holder(name)

    def take_over_lease(self, name: str, owner: str, seconds: float, previous_owner: str) -> bool:
        return self._inner.take_over_lease(name, owner, seconds, previous_owner)

    def close(self) -> None:
        self._inner.close()


# -- the contract, and a test of the store's own feature ---------------------------------------


class TestNotifyingStore(RecordStoreContract):
    """The whole store contract, run against NotifyingStore around a MemoryRecordStore."""

    @pytest.fixture
    def store(self, clock: ManualClock) -> Iterator[RecordStore]:
        with NotifyingStore(MemoryRecordStore(clock=clock), lambda _interface, _result: None) as store:
            yield store


def test_the_listener_hears_of_new_records_and_details_only() -> None:
    heard: list[tuple[str, CommitOutcome, int | None]] = []
    store = NotifyingStore(
        MemoryRecordStore(), lambda name, result: heard.append((name, result.outcome, result.record_id))
    )
    request = build_message(subject="Printer jams", message_id="<1@example.com>")
    mailbox = FakeMailbox([request, build_message(subject="Re: [#1] Printer jams"), request])
    Importer(store=store, fetcher_factory=mailbox.fetcher).run(
        MailInterface(name="support", server="pop.example.com", login="support")
    )
    # The third message repeats the first one's Message-ID: a duplicate, which nobody is told of.
    assert heard == [("support", CommitOutcome.CREATED, 1), ("support", CommitOutcome.APPENDED, 1)]


def main() -> int:
    store = NotifyingStore(
        MemoryRecordStore(),
        lambda interface, result: print(f"  {interface}: {result.outcome.value} record #{result.record_id}"),
    )
    mailbox = FakeMailbox(
        [build_message(subject="Printer jams"), build_message(subject="Re: [#1] Printer jams")]
    )
    print("Importing two messages through NotifyingStore:")
    Importer(store=store, fetcher_factory=mailbox.fetcher).run(
        MailInterface(name="support", server="pop.example.com", login="support")
    )
    print("Running the store contract against it:")
    return pytest.main([__file__, "-q", "-p", "no:cacheprovider"])


if __name__ == "__main__":
    sys.exit(main())
