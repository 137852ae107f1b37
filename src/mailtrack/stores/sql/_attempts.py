"""The SQL store's count of conversion attempts that never finished (the crash-loop guard)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import _schema as tables
from ._rows import chunks, key, rows_by_uid

__all__ = ["add", "clear", "counts"]


def counts(conn: Connection, interface: str, uids: Iterable[str]) -> dict[str, int]:
    """The attempt counts of *uids* that have a row."""
    table = tables.attempts
    return {uid: row.attempts for uid, row in rows_by_uid(conn, table, interface, uids, table.c.attempts)}


def add(conn: Connection, interface: str, uids: Sequence[str], now: datetime) -> None:
    """One more attempt for each of *uids*: an UPDATE for those counted before, an INSERT for the
    rest (the mailbox's lease keeps other workers from counting the same UIDs meanwhile)."""
    table = tables.attempts
    keys = list(dict.fromkeys(key(uid) for uid in uids))
    for chunk in chunks(keys):
        where = sa.and_(table.c.interface == interface, table.c.uid.in_(chunk))
        conn.execute(sa.update(table).where(where).values(attempts=table.c.attempts + 1, attempted_at=now))
        counted = {row.uid for row in conn.execute(sa.select(table.c.uid).where(where))}
        new = [
            {"interface": interface, "uid": uid, "attempts": 1, "attempted_at": now}
            for uid in chunk
            if uid not in counted
        ]
        if new:
            conn.execute(sa.insert(table), new)


def clear(conn: Connection, interface: str, uids: Sequence[str]) -> None:
    table = tables.attempts
    for chunk in chunks(list(dict.fromkeys(key(uid) for uid in uids))):
        conn.execute(sa.delete(table).where(table.c.interface == interface, table.c.uid.in_(chunk)))
