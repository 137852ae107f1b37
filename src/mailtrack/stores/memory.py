"""The in-memory record store: plain dicts behind one lock, copies on every read.

It keeps the same contract as the SQL store (:class:`~mailtrack.testing.RecordStoreContract`
checks both), so it is the store for tests, demos and short-lived tools. Nothing survives the
process.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta

import attrs

from ..abc import RecordStore
from ..config import MailInterface
from ..exceptions import InterfaceNotFoundError, QuarantineNotFoundError, RecordNotFoundError
from ..models import (
    AppendToRecord,
    Attachment,
    CommitOutcome,
    CommitResult,
    CreateRecord,
    Detail,
    ImportAction,
    IncomingMessage,
    Lease,
    MessageClass,
    QuarantinedMessage,
    Record,
    RunReport,
    SkipMessage,
)
from ._common import AttachmentNotFoundError, as_utc, commit_overridden, participant_addresses, utc_now

__all__ = ["MemoryRecordStore"]


@attrs.define
class _RecordRow:
    id: int
    project: str
    title: str
    fields: dict[str, str]
    created_at: datetime
    updated_at: datetime
    detail_ids: list[int] = attrs.field(factory=list)


@attrs.define
class _Lease:
    owner: str
    expires_at: datetime


def _counter() -> Iterator[int]:
    return itertools.count(1)


@attrs.define(eq=False, repr=False)
class MemoryRecordStore(RecordStore):
    """A :class:`~mailtrack.RecordStore` that keeps everything in memory.

    Safe to share between threads (one lock guards every method). Every read returns new
    objects, so changing what it returned never changes the store. IDs count from 1 upwards,
    separately for records, details, attachments and quarantined messages.

    Args:
        clock: Returns the current time (timezone-aware). Record timestamps, quarantine times
            and lease expiry use it; tests pass a :class:`~mailtrack.testing.ManualClock`.
    """

    _clock: Callable[[], datetime] = attrs.field(default=utc_now)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)
    _records: dict[int, _RecordRow] = attrs.field(init=False, factory=dict)
    _details: dict[int, Detail] = attrs.field(init=False, factory=dict)
    _attachments: dict[int, Attachment] = attrs.field(init=False, factory=dict)
    _detail_by_message_id: dict[str, int] = attrs.field(init=False, factory=dict)
    _ledger: dict[tuple[str, str], CommitResult] = attrs.field(init=False, factory=dict)
    _quarantine: dict[int, QuarantinedMessage] = attrs.field(init=False, factory=dict)
    _quarantine_keys: dict[tuple[str, str], int] = attrs.field(init=False, factory=dict)
    _interfaces: dict[str, MailInterface] = attrs.field(init=False, factory=dict)
    _runs: dict[str, list[RunReport]] = attrs.field(init=False, factory=dict)
    _leases: dict[str, _Lease] = attrs.field(init=False, factory=dict)
    _record_ids: Iterator[int] = attrs.field(init=False, factory=_counter)
    _detail_ids: Iterator[int] = attrs.field(init=False, factory=_counter)
    _attachment_ids: Iterator[int] = attrs.field(init=False, factory=_counter)
    _quarantine_ids: Iterator[int] = attrs.field(init=False, factory=_counter)

    def __repr__(self) -> str:
        return f"MemoryRecordStore(records={len(self._records)}, interfaces={len(self._interfaces)})"

    # -- import ------------------------------------------------------------------------------

    def commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
        """Apply *action* and write the ledger row ``(interface, uid)`` atomically.

        See :meth:`mailtrack.abc.RecordStore.commit` for the outcomes.

        Raises:
            RecordNotFoundError: an ``AppendToRecord`` names a record that does not exist
                (nothing is written).
        """
        with self._lock:
            return self._commit(interface, uid, action)

    def commit_many(self, items: Sequence[tuple[str, str, ImportAction]]) -> list[CommitResult]:
        """Commit the items one by one under one lock; a failing item keeps the earlier ones.

        A subclass that overrides only :meth:`commit` gets it called for each item instead.
        """
        if commit_overridden(self, MemoryRecordStore):
            return super().commit_many(items)
        with self._lock:
            return [self._commit(interface, uid, action) for interface, uid, action in items]

    def _commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
        key = (interface, uid)
        if key in self._ledger:
            return CommitResult(outcome=CommitOutcome.ALREADY_IMPORTED)
        if isinstance(action, SkipMessage):
            result = CommitResult(outcome=CommitOutcome.SKIPPED)
            self._ledger[key] = result
            return result

        existing_id = self._detail_by_message_id.get(action.message.message_id)
        if existing_id is not None:
            existing = self._details[existing_id]
            result = CommitResult(
                outcome=CommitOutcome.DUPLICATE, record_id=existing.record_id, detail_id=existing.id
            )
            self._ledger[key] = result
            return result

        # Everything that can fail happens before the first write.
        now = as_utc(self._clock())
        if isinstance(action, AppendToRecord):
            row = self._records.get(action.record_id)
            if row is None:
                raise RecordNotFoundError(f"record #{action.record_id} does not exist")
            outcome = CommitOutcome.APPENDED
        elif isinstance(action, CreateRecord):
            row = _RecordRow(
                id=next(self._record_ids),
                project=action.project,
                title=action.title,
                fields=dict(action.fields),
                created_at=now,
                updated_at=now,
            )
            outcome = CommitOutcome.CREATED
        else:  # pragma: no cover - guarded by the type checker
            raise TypeError(f"unknown import action {type(action).__name__}")

        detail = self._new_detail(row.id, interface, action.message, action.message_class)
        self._records[row.id] = row
        row.detail_ids.append(detail.id)
        row.updated_at = now
        self._details[detail.id] = detail
        self._detail_by_message_id[detail.message_id] = detail.id
        for attachment in detail.attachments:
            assert attachment.id is not None
            self._attachments[attachment.id] = attachment
        result = CommitResult(outcome=outcome, record_id=row.id, detail_id=detail.id)
        self._ledger[key] = result
        return result

    def _new_detail(
        self, record_id: int, interface: str, message: IncomingMessage, message_class: MessageClass
    ) -> Detail:
        attachments = tuple(
            attrs.evolve(
                attachment,
                id=next(self._attachment_ids),
                content=attachment.content if attachment.content is not None else b"",
            )
            for attachment in message.attachments
        )
        return Detail(
            id=next(self._detail_ids),
            record_id=record_id,
            message_id=message.message_id,
            sender=message.sender,
            to=tuple(message.to),
            cc=tuple(message.cc),
            sent_at=as_utc(message.sent_at),
            received_at=as_utc(message.received_at),
            subject=message.subject,
            text=message.text,
            html=message.html,
            headers=message.headers,
            attachments=attachments,
            message_class=MessageClass(message_class),
            interface=interface,
        )

    def is_imported(self, interface: str, uid: str) -> bool:
        """Whether the ledger holds ``(interface, uid)``."""
        with self._lock:
            return (interface, uid) in self._ledger

    def imported_uids(self, interface: str, uids: Iterable[str]) -> set[str]:
        """The subset of *uids* the ledger holds for *interface*."""
        wanted = set(uids)
        with self._lock:
            return {uid for uid in wanted if (interface, uid) in self._ledger}

    # -- records -------------------------------------------------------------------------------

    def _record(self, row: _RecordRow, *, load_content: bool) -> Record:
        return Record(
            id=row.id,
            project=row.project,
            title=row.title,
            fields=dict(row.fields),
            created_at=row.created_at,
            updated_at=row.updated_at,
            details=tuple(
                self._detail_copy(self._details[detail_id], load_content=load_content)
                for detail_id in row.detail_ids
            ),
        )

    @staticmethod
    def _detail_copy(detail: Detail, *, load_content: bool) -> Detail:
        attachments = tuple(
            attrs.evolve(attachment, content=attachment.content if load_content else None)
            for attachment in detail.attachments
        )
        return attrs.evolve(detail, attachments=attachments)

    def _row(self, record_id: int) -> _RecordRow:
        row = self._records.get(record_id)
        if row is None:
            raise RecordNotFoundError(f"record #{record_id} does not exist")
        return row

    def get_record(self, record_id: int, *, load_content: bool = True) -> Record:
        """The record with its details (oldest first) and their attachments.

        Raises:
            RecordNotFoundError: no record has that ID.
        """
        with self._lock:
            return self._record(self._row(record_id), load_content=load_content)

    def list_records(
        self,
        project: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        load_content: bool = False,
    ) -> list[Record]:
        """Records (of *project*, or all), newest ID first, paged by *limit* and *offset*."""
        if offset < 0 or (limit is not None and limit < 0):
            raise ValueError("limit and offset must not be negative")
        with self._lock:
            rows = [row for row in self._records.values() if project is None or row.project == project]
            rows.sort(key=lambda row: row.id, reverse=True)
            end = None if limit is None else offset + limit
            return [self._record(row, load_content=load_content) for row in rows[offset:end]]

    def has_record(self, record_id: int, project: str | None = None) -> bool:
        """Whether record *record_id* exists (and belongs to *project*, when given)."""
        with self._lock:
            row = self._records.get(record_id)
            return row is not None and (project is None or row.project == project)

    def find_record_by_message_id(self, message_id: str) -> Record | None:
        """The record holding a detail with this Message-ID, or ``None``."""
        with self._lock:
            detail_id = self._detail_by_message_id.get(message_id)
            if detail_id is None:
                return None
            return self._record(self._records[self._details[detail_id].record_id], load_content=True)

    def record_participants(self, record_id: int) -> set[str]:
        """Lower-case addresses from the From, To and Cc of the record's details.

        Raises:
            RecordNotFoundError: no record has that ID.
        """
        with self._lock:
            row = self._row(record_id)
            return participant_addresses(self._details[detail_id] for detail_id in row.detail_ids)

    def get_attachment_content(self, attachment_id: int) -> bytes:
        """The bytes of one stored attachment.

        Raises:
            AttachmentNotFoundError: no attachment has that ID.
        """
        with self._lock:
            attachment = self._attachments.get(attachment_id)
        if attachment is None or attachment.content is None:
            raise AttachmentNotFoundError(f"attachment {attachment_id} does not exist")
        return attachment.content

    # -- quarantine ----------------------------------------------------------------------------

    def quarantine(self, interface: str, uid: str, raw: bytes, error: str) -> QuarantinedMessage:
        """Keep a message that could not be imported; the same pair again counts one more attempt."""
        raw = bytes(raw)
        with self._lock:
            quarantine_id = self._quarantine_keys.get((interface, uid))
            if quarantine_id is not None:
                earlier = self._quarantine[quarantine_id]
                kept = attrs.evolve(earlier, raw=raw, error=error, attempts=earlier.attempts + 1)
            else:
                kept = QuarantinedMessage(
                    id=next(self._quarantine_ids),
                    interface=interface,
                    uid=uid,
                    raw=raw,
                    error=error,
                    quarantined_at=as_utc(self._clock()),
                )
                self._quarantine_keys[(interface, uid)] = kept.id
            self._quarantine[kept.id] = kept
            return kept

    def is_quarantined(self, interface: str, uid: str) -> bool:
        """Whether ``(interface, uid)`` is in the quarantine."""
        with self._lock:
            return (interface, uid) in self._quarantine_keys

    def list_quarantined(self, interface: str | None = None) -> list[QuarantinedMessage]:
        """Quarantined messages (of *interface*, or all), oldest first."""
        with self._lock:
            return [
                kept
                for _, kept in sorted(self._quarantine.items())
                if interface is None or kept.interface == interface
            ]

    def get_quarantined(self, quarantine_id: int) -> QuarantinedMessage:
        """One quarantined message.

        Raises:
            QuarantineNotFoundError: no quarantined message has that ID.
        """
        with self._lock:
            kept = self._quarantine.get(quarantine_id)
        if kept is None:
            raise QuarantineNotFoundError(f"quarantined message {quarantine_id} does not exist")
        return kept

    def release_quarantined(self, quarantine_id: int) -> None:
        """Remove a message from the quarantine.

        Raises:
            QuarantineNotFoundError: no quarantined message has that ID.
        """
        with self._lock:
            kept = self._quarantine.pop(quarantine_id, None)
            if kept is not None:
                del self._quarantine_keys[(kept.interface, kept.uid)]
        if kept is None:
            raise QuarantineNotFoundError(f"quarantined message {quarantine_id} does not exist")

    # -- interfaces ----------------------------------------------------------------------------

    @staticmethod
    def _interface_copy(interface: MailInterface) -> MailInterface:
        # evolve runs the converters again: ``defaults`` becomes a new dict.
        return attrs.evolve(interface, defaults=dict(interface.defaults))

    def save_interface(self, interface: MailInterface) -> None:
        """Save (add or replace, by name) a mail interface, password included."""
        copy = self._interface_copy(interface)
        with self._lock:
            self._interfaces[copy.name] = copy

    def get_interface(self, name: str) -> MailInterface:
        """The saved interface named *name*.

        Raises:
            InterfaceNotFoundError: none is saved under that name.
        """
        with self._lock:
            interface = self._interfaces.get(name)
        if interface is None:
            raise InterfaceNotFoundError(f"no mail interface named {name!r} is saved")
        return self._interface_copy(interface)

    def list_interfaces(self) -> list[MailInterface]:
        """All saved interfaces, by name."""
        with self._lock:
            interfaces = sorted(self._interfaces.values(), key=lambda interface: interface.name)
        return [self._interface_copy(interface) for interface in interfaces]

    def delete_interface(self, name: str) -> None:
        """Delete a saved interface (its ledger, records and run history stay).

        Raises:
            InterfaceNotFoundError: none is saved under that name.
        """
        with self._lock:
            if self._interfaces.pop(name, None) is None:
                raise InterfaceNotFoundError(f"no mail interface named {name!r} is saved")

    # -- runs and leases -----------------------------------------------------------------------

    def save_run(self, report: RunReport) -> None:
        """Append a run report to the interface's history."""
        kept = attrs.evolve(
            report,
            started_at=as_utc(report.started_at),
            finished_at=as_utc(report.finished_at),
            classes=dict(report.classes),
            notes=tuple(report.notes),
        )
        with self._lock:
            self._runs.setdefault(kept.interface, []).append(kept)

    def last_run(self, name: str) -> RunReport | None:
        """The newest (last saved) run report of interface *name*, or ``None``."""
        with self._lock:
            history = self._runs.get(name)
            if not history:
                return None
            report = history[-1]
        return attrs.evolve(report, classes=dict(report.classes))

    def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take (or renew, for the same *owner*) the lease on interface *name* for *seconds*.

        Returns:
            False when another owner holds an unexpired lease.
        """
        with self._lock:
            now = as_utc(self._clock())
            lease = self._leases.get(name)
            if lease is not None and lease.owner != owner and lease.expires_at > now:
                return False
            self._leases[name] = _Lease(owner=owner, expires_at=now + timedelta(seconds=seconds))
            return True

    def release_lease(self, name: str, owner: str) -> None:
        """Give up the lease if *owner* holds it (otherwise do nothing)."""
        with self._lock:
            lease = self._leases.get(name)
            if lease is not None and lease.owner == owner:
                del self._leases[name]

    def lease_holder(self, name: str) -> Lease | None:
        """Who holds the lease on interface *name* and until when; ``None`` when nobody does."""
        with self._lock:
            lease = self._leases.get(name)
            if lease is None or lease.expires_at <= as_utc(self._clock()):
                return None
            return Lease(interface=name, owner=lease.owner, expires_at=lease.expires_at)

    def take_over_lease(self, name: str, owner: str, seconds: float, previous_owner: str) -> bool:
        """Give the lease to *owner* if *previous_owner* still holds it (compare-and-swap)."""
        if not seconds > 0:
            raise ValueError(f"seconds must be positive, not {seconds!r}")
        with self._lock:
            lease = self._leases.get(name)
            if lease is None or lease.owner != previous_owner:
                return False
            expires_at = as_utc(self._clock()) + timedelta(seconds=seconds)
            self._leases[name] = _Lease(owner=owner, expires_at=expires_at)
            return True
