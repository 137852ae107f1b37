"""The SQL store's writes, each inside a transaction the caller runs: a commit's steps, a
quarantined message, and the lease rows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...models import CommitOutcome, CommitResult, ContentDigest, CreateRecord, IncomingMessage, MessageClass
from .._commit import FieldChanges, field_changes
from .._common import as_utc, new_detail, opened_at, stored_attachment
from . import _schema as tables
from ._rows import attachment_values, detail_values, key, ledger_values, new_id, sha256

__all__ = [
    "SQLCommitSteps",
    "acquire_lease",
    "in_ledger",
    "keep_quarantined",
    "save_config",
    "take_over_lease",
]


@attrs.define
class SQLCommitSteps:
    """The steps of :func:`~mailtrack.stores._commit.commit_action` as SQL statements on *conn*,
    at the time *now*."""

    conn: Connection
    now: datetime

    def in_ledger(self, interface: str, uid: str) -> bool:
        return in_ledger(self.conn, interface, uid)

    def imported_content(self, interface: str, sha256: str) -> CommitResult | None:
        ledger = tables.ledger
        found = self.conn.execute(
            sa.select(ledger.c.outcome, ledger.c.record_id, ledger.c.detail_id)
            .where(ledger.c.interface == interface, ledger.c.content_sha256 == sha256)
            .limit(1)
        ).first()
        if found is None:
            return None
        return CommitResult(
            outcome=CommitOutcome(found.outcome), record_id=found.record_id, detail_id=found.detail_id
        )

    def detail_of(self, message_id: str) -> tuple[int, int] | None:
        details = tables.details
        found = self.conn.execute(
            sa.select(details.c.id, details.c.record_id).where(
                details.c.message_id_sha256 == sha256(message_id)
            )
        ).first()
        return None if found is None else (found.record_id, found.id)

    def touch_record(
        self, record_id: int, set_fields: Mapping[str, str], history_at: datetime | None = None
    ) -> FieldChanges | None:
        records = tables.records
        updated_at: Any = self.now
        if history_at is not None:  # old mail: the record's time moves only forward, to the mail's
            at = as_utc(history_at)
            updated_at = sa.case((records.c.updated_at < at, at), else_=records.c.updated_at)
        if not set_fields:
            updated = self.conn.execute(
                sa.update(records).where(records.c.id == record_id).values(updated_at=updated_at)
            )
            return {} if updated.rowcount else None
        # Read in the transaction that writes: the old values are the ones replaced.
        old = self.conn.execute(
            sa.select(records.c.fields).where(records.c.id == record_id).with_for_update()
        ).scalar_one_or_none()
        if old is None:
            return None
        fields = dict(old)
        changes = field_changes(fields, set_fields)
        fields.update(set_fields)
        self.conn.execute(
            sa.update(records).where(records.c.id == record_id).values(updated_at=updated_at, fields=fields)
        )
        return changes

    def open_record(self, action: CreateRecord, fields: Mapping[str, str]) -> int:
        values: dict[str, Any] = {
            "project": action.project,
            "title": action.title,
            "fields": dict(fields),
            "created_at": opened_at(action, self.now),
            "updated_at": opened_at(action, self.now),
        }
        if action.related is not None:
            values["related_record_id"] = action.related
        if action.message.history:
            values["history"] = True
        inserted = self.conn.execute(sa.insert(tables.records).values(values))
        return new_id(inserted)

    def add_detail(
        self,
        record_id: int,
        interface: str,
        message: IncomingMessage,
        message_class: MessageClass,
        field_changes: FieldChanges,
    ) -> int:
        detail = new_detail(0, record_id, interface, message, message_class, field_changes=field_changes)
        detail_id = new_id(self.conn.execute(sa.insert(tables.details).values(detail_values(detail))))
        if message.attachments:
            self.conn.execute(
                sa.insert(tables.attachments),
                [
                    attachment_values(detail_id, position, stored_attachment(attachment, None))
                    for position, attachment in enumerate(message.attachments)
                ],
            )
        return detail_id

    def write_ledger(
        self, interface: str, uid: str, result: CommitResult, digest: ContentDigest | None
    ) -> None:
        values = ledger_values(interface, uid, result, self.now, digest)
        self.conn.execute(sa.insert(tables.ledger).values(values))


def in_ledger(conn: Connection, interface: str, uid: str) -> bool:
    """Whether the ledger holds ``(interface, uid)``."""
    ledger = tables.ledger
    query = sa.select(ledger.c.id).where(ledger.c.interface == interface, ledger.c.uid == key(uid))
    return conn.execute(query).first() is not None


def keep_quarantined(
    conn: Connection, interface: str, uid: str, raw: bytes, error: str, now: datetime
) -> int:
    """Add a message to the quarantine, or count one more attempt of one kept already; its ID."""
    table = tables.quarantine
    found = conn.execute(
        sa.select(table.c.id).where(table.c.interface == interface, table.c.uid == key(uid))
    ).scalar_one_or_none()
    if found is not None:
        conn.execute(
            sa.update(table)
            .where(table.c.id == found)
            .values(raw=raw, error=error, attempts=table.c.attempts + 1)
        )
        return int(found)
    inserted = conn.execute(
        sa.insert(table).values(
            interface=interface, uid=key(uid), raw=raw, error=error, attempts=1, quarantined_at=now
        )
    )
    return new_id(inserted)


def save_config(conn: Connection, name: str, config: Any) -> None:
    """Add or replace the saved configuration of interface *name*."""
    table = tables.interfaces
    updated = conn.execute(sa.update(table).where(table.c.name == name).values(config=config))
    if updated.rowcount == 0:
        conn.execute(sa.insert(table).values(name=name, config=config))


def acquire_lease(
    conn: Connection, name: str, owner: str, seconds: float, now: datetime, *, skip_locked: bool
) -> bool:
    """Take or renew the lease (see :meth:`~mailtrack.abc.RecordStore.acquire_lease`).

    The lease row is read with ``SELECT … FOR UPDATE SKIP LOCKED`` where the database has it, so
    a worker never waits behind another worker that is taking the same lease; a missing row is
    inserted, and the unique key decides a race.
    """
    leases = tables.leases
    lease_name, lease_owner = key(name), key(owner)
    expires_at = now + timedelta(seconds=seconds)
    row = conn.execute(
        sa.select(leases.c.owner, leases.c.expires_at)
        .where(leases.c.name == lease_name)
        .with_for_update(skip_locked=skip_locked)
    ).first()
    if row is None:
        if skip_locked and conn.execute(sa.select(leases.c.name).where(leases.c.name == lease_name)).first():
            return False  # the row exists but another worker is taking it right now
        conn.execute(sa.insert(leases).values(name=lease_name, owner=lease_owner, expires_at=expires_at))
        return True
    if row.owner != lease_owner and row.expires_at > now:
        return False
    conn.execute(
        sa.update(leases).where(leases.c.name == lease_name).values(owner=lease_owner, expires_at=expires_at)
    )
    return True


def take_over_lease(
    conn: Connection, name: str, owner: str, seconds: float, previous_owner: str, now: datetime
) -> bool:
    """Give the lease to *owner* if *previous_owner* still holds it: one conditional UPDATE."""
    leases = tables.leases
    result = conn.execute(
        sa.update(leases)
        .where(leases.c.name == key(name), leases.c.owner == key(previous_owner))
        .values(owner=key(owner), expires_at=now + timedelta(seconds=seconds))
    )
    return result.rowcount == 1
