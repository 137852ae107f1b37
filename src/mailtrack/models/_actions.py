"""What the importer asks a store to do with one message, and what the store's commit did."""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from ._messages import IncomingMessage, MessageClass
from ._records import Detail, Record

__all__ = [
    "AppendToRecord",
    "CommitEvent",
    "CommitOutcome",
    "CommitResult",
    "ContentDigest",
    "CreateRecord",
    "ImportAction",
    "SkipMessage",
]


@attrs.frozen(kw_only=True)
class ContentDigest:
    """What the import ledger keeps about a message's content beside its ``(interface, UID)``:
    enough to tell, when the UID is listed again, whether it is still that message."""

    #: SHA-256 of the raw message (64 hex digits), with what its transport did undone first
    #: (line ends, POP3 dot-stuffing, mbox ``From`` quoting): the same message has the same
    #: digest however it arrived.
    sha256: str
    #: The size the server listed for the message when it was imported (``None``: not listed).
    listed_size: int | None = None


@attrs.frozen(kw_only=True)
class CreateRecord:
    """Import action: open a new record with the message as its first detail."""

    message: IncomingMessage
    project: str
    title: str
    fields: Mapping[str, str] = attrs.field(factory=dict)
    message_class: MessageClass = MessageClass.NORMAL
    #: What the ledger keeps about the raw message (the importer fills it in; ``None``: unknown).
    digest: ContentDigest | None = None
    #: Fields the message itself sets, over :attr:`fields` (recorded on the detail as changes).
    set_fields: Mapping[str, str] = attrs.field(factory=dict)
    #: The record the message named but could not write into (:attr:`Record.related`).
    related: int | None = None


@attrs.frozen(kw_only=True)
class AppendToRecord:
    """Import action: add the message to an existing record as a new detail."""

    message: IncomingMessage
    record_id: int
    message_class: MessageClass = MessageClass.NORMAL
    #: What the ledger keeps about the raw message (the importer fills it in; ``None``: unknown).
    digest: ContentDigest | None = None
    #: Fields the message sets on the record (recorded on the detail with their old values).
    set_fields: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class SkipMessage:
    """Import action: write only the ledger row (the message is handled, but makes no detail)."""

    reason: str
    message_id: str | None = None
    message_class: MessageClass = MessageClass.NORMAL
    #: What the ledger keeps about the raw message (the importer fills it in; ``None``: unknown).
    digest: ContentDigest | None = None


#: What the importer asks a store to do with one message (see :meth:`~mailtrack.abc.RecordStore.commit`).
ImportAction = CreateRecord | AppendToRecord | SkipMessage


class CommitOutcome(str, enum.Enum):
    """What :meth:`~mailtrack.abc.RecordStore.commit` did."""

    CREATED = "created"
    APPENDED = "appended"
    SKIPPED = "skipped"
    #: The Message-ID was already a detail (the same mail sent to two mailboxes):
    #: only the ledger row was written.
    DUPLICATE = "duplicate"
    #: The ledger already held (interface, uid): nothing was written.
    ALREADY_IMPORTED = "already_imported"


@attrs.frozen(kw_only=True)
class CommitResult:
    """What :meth:`~mailtrack.abc.RecordStore.commit` did with one message."""

    outcome: CommitOutcome
    #: The record created or appended to, or holding the duplicate; else ``None``.
    record_id: int | None = None
    #: The detail written, or the existing one for a duplicate; else ``None``.
    detail_id: int | None = None


@attrs.frozen(kw_only=True)
class CommitEvent:
    """What one commit did, as the ``on_committed`` listener of an :class:`~mailtrack.Importer`
    hears it: after the commit, once per message that opened a record or added to one."""

    #: The interface the message came through.
    interface: str
    #: The message's key in the ledger (its UID, or ``sha256:…`` without UIDL).
    uid: str
    #: ``CREATED`` (a new record) or ``APPENDED`` (a follow-up on an existing one).
    outcome: CommitOutcome
    #: The record as the commit left it; attachment content is not loaded (``None``).
    record: Record
    #: The detail the commit wrote (also the last of ``record.details``).
    detail: Detail
    #: The fields the commit set: a new record's fields; for an append, those the message changed
    #: (keyword lines, trusted headers: old values in ``detail.field_changes``), else empty.
    changed_fields: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def created(self) -> bool:
        """True when the message opened a new record."""
        return self.outcome is CommitOutcome.CREATED
