"""The SQL store's queries, each on a connection the caller opened for reading."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...exceptions import RecordNotFoundError
from ...models import ContentDigest, Lease, QuarantinedMessage, Record, RunReport
from .._common import as_utc
from . import _schema as tables
from ._rows import chunks, key, load_records, participants, quarantined, rows_by_uid, run_report, sha256

__all__ = [
    "attachment_content",
    "has_record",
    "imported_uids",
    "interface_rows",
    "is_quarantined",
    "quarantined_uids",
    "last_run",
    "last_runs",
    "lease_holder",
    "quarantined_messages",
    "record",
    "record_id_holding",
    "record_participants",
    "records",
    "saved_config",
]


def imported_uids(conn: Connection, interface: str, uids: Iterable[str]) -> set[str]:
    """The subset of *uids* the ledger holds for *interface* (one query per 500 UIDs)."""
    return {uid for uid, _row in rows_by_uid(conn, tables.ledger, interface, uids)}


def ledger_digests(conn: Connection, interface: str, uids: Iterable[str]) -> dict[str, ContentDigest]:
    """The digests the ledger keeps for those of *uids* of *interface* it holds with one."""
    ledger = tables.ledger
    found: dict[str, ContentDigest] = {}
    columns = (ledger.c.content_sha256, ledger.c.listed_size)
    where = (ledger.c.content_sha256.is_not(None),)
    for uid, row in rows_by_uid(conn, ledger, interface, uids, *columns, where=where):
        size = None if row.listed_size is None else int(row.listed_size)
        found[uid] = ContentDigest(sha256=row.content_sha256, listed_size=size)
    return found


def record(conn: Connection, record_id: int, *, load_content: bool) -> Record:
    """Raises RecordNotFoundError for a missing record."""
    rows = conn.execute(sa.select(tables.records).where(tables.records.c.id == record_id)).all()
    if not rows:
        raise RecordNotFoundError(record_id)
    return load_records(conn, rows, load_content=load_content)[0]


def records(
    conn: Connection,
    project: str | None,
    *,
    limit: int | None,
    offset: int,
    load_content: bool,
    updated_since: datetime | None = None,
    order: str = "id",
) -> list[Record]:
    """A page of records (of *project*, or all, updated at or after *updated_since*), newest ID
    first or (``order="updated"``) most recently updated first."""
    table = tables.records
    ordering = (table.c.updated_at.desc(), table.c.id.desc()) if order == "updated" else (table.c.id.desc(),)
    query = sa.select(table).order_by(*ordering).offset(offset).limit(limit)
    if project is not None:
        query = query.where(table.c.project == project)
    if updated_since is not None:
        query = query.where(table.c.updated_at >= updated_since)
    return load_records(conn, conn.execute(query).all(), load_content=load_content)


#: Whether a record exists, and whether it is one of a project's: built once (the importer asks
#: for every message whose subject names a record), so that a lookup neither builds the
#: statement nor computes its cache key again.
_RECORD_EXISTS = sa.select(tables.records.c.id).where(tables.records.c.id == sa.bindparam("record_id"))
_RECORD_OF_PROJECT = _RECORD_EXISTS.where(tables.records.c.project == sa.bindparam("project"))


def has_record(conn: Connection, record_id: int, project: str | None) -> bool:
    if project is None:
        return conn.execute(_RECORD_EXISTS, {"record_id": record_id}).first() is not None
    found = conn.execute(_RECORD_OF_PROJECT, {"record_id": record_id, "project": project})
    return found.first() is not None


def record_id_holding(conn: Connection, message_id: str) -> int | None:
    """The record holding the detail with this Message-ID."""
    details = tables.details
    query = sa.select(details.c.record_id).where(details.c.message_id_sha256 == sha256(message_id))
    found = conn.execute(query).scalar_one_or_none()
    return None if found is None else int(found)


#: The details holding any of some Message-IDs (by their digests), built once: the importer asks
#: for every message that has In-Reply-To or References.
_DETAILS_HOLDING = sa.select(
    tables.details.c.message_id_sha256, tables.details.c.message_id, tables.details.c.record_id
).where(tables.details.c.message_id_sha256.in_(sa.bindparam("digests", expanding=True)))


def record_ids_holding(conn: Connection, message_ids: Iterable[str]) -> dict[str, int]:
    """Message-ID → the record holding its detail, for those found (by the indexed digest)."""
    by_digest = {sha256(message_id): message_id for message_id in message_ids}
    found: dict[str, int] = {}
    for chunk in chunks(list(by_digest)):
        for digest, message_id, record_id in conn.execute(_DETAILS_HOLDING, {"digests": chunk}):
            wanted = by_digest.get(digest)
            if wanted is not None and wanted == message_id:
                found[wanted] = int(record_id)
    return found


#: The addresses of a record's details, built once (asked for each message appending to a
#: record under ``sender_policy='participants'``).
_DETAIL_ADDRESSES = sa.select(
    tables.details.c.sender, tables.details.c.to_addresses, tables.details.c.cc_addresses
).where(tables.details.c.record_id == sa.bindparam("record_id"))


def record_participants(conn: Connection, record_id: int) -> set[str]:
    """Raises RecordNotFoundError for a missing record."""
    if not has_record(conn, record_id, None):
        raise RecordNotFoundError(record_id)
    return participants(conn.execute(_DETAIL_ADDRESSES, {"record_id": record_id}).all())


def attachment_content(conn: Connection, attachment_id: int) -> bytes | None:
    table = tables.attachments
    query = sa.select(table.c.content).where(table.c.id == attachment_id)
    content = conn.execute(query).scalar_one_or_none()
    return None if content is None else bytes(content)


def quarantined_uids(conn: Connection, interface: str, uids: Iterable[str]) -> set[str]:
    """The subset of *uids* the quarantine holds for *interface* (one query per 500 UIDs)."""
    return {uid for uid, _row in rows_by_uid(conn, tables.quarantine, interface, uids)}


def is_quarantined(conn: Connection, interface: str, uid: str) -> bool:
    table = tables.quarantine
    query = sa.select(table.c.id).where(table.c.interface == interface, table.c.uid == key(uid))
    return conn.execute(query).first() is not None


def quarantined_messages(
    conn: Connection, *, interface: str | None = None, quarantine_id: int | None = None
) -> list[QuarantinedMessage]:
    """Quarantined messages (of *interface*, or the one *quarantine_id*), oldest first."""
    table = tables.quarantine
    query = sa.select(table).order_by(table.c.id)
    if interface is not None:
        query = query.where(table.c.interface == interface)
    if quarantine_id is not None:
        query = query.where(table.c.id == quarantine_id)
    return [quarantined(row) for row in conn.execute(query)]


def saved_config(conn: Connection, name: str) -> Any:
    """The saved configuration of interface *name*, or ``None``."""
    table = tables.interfaces
    return conn.execute(sa.select(table.c.config).where(table.c.name == name)).scalar_one_or_none()


def interface_rows(conn: Connection) -> list[Any]:
    """``(name, config)`` of every saved interface, by name (sorted here: database collations
    order names differently)."""
    table = tables.interfaces
    rows = conn.execute(sa.select(table.c.name, table.c.config)).all()
    return sorted(rows, key=lambda row: str(row.name))


def last_run(conn: Connection, name: str) -> RunReport | None:
    runs = tables.runs
    query = sa.select(runs).where(runs.c.interface == name).order_by(runs.c.id.desc()).limit(1)
    row = conn.execute(query).first()
    return None if row is None else run_report(row)


def last_runs(conn: Connection) -> dict[str, RunReport]:
    runs = tables.runs
    newest = sa.select(sa.func.max(runs.c.id)).group_by(runs.c.interface).scalar_subquery()
    rows = conn.execute(sa.select(runs).where(runs.c.id.in_(newest))).all()
    return {row.interface: run_report(row) for row in sorted(rows, key=lambda row: str(row.interface))}


def lease_holder(conn: Connection, name: str, now: Any) -> Lease | None:
    leases = tables.leases
    query = sa.select(leases.c.owner, leases.c.expires_at).where(leases.c.name == key(name))
    row = conn.execute(query).first()
    if row is None or row.expires_at <= as_utc(now):
        return None
    return Lease(interface=name, owner=row.owner, expires_at=row.expires_at)
