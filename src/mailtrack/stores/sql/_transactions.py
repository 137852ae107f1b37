"""The transaction runner of the SQL store: reads, write transactions tried again after a lost
race, and the refusal of a message too large for the database.

Every error leaves as a :class:`~mailtrack.StoreError` in the driver's own words, without SQL text
or parameters (which may hold secrets); a statement the database refused for the size of the
message it was writing (and only then) as :class:`~mailtrack.MessageRefusedError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import attrs
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from ...exceptions import MessageRefusedError, StoreError
from ...models import ImportAction, SkipMessage
from ._dialects import Dialect, dialect_for

__all__ = ["LostRace", "Transactions", "Writing", "reason"]

T = TypeVar("T")

#: How often a transaction is tried again after losing a race (a unique key taken by a
#: concurrent writer, a deadlock, a busy SQLite file) before the error is raised.
ATTEMPTS = 8


class LostRace(Exception):
    """A transaction tried once (:meth:`Transactions.once`) lost a race with another writer."""


@attrs.define
class Writing:
    """The message a write transaction is storing, for telling a refusal of its size."""

    interface: str
    uid: str
    #: The raw bytes (quarantine) or the action (commit).
    payload: bytes | ImportAction

    def size(self) -> int:
        """The message's size in bytes (the raw size, or what its values add up to)."""
        payload = self.payload
        if isinstance(payload, bytes):
            return len(payload)
        if isinstance(payload, SkipMessage):
            return 0
        message = payload.message
        if message.size:
            return message.size
        texts = (message.headers, message.text, message.html or "", message.subject)
        return sum(len(text.encode("utf-8", "surrogatepass")) for text in texts) + sum(
            attachment.size for attachment in message.attachments
        )


def reason(exc: BaseException) -> str:
    """The driver's own words, without SQL text or parameters (which may hold secrets)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        text = str(exc.orig).strip()
    elif isinstance(exc, sa_exc.SQLAlchemyError):
        text = str(exc).split("\n[SQL:", 1)[0].strip()
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__


class Transactions:
    """Runs the store's reads and write transactions on *engine*."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect: Dialect = dialect_for(engine.url)
        # An in-memory SQLite database is one connection: threads must take turns on it.
        self.serial = self.dialect.serial()

    @contextmanager
    def changing_schema(self, what: str) -> Iterator[Connection]:
        """A connection in a transaction that holds the schema lock (see
        :meth:`~._dialects.Dialect.schema_lock`); database errors as StoreError ("cannot *what*: …")."""
        try:
            with self.serial, self.engine.connect() as conn, self.dialect.schema_lock(conn):
                yield conn
        except sa_exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot {what}: {reason(exc)}") from exc

    def connections(self) -> int | None:
        """Connections the engine's pool hands out at once, or ``None`` for no limit."""
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):
            return None
        overflow = int(getattr(pool, "_max_overflow", 0))
        return None if overflow < 0 else pool.size() + overflow

    def delete(self, what: str, table: sa.Table, condition: sa.ColumnElement[bool]) -> int:
        """Delete the rows of *table* that meet *condition*, in a transaction of its own; how many."""
        return self.run(what, lambda conn: conn.execute(sa.delete(table).where(condition)).rowcount)

    @contextmanager
    def reading(self, what: str) -> Iterator[Connection]:
        """A connection to read with; errors as StoreError ("cannot *what*: …")."""
        try:
            with self.serial, self.engine.connect() as conn:
                yield conn
        except sa_exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot {what}: {reason(exc)}") from exc

    def run(self, what: str, work: Callable[[Connection], T], writing: Writing | None = None) -> T:
        """Run *work* in one write transaction, again after a lost race; errors as StoreError.

        Args:
            writing: the message *work* stores, if any: a refusal of its size raises
                MessageRefusedError.
        """
        last: sa_exc.DBAPIError | None = None
        for attempt in range(ATTEMPTS):
            try:
                return self._attempt(work)
            except sa_exc.DBAPIError as exc:
                if not self.dialect.transient(exc):
                    raise self._failed(what, exc, writing) from exc
                last = exc
                if not isinstance(exc, sa_exc.IntegrityError):
                    time.sleep(min(0.01 * 2**attempt, 0.5))
            except sa_exc.SQLAlchemyError as exc:
                raise StoreError(f"cannot {what}: {reason(exc)}") from exc
        assert last is not None
        raise StoreError(f"cannot {what}: gave up after {ATTEMPTS} attempts: {reason(last)}") from last

    def once(self, what: str, work: Callable[[Connection], T], writing: Writing | None = None) -> T:
        """Run *work* in one write transaction, once.

        Raises:
            LostRace: it lost a race with another writer (the caller decides what then).
            StoreError: it failed otherwise.
        """
        try:
            return self._attempt(work)
        except sa_exc.DBAPIError as exc:
            if self.dialect.transient(exc):
                raise LostRace from exc
            raise self._failed(what, exc, writing) from exc
        except sa_exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot {what}: {reason(exc)}") from exc

    def _attempt(self, work: Callable[[Connection], T]) -> T:
        """Run *work* in one write transaction, once; SQLAlchemy's errors pass through."""
        with self.serial, self.engine.connect() as conn:
            try:
                self.dialect.before_transaction(conn)
                with conn.begin():
                    self.dialect.at_transaction_start(conn)
                    return work(conn)
            except sa_exc.DBAPIError as exc:
                self.dialect.after_failure(conn, exc)
                raise

    def _failed(self, what: str, exc: sa_exc.DBAPIError, writing: Writing | None) -> StoreError:
        """MessageRefusedError when the database refused the message being written for its size
        (and works otherwise), StoreError else."""
        if writing is not None:
            size = writing.size()
            refusal = self.dialect.refusal(exc, size, self.engine)
            if refusal is not None:
                return MessageRefusedError(
                    f"the database refused message {writing.uid!r} of {writing.interface!r} "
                    f"({size} bytes): {refusal} (the database said: {reason(exc)})"
                )
        return StoreError(f"cannot {what}: {reason(exc)}")
