"""Rows of the SQL store's tables and the models they hold, both ways.

Keys longer than the key columns hold (255 characters) are stored as a digest (:func:`key`);
Message-IDs are found by their SHA-256 (:func:`sha256`). :func:`load_records` reads records
with their details and attachments in three queries per 500 records, however many they hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ...models import (
    Attachment,
    CommitResult,
    ContentDigest,
    Detail,
    EmailAddress,
    MessageClass,
    QuarantinedMessage,
    Record,
    RefusedAttachment,
    RunReport,
)
from .._common import as_utc, record_of
from . import _schema as tables
from ._schema import KEY_LENGTH

__all__ = [
    "attachment_values",
    "chunks",
    "detail_values",
    "key",
    "ledger_values",
    "load_records",
    "new_id",
    "participants",
    "quarantined",
    "run_report",
    "rows_by_uid",
    "run_values",
    "sha256",
]

T = TypeVar("T")

#: IN lists are cut into chunks of this many values (SQLite allows 32766 parameters).
CHUNK = 500


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def key(value: str) -> str:
    """A value fit for a 255-character key column (longer ones become a digest)."""
    return value if len(value) <= KEY_LENGTH else "sha256:" + sha256(value)


def chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def rows_by_uid(
    conn: Connection,
    table: sa.Table,
    interface: str,
    uids: Iterable[str],
    *columns: sa.ColumnElement[Any],
    where: Sequence[sa.ColumnElement[bool]] = (),
) -> Iterator[tuple[str, Row[Any]]]:
    """The rows of *table* (keyed by ``interface`` and ``uid``) for those of *uids* it holds,
    each with the UID as given (long ones are stored as a digest); one query per 500 UIDs."""
    by_key = {key(uid): uid for uid in uids}
    for chunk in chunks(list(by_key)):
        query = sa.select(table.c.uid, *columns).where(
            table.c.interface == interface, table.c.uid.in_(chunk), *where
        )
        for row in conn.execute(query):
            yield by_key[row.uid], row


def new_id(result: sa.CursorResult[Any]) -> int:
    """The primary key an INSERT gave its row."""
    inserted = result.inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


# -- addresses ----------------------------------------------------------------------------------


def _address_data(address: EmailAddress | None) -> list[str] | None:
    return None if address is None else [address.address, address.name]


def _address(data: Any) -> EmailAddress | None:
    if not data:
        return None
    return EmailAddress(address=data[0], name=data[1])


def _addresses(rows: Any) -> tuple[EmailAddress, ...]:
    return tuple(person for person in map(_address, rows) if person is not None)


def participants(rows: Sequence[Any]) -> set[str]:
    """Lower-case addresses in the sender, To and Cc columns of detail *rows*."""
    found: set[str] = set()
    for row in rows:
        for data in (row.sender, *row.to_addresses, *row.cc_addresses):
            person = _address(data)
            if person is not None and person.address:
                found.add(person.address.lower())
    return found


# -- details and attachments --------------------------------------------------------------------


def detail_values(detail: Detail) -> dict[str, Any]:
    """The row of a new detail (its ID and attachments are written apart)."""
    values = {
        "record_id": detail.record_id,
        "message_id": detail.message_id,
        "message_id_sha256": sha256(detail.message_id),
        "sender": _address_data(detail.sender),
        "to_addresses": [_address_data(person) for person in detail.to],
        "cc_addresses": [_address_data(person) for person in detail.cc],
        "sent_at": detail.sent_at,
        "received_at": detail.received_at,
        "subject": detail.subject,
        "text": detail.text,
        "html": detail.html,
        "headers": detail.headers,
        "message_class": detail.message_class.value,
        "interface": detail.interface,
        "defects": list(detail.defects) or None,
        "refused_attachments": [attrs.asdict(refused) for refused in detail.refused_attachments] or None,
    }
    if detail.field_changes:  # left out when empty: each value costs the insert a bound parameter
        values["field_changes"] = {name: list(change) for name, change in detail.field_changes.items()}
    if detail.history:
        values["history"] = True
    return values


def _detail(row: Row[Any], attachments: tuple[Attachment, ...]) -> Detail:
    return Detail(
        id=row.id,
        record_id=row.record_id,
        message_id=row.message_id,
        sender=_address(row.sender),
        to=_addresses(row.to_addresses),
        cc=_addresses(row.cc_addresses),
        sent_at=row.sent_at,
        received_at=row.received_at,
        subject=row.subject,
        text=row.text,
        html=row.html,
        headers=row.headers,
        attachments=attachments,
        message_class=MessageClass(row.message_class),
        interface=row.interface,
        defects=tuple(row.defects or ()),
        refused_attachments=tuple(RefusedAttachment(**data) for data in row.refused_attachments or ()),
        field_changes={name: (old, new) for name, (old, new) in (row.field_changes or {}).items()},
        history=bool(row.history),
    )


def attachment_values(detail_id: int, position: int, attachment: Attachment) -> dict[str, Any]:
    """The row of a stored attachment (*attachment* as the store keeps it, with content)."""
    return {
        "detail_id": detail_id,
        "position": position,
        "filename": attachment.filename,
        "original_filename": attachment.original_filename,
        "content_type": attachment.content_type,
        "content_id": attachment.content_id,
        "disposition": attachment.disposition,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "content": attachment.content,
    }


def _attachment(row: Row[Any], *, load_content: bool) -> Attachment:
    return Attachment(
        id=row.id,
        filename=row.filename,
        original_filename=row.original_filename,
        content_type=row.content_type,
        content_id=row.content_id,
        disposition=row.disposition,
        size=row.size,
        sha256=row.sha256,
        content=bytes(row.content) if load_content else None,
    )


def load_records(conn: Connection, rows: Sequence[Row[Any]], *, load_content: bool) -> list[Record]:
    """The records of *rows* with their details and attachments (content only if asked)."""
    details, attachments = tables.details, tables.attachments
    record_ids = [row.id for row in rows]
    details_of: dict[int, list[Row[Any]]] = {record_id: [] for record_id in record_ids}
    attachments_of: dict[int, list[Attachment]] = {}
    columns = [c for c in attachments.c if c.name != "content" or load_content]
    for chunk in chunks(record_ids):
        for row in conn.execute(
            sa.select(details).where(details.c.record_id.in_(chunk)).order_by(details.c.id)
        ):
            details_of[row.record_id].append(row)
        for row in conn.execute(
            sa.select(*columns)
            .join_from(attachments, details, attachments.c.detail_id == details.c.id)
            .where(details.c.record_id.in_(chunk))
            .order_by(attachments.c.detail_id, attachments.c.position)
        ):
            attachments_of.setdefault(row.detail_id, []).append(_attachment(row, load_content=load_content))
    return [
        record_of(
            row,
            tuple(_detail(detail, tuple(attachments_of.get(detail.id, ()))) for detail in details_of[row.id]),
        )
        for row in rows
    ]


# -- the ledger, the quarantine, runs -----------------------------------------------------------


def ledger_values(
    interface: str, uid: str, result: CommitResult, committed_at: Any, digest: ContentDigest | None
) -> dict[str, Any]:
    return {
        "interface": interface,
        "uid": key(uid),
        "outcome": result.outcome.value,
        "record_id": result.record_id,
        "detail_id": result.detail_id,
        "committed_at": committed_at,
        "content_sha256": None if digest is None else digest.sha256,
        "listed_size": None if digest is None else digest.listed_size,
    }


def quarantined(row: Row[Any]) -> QuarantinedMessage:
    return QuarantinedMessage(
        id=row.id,
        interface=row.interface,
        uid=row.uid,
        raw=bytes(row.raw),
        error=row.error,
        quarantined_at=row.quarantined_at,
        attempts=row.attempts,
    )


#: The columns of ``mailtrack_runs`` that hold a RunReport's attribute of the same name as is.
_RUN_COLUMNS = ("interface", "imported", "created", "updated", "skipped", "error")


def run_values(report: RunReport) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(report, name) for name in _RUN_COLUMNS}
    values.update(
        failed=report.quarantined,  # the column keeps the field's former name
        already_imported=report.already_imported,
        left_on_server=report.left_on_server,
        started_at=as_utc(report.started_at),
        finished_at=as_utc(report.finished_at),
        classes=dict(report.classes),
        notes=list(report.notes),
    )
    return values


def run_report(row: Row[Any]) -> RunReport:
    return RunReport(
        **{name: getattr(row, name) for name in _RUN_COLUMNS},
        quarantined=row.failed,
        already_imported=row.already_imported or 0,  # NULL: saved before revision 0005
        left_on_server=row.left_on_server or 0,
        started_at=row.started_at,
        finished_at=row.finished_at,
        classes=dict(row.classes),
        notes=tuple(row.notes),
    )
