"""What a commit does, the same in every built-in store: the order of its checks and writes.

:func:`commit_action` is the logic of :meth:`~mailtrack.abc.RecordStore.commit`; a store gives it
its own :class:`CommitSteps` (dicts under a lock, SQL statements in a transaction). The order
is the contract: a pair already in the ledger writes nothing; content the interface's ledger
holds already under another key (the same bytes, by :func:`mailtrack._digest.content_digest`:
a rebuilt IMAP folder, a message delivered twice) writes only the ledger row; a skip writes only
its ledger row; a Message-ID that is a detail already writes only the ledger row; a missing record
is found before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from ..exceptions import RecordNotFoundError
from ..models import (
    AppendToRecord,
    CommitOutcome,
    CommitResult,
    ContentDigest,
    CreateRecord,
    ImportAction,
    IncomingMessage,
    MessageClass,
    SkipMessage,
)

__all__ = ["CommitSteps", "FieldChanges", "commit_action", "field_changes", "same_content"]

#: Field name → (old value or None, new value).
FieldChanges = dict[str, tuple[str | None, str]]


class CommitSteps(Protocol):
    """The reads and writes of one commit, inside the store's transaction (or lock)."""

    def in_ledger(self, interface: str, uid: str) -> bool:
        """Whether the ledger holds ``(interface, uid)``."""

    def imported_content(self, interface: str, sha256: str) -> CommitResult | None:
        """What the ledger recorded for a row of *interface* whose content digest is *sha256*
        (any one of them), or ``None``."""

    def detail_of(self, message_id: str) -> tuple[int, int] | None:
        """``(record_id, detail_id)`` of the detail with this Message-ID, or ``None``."""

    def touch_record(
        self, record_id: int, set_fields: Mapping[str, str], history_at: datetime | None = None
    ) -> FieldChanges | None:
        """Move the record's ``updated_at`` to now (for a message of *history*: to its time
        *history_at*, if that is later than the record's ``updated_at``) and set *set_fields*
        on it; the fields that changed (with their old values), or ``None`` when there is no
        such record."""

    def open_record(self, action: CreateRecord, fields: Mapping[str, str]) -> int:
        """Write a new record with *fields*; its ID."""

    def add_detail(
        self,
        record_id: int,
        interface: str,
        message: IncomingMessage,
        message_class: MessageClass,
        field_changes: FieldChanges,
    ) -> int:
        """Write the message as a detail of the record, with its attachments; the detail's ID."""

    def write_ledger(
        self, interface: str, uid: str, result: CommitResult, digest: ContentDigest | None
    ) -> None:
        """Write the ledger row of ``(interface, uid)``, with the message's digest if known."""


def commit_action(steps: CommitSteps, interface: str, uid: str, action: ImportAction) -> CommitResult:
    """Apply *action* and write the ledger row ``(interface, uid)`` through *steps*.

    Raises:
        RecordNotFoundError: an ``AppendToRecord`` names a record that does not exist (found
            before anything is written).
    """
    if steps.in_ledger(interface, uid):
        return CommitResult(outcome=CommitOutcome.ALREADY_IMPORTED)
    if action.digest is not None:
        earlier = steps.imported_content(interface, action.digest.sha256)
        if earlier is not None:
            return _ledger(steps, interface, uid, same_content(earlier), action)
    if isinstance(action, SkipMessage):
        return _ledger(steps, interface, uid, CommitResult(outcome=CommitOutcome.SKIPPED), action)
    existing = steps.detail_of(action.message.message_id)
    if existing is not None:
        record_id, detail_id = existing
        result = CommitResult(outcome=CommitOutcome.DUPLICATE, record_id=record_id, detail_id=detail_id)
        return _ledger(steps, interface, uid, result, action)
    if isinstance(action, AppendToRecord):
        history_at = action.message.received_at if action.message.history else None
        changes = steps.touch_record(action.record_id, action.set_fields, history_at)
        if changes is None:
            raise RecordNotFoundError(action.record_id)
        record_id, outcome = action.record_id, CommitOutcome.APPENDED
    elif isinstance(action, CreateRecord):
        changes = field_changes(action.fields, action.set_fields)
        record_id = steps.open_record(action, {**action.fields, **action.set_fields})
        outcome = CommitOutcome.CREATED
    else:  # pragma: no cover - guarded by the type checker
        raise TypeError(f"unknown import action {type(action).__name__}")
    detail_id = steps.add_detail(record_id, interface, action.message, action.message_class, changes)
    result = CommitResult(outcome=outcome, record_id=record_id, detail_id=detail_id)
    return _ledger(steps, interface, uid, result, action)


def same_content(earlier: CommitResult) -> CommitResult:
    """The result of committing content that the ledger holds already: a ``DUPLICATE`` of the
    detail it became, or ``SKIPPED`` again when it became none."""
    if earlier.detail_id is None:
        return CommitResult(outcome=CommitOutcome.SKIPPED)
    return CommitResult(
        outcome=CommitOutcome.DUPLICATE, record_id=earlier.record_id, detail_id=earlier.detail_id
    )


def field_changes(old: Mapping[str, str], new: Mapping[str, str]) -> FieldChanges:
    """The fields of *new* whose values differ from *old*: name → ``(old value or None, new value)``."""
    return {name: (old.get(name), value) for name, value in new.items() if old.get(name) != value}


def _ledger(
    steps: CommitSteps, interface: str, uid: str, result: CommitResult, action: ImportAction
) -> CommitResult:
    steps.write_ledger(interface, uid, result, action.digest)
    return result
