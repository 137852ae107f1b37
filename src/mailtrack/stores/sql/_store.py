"""The public SQL store, :class:`SQLRecordStore`: each method one read or one transaction.

What differs between databases is in :mod:`._dialects`, how transactions run and fail in
:mod:`._transactions`, rows and models in :mod:`._rows`, the writes in :mod:`._writes`, the tables
in :mod:`._schema`. The administrative areas are parts of their own (:mod:`._part`): saved
interfaces, run reports, leases and token caches. Methods without a docstring of their own keep
the contract of :class:`~mailtrack.abc.RecordStore`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ...abc import RecordStore
from ...exceptions import (
    AttachmentNotFoundError,
    ConfigError,
    QuarantineNotFoundError,
    RecordNotFoundError,
    StoreError,
)
from ...models import CommitResult, ContentDigest, ImportAction, QuarantinedMessage, Record
from .._commit import commit_action
from .._common import check_listing, commit_overridden, utc_now
from . import _attempts as attempts
from . import _reads as reads
from . import _schema as tables
from . import _versions as versions
from ._dialects import create_engine
from ._leases import Leases
from ._runs import RunHistory
from ._saved import SavedInterfaces
from ._schema import metadata
from ._tokens import TokenCaches
from ._transactions import LostRace, Transactions, Writing
from ._writes import SQLCommitSteps, in_ledger, keep_quarantined

__all__ = ["SQLRecordStore"]


@attrs.define(init=False, eq=False, repr=False)
class SQLRecordStore(SavedInterfaces, RunHistory, Leases, TokenCaches, RecordStore):
    """A :class:`~mailtrack.RecordStore` in an SQL database, on SQLAlchemy Core.

    Tested on SQLite (a file, or in memory), PostgreSQL (psycopg 3) and MariaDB (PyMySQL).
    Several processes, on one machine or many, may share one database: the ledger's unique key
    keeps every message to one commit, and leases keep each mailbox to one worker at a time.

    On MariaDB/MySQL, the server's ``max_allowed_packet`` (16 MiB by default) must be larger
    than the largest message to import (``MailInterface.max_message_bytes``); a larger message
    cannot be stored: :class:`~mailtrack.MessageRefusedError`, and the importer leaves it on
    the mail server and names it in every run's report.

    Args:
        url_or_engine: A database URL (``"sqlite:///mailtrack.db"``,
            ``"postgresql+psycopg://user@host/db"``, ``"mysql+pymysql://user@host/db"``) or the
            caller's own :class:`~sqlalchemy.engine.Engine`. A URL makes an engine that
            :meth:`close` disposes of; a given engine is used as is and never disposed of.
            For a SQLite file the store's own engine uses WAL mode and waits up to 30 s for
            another process's transaction.
        create_schema: Create the newest schema in an empty database (see
            :meth:`create_schema`). Pass False when the schema is made by an upgrade step of
            your own (:func:`~mailtrack.stores.sql.upgrade`, your Alembic environment); the
            store then only checks it.
        engine_options: Extra keyword arguments for :func:`sqlalchemy.create_engine` (only
            with a URL).
        clock: Returns the current time (timezone-aware); for record times, quarantine times
            and lease expiry. Workers sharing a store must have synchronised clocks (NTP).

    Raises:
        StoreError: the URL is malformed, its driver is not installed, or the database
            cannot be reached.
        SchemaVersionError: the database's schema is not the one this mailtrack needs: older
            (back up, then ``mailtrack db upgrade``), newer or unknown, or without a recorded
            version (``mailtrack db stamp``).
    """

    #: The tables of the store, for a host application's migrations (Alembic ``target_metadata``).
    metadata = metadata

    _engine: Engine
    _owns_engine: bool
    _clock: Callable[[], datetime]
    _db: Transactions

    def __init__(
        self,
        url_or_engine: str | sa.URL | Engine,
        *,
        create_schema: bool = True,
        engine_options: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if isinstance(url_or_engine, Engine):
            if engine_options:
                raise ConfigError("engine_options: only allowed with a URL, not with an Engine")
            engine, owns = url_or_engine, False
        else:
            engine, owns = create_engine(url_or_engine, dict(engine_options or {})), True
        self.__attrs_init__(engine=engine, owns_engine=owns, clock=clock, db=Transactions(engine))
        try:
            if create_schema:
                self.create_schema()
            else:
                self.check_schema_version()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"SQLRecordStore({self._engine.url.render_as_string(hide_password=True)!r})"

    @property
    def engine(self) -> Engine:
        """The engine the store uses (the caller's, or the one made from the URL)."""
        return self._engine

    @property
    def max_connections(self) -> int | None:
        """Connections the engine's pool hands out at once, or ``None`` for no limit.

        The store's own engine has room for :data:`POOL_CONNECTIONS`; an engine of your own,
        for what its pool was given.
        """
        return self._db.connections()

    def close(self) -> None:
        """Dispose of the engine if the store made it from a URL; a caller's engine stays open."""
        if self._owns_engine:
            self._engine.dispose()

    # -- schema --------------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the newest schema in an empty database; check the schema of any other.

        Safe to call again, and from several processes at once (they take turns under a lock).
        A database at an older revision is refused, never changed: upgrading it is a step of
        its own (back up first, then ``mailtrack db upgrade`` or
        :func:`mailtrack.stores.sql.upgrade`).

        Raises:
            SchemaVersionError: the database holds an older schema, a newer or unknown one, or
                mailtrack tables that record no version (``mailtrack db stamp``).
            StoreError: the tables could not be created.
        """
        with self._db.reading("check the schema version") as conn:
            state = versions.read_state(conn)
        if state.revision == versions.head() and not state.legacy:
            return
        if state.revision is not None:
            versions.require_head(state)  # older, newer: refused without waiting for the lock
        # Empty, or tables without a version (which may be another process creating them right
        # now: MariaDB commits each CREATE TABLE on its own): decide under the lock.
        with self._db.changing_schema("create the mailtrack tables") as conn:
            state = versions.read_state(conn)  # another process may have been first
            if state.empty:
                versions.create_head(conn)
            elif state.legacy and state.revision == versions.head():
                versions.write_revision(conn, versions.head())
            else:
                versions.require_head(state)

    def check_schema_version(self) -> None:
        """Check that the tables exist and are at the schema revision this mailtrack needs.

        Raises:
            SchemaVersionError: the schema is older (run ``mailtrack db upgrade``), newer or
                unknown, or the tables record no version (``mailtrack db stamp``).
            StoreError: the tables do not exist (call :meth:`create_schema`).
        """
        with self._db.reading("check the schema version") as conn:
            state = versions.read_state(conn)
        if state.empty:
            raise StoreError(
                "the mailtrack tables do not exist in this database: create them with "
                "SQLRecordStore(create_schema=True), `mailtrack db upgrade` or "
                "mailtrack.stores.sql.upgrade(engine)"
            )
        versions.require_head(state)

    # -- import --------------------------------------------------------------------------------

    def commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
        """Apply *action* and write the ledger row ``(interface, uid)`` in one transaction.

        Two processes committing the same pair (or the same Message-ID) at once give one
        record: the loser's transaction hits the unique key, is rolled back and read again, and
        returns ``ALREADY_IMPORTED`` (or ``DUPLICATE``). See
        :meth:`mailtrack.abc.RecordStore.commit` for the outcomes.

        Raises:
            RecordNotFoundError: an ``AppendToRecord`` names a record that does not exist
                (nothing is written).
            MessageRefusedError: the database refused the message for its size (see
                :class:`~mailtrack.MessageRefusedError`); nothing is written.
            StoreError: the transaction failed and was rolled back.
        """
        return self._db.run(
            f"commit message {uid!r} of {interface!r}",
            lambda conn: self._commit(conn, interface, uid, action),
            Writing(interface=interface, uid=uid, payload=action),
        )

    def commit_many(self, items: Sequence[tuple[str, str, ImportAction]]) -> list[CommitResult]:
        """Commit several ``(interface, uid, action)`` items in one transaction.

        When an ``AppendToRecord`` names a missing record, the items before it are committed
        and then :class:`~mailtrack.RecordNotFoundError` is raised (the later items are not
        committed). When a concurrent process wins a race on one item, the batch is rolled
        back and committed again item by item. When the database refuses one item for its
        size, the batch is rolled back and :class:`~mailtrack.MessageRefusedError` names it.
        A subclass that overrides only :meth:`commit` gets it called for each item instead.
        """
        if commit_overridden(self, SQLRecordStore):
            return super().commit_many(items)
        items = list(items)
        if not items:
            return []
        failure: list[RecordNotFoundError] = []
        writing = Writing(interface=items[0][0], uid=items[0][1], payload=items[0][2])

        def work(conn: Connection) -> list[CommitResult]:
            results: list[CommitResult] = []
            for interface, uid, action in items:
                writing.interface, writing.uid, writing.payload = interface, uid, action
                try:
                    # A missing record is found before the item writes anything.
                    results.append(self._commit(conn, interface, uid, action))
                except RecordNotFoundError as exc:
                    failure.append(exc)
                    break
            return results

        try:
            results = self._db.once(f"commit {len(items)} messages", work, writing)
        except LostRace:
            results = []
            for interface, uid, action in items:
                try:
                    results.append(self.commit(interface, uid, action))
                except RecordNotFoundError as exc:
                    failure.append(exc)
                    break
        if failure:
            raise failure[-1]
        return results

    def _commit(self, conn: Connection, interface: str, uid: str, action: ImportAction) -> CommitResult:
        return commit_action(SQLCommitSteps(conn, self._now()), interface, uid, action)

    def is_imported(self, interface: str, uid: str) -> bool:
        with self._db.reading("read the ledger") as conn:
            return in_ledger(conn, interface, uid)

    def imported_uids(self, interface: str, uids: Iterable[str]) -> set[str]:
        """The subset of *uids* the ledger holds for *interface* (one query per 500 UIDs)."""
        with self._db.reading("read the ledger") as conn:
            return reads.imported_uids(conn, interface, uids)

    def ledger_digests(self, interface: str, uids: Iterable[str]) -> dict[str, ContentDigest]:
        """The digests the ledger keeps for those of *uids* it holds with one (one query per
        500 UIDs); rows written before revision 0002 have none."""
        with self._db.reading("read the ledger") as conn:
            return reads.ledger_digests(conn, interface, uids)

    def conversion_attempts(self, interface: str, uids: Iterable[str]) -> dict[str, int]:
        """The attempt counts of *uids* that have any (one query per 500 UIDs)."""
        with self._db.reading("read the conversion attempts") as conn:
            return attempts.counts(conn, interface, uids)

    def add_conversion_attempts(self, interface: str, uids: Sequence[str]) -> None:
        now = self._now()
        self._db.run("count conversion attempts", lambda conn: attempts.add(conn, interface, uids, now))

    def clear_conversion_attempts(self, interface: str, uids: Sequence[str]) -> None:
        self._db.run("clear conversion attempts", lambda conn: attempts.clear(conn, interface, uids))

    # -- records -------------------------------------------------------------------------------

    def get_record(self, record_id: int, *, load_content: bool = True) -> Record:
        """The record with its details (oldest first) and their attachments, in three queries.

        Raises:
            RecordNotFoundError: no record has that ID.
        """
        with self._db.reading(f"read record #{record_id}") as conn:
            return reads.record(conn, record_id, load_content=load_content)

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
        """Records (of *project*, or all), with details, paged by *limit*/*offset* (see the ABC
        for *updated_since* and *order*).

        Three queries per page (records, their details, their attachments' metadata) however
        many records there are; attachment content is read only with ``load_content=True``.
        """
        since = check_listing(limit, offset, order, updated_since)
        with self._db.reading("list records") as conn:
            return reads.records(
                conn,
                project,
                limit=limit,
                offset=offset,
                load_content=load_content,
                updated_since=since,
                order=order,
            )

    def has_record(self, record_id: int, project: str | None = None) -> bool:
        with self._db.reading(f"read record #{record_id}") as conn:
            return reads.has_record(conn, record_id, project)

    def next_record_ids(self, count: int) -> range | None:
        """Under SQLite a new record's ID is one more than the highest ID in the table, so the
        IDs are known ahead. PostgreSQL and MariaDB/MySQL draw IDs from counters that may skip
        numbers: ``None``."""
        dialect = self._db.dialect
        if not dialect.record_ids_known_ahead:
            return None
        with self._db.reading("read the highest record ID") as conn:
            return dialect.next_record_ids(conn, count)

    def find_record_by_message_id(self, message_id: str) -> Record | None:
        with self._db.reading("find a record by Message-ID") as conn:
            record_id = reads.record_id_holding(conn, message_id)
        if record_id is None:
            return None
        try:
            return self.get_record(record_id)
        except RecordNotFoundError:  # deleted in between
            return None

    def record_ids_by_message_ids(self, message_ids: Sequence[str]) -> dict[str, int]:
        if not message_ids:
            return {}
        with self._db.reading("find records by Message-ID") as conn:
            return reads.record_ids_holding(conn, message_ids)

    def record_participants(self, record_id: int) -> set[str]:
        with self._db.reading(f"read record #{record_id}") as conn:
            return reads.record_participants(conn, record_id)

    def get_attachment_content(self, attachment_id: int) -> bytes:
        with self._db.reading(f"read attachment {attachment_id}") as conn:
            content = reads.attachment_content(conn, attachment_id)
        if content is None:
            raise AttachmentNotFoundError(attachment_id)
        return content

    # -- quarantine ----------------------------------------------------------------------------

    def quarantine(self, interface: str, uid: str, raw: bytes, error: str) -> QuarantinedMessage:
        """Keep a message that could not be imported, with its raw bytes and the reason.

        Quarantining the same ``(interface, uid)`` again replaces the raw bytes and the error
        and counts one more attempt.

        Raises:
            MessageRefusedError: the database refused the raw bytes for their size (see
                :class:`~mailtrack.MessageRefusedError`); nothing is written.
            StoreError: the transaction failed and was rolled back.
        """
        raw = bytes(raw)
        quarantine_id = self._db.run(
            f"quarantine message {uid!r} of {interface!r}",
            lambda conn: keep_quarantined(conn, interface, uid, raw, error, self._now()),
            Writing(interface=interface, uid=uid, payload=raw),
        )
        return self.get_quarantined(quarantine_id)

    def is_quarantined(self, interface: str, uid: str) -> bool:
        with self._db.reading("read the quarantine") as conn:
            return reads.is_quarantined(conn, interface, uid)

    def list_quarantined(self, interface: str | None = None) -> list[QuarantinedMessage]:
        with self._db.reading("read the quarantine") as conn:
            return reads.quarantined_messages(conn, interface=interface)

    def get_quarantined(self, quarantine_id: int) -> QuarantinedMessage:
        with self._db.reading("read the quarantine") as conn:
            found = reads.quarantined_messages(conn, quarantine_id=quarantine_id)
        if not found:
            raise QuarantineNotFoundError(quarantine_id)
        return found[0]

    def release_quarantined(self, quarantine_id: int) -> None:
        table = tables.quarantine
        if not self._db.delete("release a quarantined message", table, table.c.id == quarantine_id):
            raise QuarantineNotFoundError(quarantine_id)
