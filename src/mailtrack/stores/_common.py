"""Small helpers every built-in store shares (kept private; stores re-export nothing from here)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

from ..abc import RecordStore
from ..models import Attachment, CreateRecord, Detail, IncomingMessage, MessageClass, Record

__all__ = [
    "as_utc",
    "check_listing",
    "commit_overridden",
    "new_detail",
    "opened_at",
    "participant_addresses",
    "stored_attachment",
    "utc_now",
]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC (the default clock of the stores)."""
    return datetime.now(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """*moment* in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


#: The orders of :meth:`~mailtrack.abc.RecordStore.list_records`.
RECORD_ORDERS = ("id", "updated")


def check_listing(
    limit: int | None, offset: int, order: str, updated_since: datetime | None
) -> datetime | None:
    """Check the arguments of ``list_records``; *updated_since* in UTC.

    Raises:
        ValueError: a negative *limit* or *offset*, or an unknown *order*.
    """
    if offset < 0 or (limit is not None and limit < 0):
        raise ValueError("limit and offset must not be negative")
    if order not in RECORD_ORDERS:
        raise ValueError(f"order must be 'id' or 'updated', not {order!r}")
    return None if updated_since is None else as_utc(updated_since)


def commit_overridden(store: RecordStore, base: type[RecordStore]) -> bool:
    """Whether *store*'s class overrides ``commit`` of the built-in *base* but not
    ``commit_many``: then a batch must go through that ``commit``, item by item, or what the
    subclass does on every commit would be skipped for batches (the importer's default)."""
    kind = type(store)
    return kind.commit is not base.commit and kind.commit_many is base.commit_many


def participant_addresses(details: Iterable[Detail]) -> set[str]:
    """Lower-case addresses from the From, To and Cc of *details* (a missing From is ignored)."""
    found: set[str] = set()
    for detail in details:
        people = (detail.sender, *detail.to, *detail.cc)
        found.update(person.address.lower() for person in people if person is not None and person.address)
    return found


def new_detail(
    detail_id: int,
    record_id: int,
    interface: str,
    message: IncomingMessage,
    message_class: MessageClass,
    attachments: tuple[Attachment, ...] = (),
    field_changes: Mapping[str, tuple[str | None, str]] | None = None,
) -> Detail:
    """The detail a store keeps of *message*: its values, times in UTC, *attachments* and the
    record fields it changed."""
    return Detail(
        id=detail_id,
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
        defects=tuple(message.defects),
        refused_attachments=tuple(message.refused_attachments),
        field_changes=dict(field_changes or {}),
        history=message.history,
    )


def stored_attachment(attachment: Attachment, attachment_id: int | None) -> Attachment:
    """The attachment as a store keeps it: with its ID, and bytes even when none were given."""
    content = attachment.content if attachment.content is not None else b""
    return attrs.evolve(attachment, id=attachment_id, content=content)


def opened_at(action: CreateRecord, now: datetime) -> datetime:
    """When the record *action* opens was opened: *now*, or for old mail moved in
    (:attr:`~mailtrack.IncomingMessage.history`) the time of its message (its Date)."""
    return as_utc(action.message.received_at) if action.message.history else now


def record_of(row: Any, details: tuple[Detail, ...]) -> Record:
    """The :class:`~mailtrack.Record` of a stored record *row* (anything with its columns as
    attributes: a table row, a row object in memory), with *details*."""
    return Record(
        id=row.id,
        project=row.project,
        title=row.title,
        fields=dict(row.fields),
        created_at=row.created_at,
        updated_at=row.updated_at,
        details=details,
        related=row.related_record_id,
        history=bool(row.history),
    )
