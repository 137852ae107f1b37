"""A batch of commits in a handful of statements: what :func:`~mailtrack.stores._commit.commit_action`
does item by item, done for the whole batch at once inside the caller's transaction.

The reads come first (the ledger's keys and content digests, the Message-IDs, the records
appended to, each one query per 500 keys); the outcome of every item is then decided in order,
exactly as the item-by-item steps would decide it (a pair already in the ledger or earlier in the
batch is ``ALREADY_IMPORTED``; content the interface's ledger holds, or an earlier item of the
batch commits, is a ``DUPLICATE`` of what it became; a Message-ID stored already or earlier in the
batch is a ``DUPLICATE``; field changes follow one another); then the writes: new records,
details, attachments and ledger rows each with one ``executemany``, and one update per record
appended to. The IDs of new rows: on SQLite a range
reserved under the transaction's write lock; on PostgreSQL ``INSERT … RETURNING`` in the order of
the rows; on MariaDB each record and detail is inserted on its own (one statement of many large
details could pass its ``max_allowed_packet``). A batch with an item the plan leaves to the
item-by-item path (an ``AppendToRecord`` whose record is not there: the contract commits the items
before it, then raises; old mail appended to a record: its ``updated_at`` moves only forward) is
given back undecided, before anything is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...models import AppendToRecord, CommitOutcome, CommitResult, CreateRecord, ImportAction, SkipMessage
from .._commit import FieldChanges, field_changes, same_content
from .._common import new_detail, opened_at, stored_attachment
from . import _schema as tables
from ._reads import imported_uids
from ._rows import attachment_values, chunks, detail_values, key, ledger_values, new_id, sha256

__all__ = ["commit_batch"]

Item = tuple[str, str, ImportAction]

#: The details' insert: ``field_changes`` as SQL NULL when a detail changed no field (the rows
#: of one executemany all bind the same columns).
_FIELD_CHANGES = sa.bindparam("field_changes", type_=sa.JSON(none_as_null=True))


#: A record or detail: ``("new", index in this batch's inserts)`` or ``("id", stored ID)``.
Ref = tuple[str, int]
#: An item's outcome with its record and detail, as references.
Planned = tuple[CommitOutcome, Ref | None, Ref | None]


@attrs.define
class _Plan:
    """The decided writes of a batch; record and detail IDs by their index in the lists."""

    new_records: list[dict[str, Any]] = attrs.Factory(list)
    #: (the record, the detail's row without its record_id, the action), in the order written.
    details: list[tuple[Ref, dict[str, Any], AppendToRecord | CreateRecord]] = attrs.Factory(list)
    #: Per item: its outcome, record and detail.
    results: list[Planned] = attrs.Factory(list)
    #: Records appended to: their fields after the batch, and whether they changed.
    touched: dict[int, tuple[dict[str, str], bool]] = attrs.Factory(dict)


def commit_batch(conn: Connection, now: datetime, items: Sequence[Item]) -> list[CommitResult] | None:
    """Commit *items* on *conn* (in the caller's transaction); their results, or ``None`` (with
    nothing written) when an item needs the item-by-item path."""
    plan = _plan(conn, now, items)
    if plan is None:
        return None
    record_ids = _insert_ids(conn, tables.records, plan.new_records)

    def record_of(ref: Ref) -> int:
        return record_ids[ref[1]] if ref[0] == "new" else ref[1]

    detail_rows = [{**row, "record_id": record_of(ref)} for ref, row, _action in plan.details]
    detail_ids = _insert_ids(conn, tables.details, detail_rows)
    attachment_rows = [
        attachment_values(detail_id, position, stored_attachment(attachment, None))
        for detail_id, (_ref, _row, action) in zip(detail_ids, plan.details, strict=True)
        for position, attachment in enumerate(action.message.attachments)
    ]
    if attachment_rows:
        conn.execute(sa.insert(tables.attachments), attachment_rows)
    _update_records(conn, now, plan.touched)
    results: list[CommitResult] = []
    for outcome, record, detail in plan.results:
        results.append(
            CommitResult(
                outcome=outcome,
                record_id=None if record is None else record_of(record),
                detail_id=None
                if detail is None
                else detail_ids[detail[1]]
                if detail[0] == "new"
                else detail[1],
            )
        )
    ledger_rows = [
        ledger_values(interface, uid, result, now, action.digest)
        for (interface, uid, action), result in zip(items, results, strict=True)
        if result.outcome is not CommitOutcome.ALREADY_IMPORTED  # its row is there
    ]
    if ledger_rows:
        conn.execute(sa.insert(tables.ledger), ledger_rows)
    return results


def _plan(conn: Connection, now: datetime, items: Sequence[Item]) -> _Plan | None:
    in_ledger: set[tuple[str, str]] = set()
    for interface in {interface for interface, _uid, _action in items}:
        uids = [uid for name, uid, _action in items if name == interface]
        in_ledger.update((interface, key(uid)) for uid in imported_uids(conn, interface, uids))
    contents = _ledger_contents(conn, items)
    stored = _stored_details(
        conn, [a.message.message_id for _i, _u, a in items if not isinstance(a, SkipMessage)]
    )
    fields = _record_fields(conn, [a.record_id for _i, _u, a in items if isinstance(a, AppendToRecord)])
    plan = _Plan()
    #: Message-ID → (record reference, detail reference) of the details this batch writes.
    written: dict[str, tuple[Ref, Ref]] = {}
    for interface, uid, action in items:
        pair = (interface, key(uid))
        if pair in in_ledger:
            plan.results.append((CommitOutcome.ALREADY_IMPORTED, None, None))
            continue
        in_ledger.add(pair)
        content = None if action.digest is None else (interface, action.digest.sha256)
        if content is not None and content in contents:
            result = contents[content]
        elif isinstance(action, SkipMessage):
            result = (CommitOutcome.SKIPPED, None, None)
        else:
            decided = _decide(plan, now, interface, action, written, stored, fields)
            if decided is None:
                return None  # the contract: the items before it are committed, then it raises
            result = decided
        plan.results.append(result)
        if content is not None:
            # Content this batch commits is content the ledger holds for the items after it.
            contents.setdefault(content, _same_content(result))
    return plan


def _decide(
    plan: _Plan,
    now: datetime,
    interface: str,
    action: AppendToRecord | CreateRecord,
    written: dict[str, tuple[Ref, Ref]],
    stored: dict[str, tuple[int, int]],
    fields: dict[int, dict[str, str]],
) -> Planned | None:
    """The outcome of a message not in the ledger (its detail planned when it is one); ``None``
    when it appends to a record that is not there."""
    message_id = action.message.message_id
    if message_id in written:
        return (CommitOutcome.DUPLICATE, *written[message_id])
    found = stored.get(sha256(message_id))
    if found is not None:
        return (CommitOutcome.DUPLICATE, ("id", found[0]), ("id", found[1]))
    if isinstance(action, AppendToRecord):
        if action.record_id not in fields or action.message.history:
            # A missing record: the contract commits the items before it, then raises. Old mail
            # moves the record's updated_at only forward: the item-by-item steps compare it.
            return None
        changes = _touch(plan, fields, action)
        record, outcome = ("id", action.record_id), CommitOutcome.APPENDED
    else:
        changes = field_changes(action.fields, action.set_fields)
        record, outcome = ("new", len(plan.new_records)), CommitOutcome.CREATED
        plan.new_records.append(_record_row(action, now))
    detail = ("new", len(plan.details))
    row = detail_values(
        new_detail(0, 0, interface, action.message, action.message_class, field_changes=changes)
    )
    row.setdefault("field_changes", None)
    row.setdefault("history", False)  # the column's default, given: every row binds the same columns
    del row["record_id"]
    plan.details.append((record, row, action))
    written[message_id] = (record, detail)
    return (outcome, record, detail)


def _same_content(result: Planned) -> Planned:
    """:func:`~mailtrack.stores._commit.same_content` of a planned result: a ``DUPLICATE`` of
    its detail, or ``SKIPPED`` when it has none."""
    _outcome, record, detail = result
    if detail is None:
        return (CommitOutcome.SKIPPED, None, None)
    return (CommitOutcome.DUPLICATE, record, detail)


def _ledger_contents(conn: Connection, items: Sequence[Item]) -> dict[tuple[str, str], Planned]:
    """``(interface, content SHA-256)`` → what committing that content again gives, for the
    contents of *items* that the interface's ledger holds (any one row of each)."""
    ledger = tables.ledger
    found: dict[tuple[str, str], Planned] = {}
    for interface in {interface for interface, _uid, _action in items}:
        digests = {a.digest.sha256 for name, _u, a in items if name == interface and a.digest is not None}
        for chunk in chunks(sorted(digests)):
            query = sa.select(
                ledger.c.content_sha256, ledger.c.outcome, ledger.c.record_id, ledger.c.detail_id
            ).where(ledger.c.interface == interface, ledger.c.content_sha256.in_(chunk))
            for row in conn.execute(query):
                earlier = same_content(
                    CommitResult(
                        outcome=CommitOutcome(row.outcome), record_id=row.record_id, detail_id=row.detail_id
                    )
                )
                found.setdefault(
                    (interface, row.content_sha256),
                    (
                        earlier.outcome,
                        None if earlier.record_id is None else ("id", earlier.record_id),
                        None if earlier.detail_id is None else ("id", earlier.detail_id),
                    ),
                )
    return found


def _touch(plan: _Plan, fields: dict[int, dict[str, str]], action: AppendToRecord) -> FieldChanges:
    """The field changes of one more detail of an existing record (after the batch's earlier ones)."""
    current, changed = plan.touched.get(action.record_id, (fields[action.record_id], False))
    changes = field_changes(current, action.set_fields)
    if action.set_fields:
        current = {**current, **action.set_fields}
        changed = True
    plan.touched[action.record_id] = (current, changed)
    return changes


def _record_row(action: CreateRecord, now: datetime) -> dict[str, Any]:
    opened = opened_at(action, now)
    return {
        "project": action.project,
        "title": action.title,
        "fields": {**action.fields, **action.set_fields},
        "created_at": opened,
        "updated_at": opened,
        "related_record_id": action.related,
        "history": action.message.history,
    }


def _stored_details(conn: Connection, message_ids: list[str]) -> dict[str, tuple[int, int]]:
    """SHA-256 of a Message-ID → ``(record_id, detail_id)`` of the stored detail that has it."""
    details = tables.details
    found: dict[str, tuple[int, int]] = {}
    for chunk in chunks(sorted({sha256(message_id) for message_id in message_ids})):
        query = sa.select(details.c.message_id_sha256, details.c.record_id, details.c.id).where(
            details.c.message_id_sha256.in_(chunk)
        )
        for row in conn.execute(query):
            found[row.message_id_sha256] = (row.record_id, row.id)
    return found


def _record_fields(conn: Connection, record_ids: list[int]) -> dict[int, dict[str, str]]:
    """The fields of the records appended to, locked until the transaction ends (the old values
    of the changes are the ones replaced)."""
    records = tables.records
    found: dict[int, dict[str, str]] = {}
    for chunk in chunks(sorted(set(record_ids))):
        query = sa.select(records.c.id, records.c.fields).where(records.c.id.in_(chunk)).with_for_update()
        for row in conn.execute(query):
            found[row.id] = dict(row.fields)
    return found


def _insert_ids(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> list[int]:
    """Insert *rows* into *table*; their IDs, in the order of the rows."""
    if not rows:
        return []
    statement = sa.insert(table)
    if table is tables.details:
        statement = statement.values(field_changes=_FIELD_CHANGES)
    if conn.dialect.name == "sqlite":
        # The transaction holds SQLite's write lock since it began: the IDs after the highest
        # are this batch's (SQLite gives a new row the highest ID plus one).
        top = int(conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0)
        ids = list(range(top + 1, top + 1 + len(rows)))
        conn.execute(statement, [{**row, "id": row_id} for row, row_id in zip(rows, ids, strict=True)])
        return ids
    if conn.dialect.name == "postgresql":
        result = conn.execute(statement.returning(table.c.id, sort_by_parameter_order=True), rows)
        return [int(row[0]) for row in result]
    return [new_id(conn.execute(statement, row)) for row in rows]


def _update_records(conn: Connection, now: datetime, touched: dict[int, tuple[dict[str, str], bool]]) -> None:
    """Move ``updated_at`` of the records appended to; write the fields that changed."""
    records = tables.records
    unchanged = sorted(record_id for record_id, (_fields, changed) in touched.items() if not changed)
    for chunk in chunks(unchanged):
        conn.execute(sa.update(records).where(records.c.id.in_(chunk)).values(updated_at=now))
    changed = [
        {"record": record_id, "new_fields": fields}
        for record_id, (fields, was_changed) in touched.items()
        if was_changed
    ]
    if changed:
        conn.execute(
            sa.update(records)
            .where(records.c.id == sa.bindparam("record"))
            .values(updated_at=now, fields=sa.bindparam("new_fields", type_=records.c.fields.type)),
            changed,
        )
