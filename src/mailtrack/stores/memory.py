"""The in-memory record store: plain dicts behind one lock, copies on every read.

It keeps the same contract as the SQL store (:class:`~mailtrack.testing.RecordStoreContract`
checks both), so it is the store for tests, demos and short-lived tools. Nothing survives the
process.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

import attrs

from ..abc import RecordStore
from ..auth._tokens import MemoryTokenCache
from ..config import MailInterface
from ..exceptions import (
    AttachmentNotFoundError,
    InterfaceNotFoundError,
    QuarantineNotFoundError,
    RecordNotFoundError,
)
from ..models import (
    Attachment,
    CommitResult,
    ContentDigest,
    CreateRecord,
    Detail,
    ImportAction,
    IncomingMessage,
    Lease,
    MessageClass,
    QuarantinedMessage,
    Record,
    RunReport,
)
from ._commit import FieldChanges, commit_action, field_changes
from ._common import (
    as_utc,
    check_listing,
    commit_overridden,
    new_detail,
    opened_at,
    participant_addresses,
    record_of,
    stored_attachment,
    utc_now,
)

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
    related_record_id: int | None = None
    history: bool = False


@attrs.define
class _Lease:
    owner: str
    expires_at: datetime


def _counter() -> Iterator[int]:
    return itertools.count(1)


@attrs.define
class _MemoryCommitSteps:
    """The steps of :func:`~mailtrack.stores._commit.commit_action` on the dicts (under the lock)."""

    store: MemoryRecordStore
    now: datetime

    def in_ledger(self, interface: str, uid: str) -> bool:
        return (interface, uid) in self.store._ledger

    def imported_content(self, interface: str, sha256: str) -> CommitResult | None:
        return self.store._ledger_by_content.get((interface, sha256))

    def detail_of(self, message_id: str) -> tuple[int, int] | None:
        detail_id = self.store._detail_by_message_id.get(message_id)
        if detail_id is None:
            return None
        return self.store._details[detail_id].record_id, detail_id

    def touch_record(
        self, record_id: int, set_fields: Mapping[str, str], history_at: datetime | None = None
    ) -> FieldChanges | None:
        row = self.store._records.get(record_id)
        if row is None:
            return None
        row.updated_at = self.now if history_at is None else max(row.updated_at, as_utc(history_at))
        changes = field_changes(row.fields, set_fields)
        row.fields.update(set_fields)
        return changes

    def open_record(self, action: CreateRecord, fields: Mapping[str, str]) -> int:
        row = _RecordRow(
            id=next(self.store._record_ids),
            project=action.project,
            title=action.title,
            fields=dict(fields),
            created_at=opened_at(action, self.now),
            updated_at=opened_at(action, self.now),
            related_record_id=action.related,
            history=action.message.history,
        )
        self.store._records[row.id] = row
        return row.id

    def add_detail(
        self,
        record_id: int,
        interface: str,
        message: IncomingMessage,
        message_class: MessageClass,
        field_changes: FieldChanges,
    ) -> int:
        store = self.store
        attachments = tuple(
            stored_attachment(attachment, next(store._attachment_ids)) for attachment in message.attachments
        )
        detail = new_detail(
            next(store._detail_ids), record_id, interface, message, message_class, attachments, field_changes
        )
        store._records[record_id].detail_ids.append(detail.id)
        store._details[detail.id] = detail
        store._detail_by_message_id[detail.message_id] = detail.id
        for attachment in attachments:
            assert attachment.id is not None
            store._attachments[attachment.id] = attachment
        return detail.id

    def write_ledger(
        self, interface: str, uid: str, result: CommitResult, digest: ContentDigest | None
    ) -> None:
        self.store._ledger[(interface, uid)] = result
        if digest is not None:
            self.store._ledger_digests[(interface, uid)] = digest
            self.store._ledger_by_content.setdefault((interface, digest.sha256), result)


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
    _ledger_digests: dict[tuple[str, str], ContentDigest] = attrs.field(init=False, factory=dict)
    #: (interface, content SHA-256) → the result of the first ledger row with that content.
    _ledger_by_content: dict[tuple[str, str], CommitResult] = attrs.field(init=False, factory=dict)
    _quarantine: dict[int, QuarantinedMessage] = attrs.field(init=False, factory=dict)
    _quarantine_keys: dict[tuple[str, str], int] = attrs.field(init=False, factory=dict)
    _interfaces: dict[str, MailInterface] = attrs.field(init=False, factory=dict)
    _runs: dict[str, list[RunReport]] = attrs.field(init=False, factory=dict)
    _leases: dict[str, _Lease] = attrs.field(init=False, factory=dict)
    _attempts: dict[tuple[str, str], int] = attrs.field(init=False, factory=dict)
    _token_caches: dict[str, MemoryTokenCache] = attrs.field(init=False, factory=dict, repr=False)
    _record_ids: Iterator[int] = attrs.field(init=False, factory=_counter)
    _detail_ids: Iterator[int] = attrs.field(init=False, factory=_counter)
    _attachment_ids: Iterator[int] = attrs.field(init=False, factory=_counter)
    _quarantine_ids: Iterator[int] = attrs.field(init=False, factory=_counter)

    def __repr__(self) -> str:
        return f"MemoryRecordStore(records={len(self._records)}, interfaces={len(self._interfaces)})"

    # -- import ------------------------------------------------------------------------------

    def commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
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
        return commit_action(_MemoryCommitSteps(self, as_utc(self._clock())), interface, uid, action)

    def is_imported(self, interface: str, uid: str) -> bool:
        with self._lock:
            return (interface, uid) in self._ledger

    def imported_uids(self, interface: str, uids: Iterable[str]) -> set[str]:
        wanted = set(uids)
        with self._lock:
            return {uid for uid in wanted if (interface, uid) in self._ledger}

    def ledger_digests(self, interface: str, uids: Iterable[str]) -> dict[str, ContentDigest]:
        wanted = set(uids)
        with self._lock:
            digests = self._ledger_digests
            return {uid: digests[(interface, uid)] for uid in wanted if (interface, uid) in digests}

    def conversion_attempts(self, interface: str, uids: Iterable[str]) -> dict[str, int]:
        with self._lock:
            return {uid: self._attempts[interface, uid] for uid in uids if (interface, uid) in self._attempts}

    def add_conversion_attempts(self, interface: str, uids: Sequence[str]) -> None:
        with self._lock:
            for uid in dict.fromkeys(uids):  # a UID named twice is one attempt
                self._attempts[interface, uid] = self._attempts.get((interface, uid), 0) + 1

    def clear_conversion_attempts(self, interface: str, uids: Sequence[str]) -> None:
        with self._lock:
            for uid in uids:
                self._attempts.pop((interface, uid), None)

    # -- records -------------------------------------------------------------------------------

    def _record(self, row: _RecordRow, *, load_content: bool) -> Record:
        details = tuple(
            self._detail_copy(self._details[detail_id], load_content=load_content)
            for detail_id in row.detail_ids
        )
        return record_of(row, details)

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
            raise RecordNotFoundError(record_id)
        return row

    def get_record(self, record_id: int, *, load_content: bool = True) -> Record:
        with self._lock:
            return self._record(self._row(record_id), load_content=load_content)

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
        since = check_listing(limit, offset, order, updated_since)
        with self._lock:
            rows = [
                row
                for row in self._records.values()
                if (project is None or row.project == project) and (since is None or row.updated_at >= since)
            ]
            if order == "updated":
                rows.sort(key=lambda row: (row.updated_at, row.id), reverse=True)
            else:
                rows.sort(key=lambda row: row.id, reverse=True)
            end = None if limit is None else offset + limit
            return [self._record(row, load_content=load_content) for row in rows[offset:end]]

    def has_record(self, record_id: int, project: str | None = None) -> bool:
        with self._lock:
            row = self._records.get(record_id)
            return row is not None and (project is None or row.project == project)

    def find_record_by_message_id(self, message_id: str) -> Record | None:
        with self._lock:
            detail_id = self._detail_by_message_id.get(message_id)
            if detail_id is None:
                return None
            return self._record(self._records[self._details[detail_id].record_id], load_content=True)

    def record_ids_by_message_ids(self, message_ids: Sequence[str]) -> dict[str, int]:
        with self._lock:
            found: dict[str, int] = {}
            for message_id in message_ids:
                detail_id = self._detail_by_message_id.get(message_id)
                if detail_id is not None:
                    found[message_id] = self._details[detail_id].record_id
            return found

    def record_participants(self, record_id: int) -> set[str]:
        with self._lock:
            row = self._row(record_id)
            return participant_addresses(self._details[detail_id] for detail_id in row.detail_ids)

    def get_attachment_content(self, attachment_id: int) -> bytes:
        with self._lock:
            attachment = self._attachments.get(attachment_id)
        if attachment is None or attachment.content is None:
            raise AttachmentNotFoundError(attachment_id)
        return attachment.content

    # -- quarantine ----------------------------------------------------------------------------

    def quarantine(self, interface: str, uid: str, raw: bytes, error: str) -> QuarantinedMessage:
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
        with self._lock:
            return (interface, uid) in self._quarantine_keys

    def list_quarantined(self, interface: str | None = None) -> list[QuarantinedMessage]:
        with self._lock:
            return [
                kept
                for _, kept in sorted(self._quarantine.items())
                if interface is None or kept.interface == interface
            ]

    def get_quarantined(self, quarantine_id: int) -> QuarantinedMessage:
        with self._lock:
            kept = self._quarantine.get(quarantine_id)
        if kept is None:
            raise QuarantineNotFoundError(quarantine_id)
        return kept

    def release_quarantined(self, quarantine_id: int) -> None:
        with self._lock:
            kept = self._quarantine.pop(quarantine_id, None)
            if kept is not None:
                del self._quarantine_keys[(kept.interface, kept.uid)]
        if kept is None:
            raise QuarantineNotFoundError(quarantine_id)

    # -- interfaces ----------------------------------------------------------------------------

    @staticmethod
    def _interface_copy(interface: MailInterface) -> MailInterface:
        # evolve runs the converters again: ``defaults`` becomes a new dict.
        return attrs.evolve(interface, defaults=dict(interface.defaults))

    def save_interface(self, interface: MailInterface) -> None:
        copy = self._interface_copy(interface)
        with self._lock:
            self._interfaces[copy.name] = copy

    def get_interface(self, name: str) -> MailInterface:
        with self._lock:
            interface = self._interfaces.get(name)
        if interface is None:
            raise InterfaceNotFoundError(name)
        return self._interface_copy(interface)

    def list_interfaces(self) -> list[MailInterface]:
        with self._lock:
            interfaces = sorted(self._interfaces.values(), key=lambda interface: interface.name)
        return [self._interface_copy(interface) for interface in interfaces]

    def delete_interface(self, name: str) -> None:
        with self._lock:
            if self._interfaces.pop(name, None) is None:
                raise InterfaceNotFoundError(name)

    # -- runs and leases -----------------------------------------------------------------------

    def save_run(self, report: RunReport) -> None:
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
        with self._lock:
            history = self._runs.get(name)
            if not history:
                return None
            report = history[-1]
        return attrs.evolve(report, classes=dict(report.classes))

    def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        with self._lock:
            now = as_utc(self._clock())
            lease = self._leases.get(name)
            if lease is not None and lease.owner != owner and lease.expires_at > now:
                return False
            self._leases[name] = _Lease(owner=owner, expires_at=now + timedelta(seconds=seconds))
            return True

    def release_lease(self, name: str, owner: str) -> None:
        with self._lock:
            lease = self._leases.get(name)
            if lease is not None and lease.owner == owner:
                del self._leases[name]

    def lease_holder(self, name: str) -> Lease | None:
        with self._lock:
            lease = self._leases.get(name)
            if lease is None or lease.expires_at <= as_utc(self._clock()):
                return None
            return Lease(interface=name, owner=lease.owner, expires_at=lease.expires_at)

    def token_cache(self, interface_name: str) -> MemoryTokenCache:
        """The OAuth 2.0 tokens of a saved interface, in memory (shared by this store's users)."""
        with self._lock:
            return self._token_caches.setdefault(interface_name, MemoryTokenCache())

    def take_over_lease(self, name: str, owner: str, seconds: float, previous_owner: str) -> bool:
        if not seconds > 0:
            raise ValueError(f"seconds must be positive, not {seconds!r}")
        with self._lock:
            lease = self._leases.get(name)
            if lease is None or lease.owner != previous_owner:
                return False
            expires_at = as_utc(self._clock()) + timedelta(seconds=seconds)
            self._leases[name] = _Lease(owner=owner, expires_at=expires_at)
            return True
