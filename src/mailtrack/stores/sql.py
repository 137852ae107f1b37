"""The SQL record store: SQLAlchemy Core 2 on SQLite, PostgreSQL and MariaDB/MySQL.

Install it with ``pip install 'mailtrack[sql]'`` (add ``postgresql`` for psycopg 3 or ``mysql``
for PyMySQL). The tables are plain SQLAlchemy Core tables in :data:`metadata`, every name
starting with ``mailtrack_``, so a host application can create them with its own Alembic
migrations and hand its own :class:`~sqlalchemy.engine.Engine` to :class:`SQLRecordStore`.

Saved mail interfaces are stored *with their password* (``Importer.run_all`` needs it to log
in): protect the database like the mailboxes themselves, or keep passwords out of the store
with ``password_env`` / ``password_file``.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import attrs
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.pool import QueuePool, StaticPool

from .. import _serde
from ..abc import RecordStore
from ..config import MailInterface
from ..exceptions import (
    ConfigError,
    InterfaceNotFoundError,
    MessageRefusedError,
    QuarantineNotFoundError,
    RecordNotFoundError,
    SchemaVersionError,
    StoreError,
)
from ..models import (
    AppendToRecord,
    Attachment,
    CommitOutcome,
    CommitResult,
    CreateRecord,
    Detail,
    EmailAddress,
    ImportAction,
    IncomingMessage,
    Lease,
    MessageClass,
    QuarantinedMessage,
    Record,
    RunReport,
    SkipMessage,
)
from . import _sql_schema as tables
from ._common import AttachmentNotFoundError, as_utc, commit_overridden, utc_now
from ._sql_schema import KEY_LENGTH, SCHEMA_VERSION, metadata

__all__ = ["SCHEMA_VERSION", "SQLRecordStore", "metadata"]

T = TypeVar("T")

#: How often a transaction is tried again after losing a race (a unique key taken by a
#: concurrent writer, a deadlock, a busy SQLite file) before the error is raised.
_ATTEMPTS = 8
#: Connections the pool of the store's own engine hands out at once (5 kept open, the rest opened
#: when needed and closed when given back): one per run of Importer.run_all, which holds one at a
#: time. SQLAlchemy's default (15) would make the 16th parallel run wait for a connection.
POOL_CONNECTIONS = 64
_POOL_KEPT = 5
#: IN lists are cut into chunks of this many values (SQLite allows 32766 parameters).
_CHUNK = 500
#: PostgreSQL SQLSTATEs and MariaDB error numbers that mean "try the transaction again".
_PG_RETRY = {"40001", "40P01", "55P03"}
_MYSQL_RETRY = {1205, 1213}
#: MariaDB/MySQL errors that say a statement was larger than ``max_allowed_packet``; and the
#: errors of a lost connection, which is what the client mostly sees instead (the server drops
#: the connection while the statement is still being sent).
_MYSQL_TOO_BIG = {1153, 1301}
_MYSQL_LOST = {2006, 2013}


class _Retry(Exception):
    """Internal: the transaction lost a race and is tried again."""


@attrs.define
class _Writing:
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


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _key(value: str) -> str:
    """A value fit for a 255-character key column (longer ones become a digest)."""
    return value if len(value) <= KEY_LENGTH else "sha256:" + _sha256(value)


def _address_data(address: EmailAddress | None) -> list[str] | None:
    return None if address is None else [address.address, address.name]


def _address(data: Any) -> EmailAddress | None:
    if not data:
        return None
    return EmailAddress(address=data[0], name=data[1])


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _is_sqlite_memory(url: sa.URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in {None, "", ":memory:"}


def _on_sqlite_file_connect(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers go on while one process writes; busy_timeout makes a writer wait for
    # another process's transaction instead of failing at once.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _create_engine(url: str | sa.URL, options: Mapping[str, Any]) -> Engine:
    try:
        parsed = sa.make_url(url)
    except sa_exc.ArgumentError as exc:
        raise StoreError(f"not a database URL: {exc}") from exc
    kwargs: dict[str, Any] = {"hide_parameters": True}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if _is_sqlite_memory(parsed):
            # One connection for every thread, or each would see its own empty database.
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            kwargs.update(connect_args={"timeout": 30.0})
    else:
        kwargs["pool_pre_ping"] = True
    if not _is_sqlite_memory(parsed) and "poolclass" not in options:
        kwargs.update(pool_size=_POOL_KEPT, max_overflow=POOL_CONNECTIONS - _POOL_KEPT)
    kwargs.update(options)
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ImportError, sa_exc.NoSuchModuleError) as exc:
        extra = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}.get(backend, "sql")
        raise StoreError(
            f"no database driver for {parsed.drivername!r}: pip install 'mailtrack[{extra}]'"
        ) from exc
    except sa_exc.ArgumentError as exc:
        raise StoreError(f"cannot use database URL: {exc}") from exc
    if backend == "sqlite" and not _is_sqlite_memory(parsed):
        sa.event.listen(engine, "connect", _on_sqlite_file_connect)
    return engine


def _reason(exc: BaseException) -> str:
    """The driver's own words, without SQL text or parameters (which may hold secrets)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        text = str(exc.orig).strip()
    elif isinstance(exc, sa_exc.SQLAlchemyError):
        text = str(exc).split("\n[SQL:", 1)[0].strip()
    else:
        text = str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _mysql_code(exc: sa_exc.DBAPIError) -> object:
    args: tuple[Any, ...] = getattr(exc.orig, "args", ())
    return args[0] if args else None


@attrs.define(init=False, eq=False, repr=False)
class SQLRecordStore(RecordStore):
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
        create_schema: Create the tables (when missing) and record the schema version at once.
            Pass False when the host application's migrations create the tables.
        engine_options: Extra keyword arguments for :func:`sqlalchemy.create_engine` (only
            with a URL).
        clock: Returns the current time (timezone-aware); for record times, quarantine times
            and lease expiry. Workers sharing a store must have synchronised clocks (NTP).

    Raises:
        StoreError: the URL is malformed, its driver is not installed, or the database
            cannot be reached.
        SchemaVersionError: the database was written by an unknown or newer mailtrack.
    """

    #: The tables of the store, for a host application's migrations (Alembic ``target_metadata``).
    metadata = metadata

    _engine: Engine
    _owns_engine: bool
    _clock: Callable[[], datetime]
    _dialect: str
    _serial: contextlib.AbstractContextManager[Any]

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
            engine, owns = _create_engine(url_or_engine, engine_options or {}), True
        # An in-memory SQLite database is one connection: threads must take turns on it.
        serial = threading.RLock() if _is_sqlite_memory(engine.url) else contextlib.nullcontext()
        self.__attrs_init__(
            engine=engine, owns_engine=owns, clock=clock, dialect=engine.dialect.name, serial=serial
        )
        try:
            if create_schema:
                self.create_schema()
            else:
                self.check_schema_version()
        except BaseException:
            self.close()
            raise

    @property
    def max_connections(self) -> int | None:
        """Connections the engine's pool hands out at once, or ``None`` for no limit.

        :meth:`mailtrack.Importer.run_all` polls at most this many mailboxes at once (each
        run uses one connection at a time). The store's own engine has room for
        :data:`POOL_CONNECTIONS`; an engine of your own, for what its pool was given.
        """
        pool = self._engine.pool
        if not isinstance(pool, QueuePool):
            return None
        overflow = int(getattr(pool, "_max_overflow", 0))
        return None if overflow < 0 else pool.size() + overflow

    def __repr__(self) -> str:
        return f"SQLRecordStore({self._engine.url.render_as_string(hide_password=True)!r})"

    @property
    def engine(self) -> Engine:
        """The engine the store uses (the caller's, or the one made from the URL)."""
        return self._engine

    def close(self) -> None:
        """Dispose of the engine if the store made it from a URL; a caller's engine stays open."""
        if self._owns_engine:
            self._engine.dispose()

    # -- schema --------------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the missing tables and record the schema version; safe to call again.

        Raises:
            SchemaVersionError: the database records another schema version.
            StoreError: the tables could not be created.
        """
        for attempt in range(3):
            try:
                with self._serial:
                    metadata.create_all(self._engine, checkfirst=True)
                break
            except sa_exc.SQLAlchemyError as exc:
                # Another process may be creating the same tables right now: look again.
                if attempt == 2:
                    raise StoreError(f"cannot create the mailtrack tables: {_reason(exc)}") from exc
                time.sleep(0.2 * (attempt + 1))

        def record_version(conn: Connection) -> str:
            found = conn.execute(
                sa.select(tables.meta.c.value).where(tables.meta.c.key == "schema_version")
            ).scalar_one_or_none()
            if found is None:
                conn.execute(sa.insert(tables.meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
                return str(SCHEMA_VERSION)
            return str(found)

        self._check_version(self._transaction("record the schema version", record_version))

    def check_schema_version(self) -> None:
        """Check that the tables exist and carry a schema version this mailtrack understands.

        A database whose ``mailtrack_meta`` table has no version row (tables created by a host
        application's migration) is taken to be at the current version.

        Raises:
            SchemaVersionError: the version is unknown or newer than this mailtrack's.
            StoreError: the tables do not exist (call :meth:`create_schema`).
        """
        with self._reading("check the schema version") as conn:
            if not sa.inspect(conn).has_table(tables.meta.name):
                raise StoreError(
                    "the mailtrack tables do not exist in this database: call create_schema() "
                    "or apply the migrations that create SQLRecordStore.metadata"
                )
            found = conn.execute(
                sa.select(tables.meta.c.value).where(tables.meta.c.key == "schema_version")
            ).scalar_one_or_none()
        self._check_version(str(SCHEMA_VERSION) if found is None else found)

    @staticmethod
    def _check_version(found: str) -> None:
        try:
            version = int(found)
        except ValueError:
            version = None
        if version == SCHEMA_VERSION:
            return
        if version is not None and version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the database was written by a newer mailtrack (schema version {version}); "
                f"this mailtrack understands schema version {SCHEMA_VERSION}: upgrade mailtrack"
            )
        raise SchemaVersionError(
            f"the database records schema version {found!r}, which this mailtrack does not know "
            f"(it understands schema version {SCHEMA_VERSION})"
        )

    # -- transactions --------------------------------------------------------------------------

    @contextmanager
    def _reading(self, what: str) -> Iterator[Connection]:
        try:
            with self._serial, self._engine.connect() as conn:
                yield conn
        except sa_exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot {what}: {_reason(exc)}") from exc

    def _transient(self, exc: sa_exc.DBAPIError) -> bool:
        if isinstance(exc, sa_exc.IntegrityError):
            return True  # a concurrent writer took the unique key first: read again
        orig = exc.orig
        if self._dialect == "postgresql":
            return getattr(orig, "sqlstate", None) in _PG_RETRY
        if self._dialect in {"mysql", "mariadb"}:
            args: tuple[Any, ...] = getattr(orig, "args", ())
            return bool(args) and args[0] in _MYSQL_RETRY
        if self._dialect == "sqlite":
            return "locked" in str(orig) or "busy" in str(orig)
        return False

    def _begin(self, conn: Connection) -> None:
        if self._dialect in {"postgresql", "mysql", "mariadb"}:
            # A re-read after a lost race must see the winner's row: REPEATABLE READ (MariaDB's
            # default) would not.
            conn.execution_options(isolation_level="READ COMMITTED")

    def _begin_immediate(self, conn: Connection) -> None:
        # SQLite: take the write lock at the start, so that two processes never both read,
        # then both try to upgrade to writing (which deadlocks instead of waiting).
        if self._dialect != "sqlite":
            return
        driver_connection = conn.connection.driver_connection
        if not getattr(driver_connection, "in_transaction", True):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    def _attempt(self, work: Callable[[Connection], T]) -> T:
        """Run *work* in one write transaction, once; SQLAlchemy's errors pass through."""
        with self._serial, self._engine.connect() as conn:
            try:
                self._begin(conn)
                with conn.begin():
                    self._begin_immediate(conn)
                    return work(conn)
            except sa_exc.DBAPIError as exc:
                if (
                    self._dialect in {"mysql", "mariadb"}
                    and _mysql_code(exc) in _MYSQL_TOO_BIG
                    and not conn.invalidated
                ):
                    # The server closed the connection after refusing the packet; SQLAlchemy
                    # does not count that error as a disconnect: keep it out of the pool.
                    conn.invalidate(exc)
                raise

    def _failed(self, what: str, exc: sa_exc.DBAPIError, writing: _Writing | None) -> StoreError:
        """The error to raise for *exc*: MessageRefusedError when the database refused the
        message being written for its size (and works otherwise), StoreError else."""
        if writing is not None:
            refusal = self._refusal(exc, writing)
            if refusal is not None:
                return MessageRefusedError(
                    f"the database refused message {writing.uid!r} of {writing.interface!r} "
                    f"({writing.size()} bytes): {refusal} (the database said: {_reason(exc)})"
                )
        return StoreError(f"cannot {what}: {_reason(exc)}")

    def _refusal(self, exc: sa_exc.DBAPIError, writing: _Writing) -> str | None:
        """What to do about a refusal of *writing* for its size, or None when *exc* is not one."""
        orig = exc.orig
        if self._dialect == "sqlite":
            if getattr(orig, "sqlite_errorname", None) == "SQLITE_TOOBIG" or "too big" in str(orig):
                return (
                    "it is larger than SQLite's length limit (SQLITE_MAX_LENGTH); "
                    "lower the interface's max_message_bytes below that limit"
                )
            return None
        if self._dialect == "postgresql":
            sqlstate = str(getattr(orig, "sqlstate", None) or "")
            if sqlstate.startswith("54") or "invalid memory alloc request size" in str(orig):
                return "PostgreSQL holds at most 1 GB in one field; lower the interface's max_message_bytes"
            return None
        if self._dialect not in {"mysql", "mariadb"}:
            return None
        code = _mysql_code(exc)
        if code not in _MYSQL_TOO_BIG and code not in _MYSQL_LOST:
            return None
        # Mostly the server just drops the connection: a refusal only if the server still
        # answers and the statement may have been larger than its limit (escaping can double
        # the bytes). Otherwise the database is gone, which is no one message's fault.
        limit = self._max_allowed_packet()
        if limit is None or (code in _MYSQL_LOST and 2 * writing.size() < limit):
            return None
        return (
            f"MariaDB/MySQL's max_allowed_packet is {limit} bytes; raise it above the largest "
            "message, or lower the interface's max_message_bytes below it"
        )

    def _max_allowed_packet(self) -> int | None:
        """MariaDB/MySQL's ``max_allowed_packet`` now, or None when the server does not answer."""
        try:
            with self._engine.connect() as conn:
                return int(conn.exec_driver_sql("SELECT @@max_allowed_packet").scalar_one())
        except sa_exc.SQLAlchemyError:
            return None

    def _transaction(self, what: str, work: Callable[[Connection], T], writing: _Writing | None = None) -> T:
        """Run *work* in one write transaction, again after a lost race; errors as StoreError.

        Args:
            writing: the message *work* stores, if any: a refusal of its size raises
                MessageRefusedError.
        """
        last: sa_exc.DBAPIError | None = None
        for attempt in range(_ATTEMPTS):
            try:
                return self._attempt(work)
            except sa_exc.DBAPIError as exc:
                if not self._transient(exc):
                    raise self._failed(what, exc, writing) from exc
                last = exc
                if not isinstance(exc, sa_exc.IntegrityError):
                    time.sleep(min(0.01 * 2**attempt, 0.5))
            except sa_exc.SQLAlchemyError as exc:
                raise StoreError(f"cannot {what}: {_reason(exc)}") from exc
        assert last is not None
        raise StoreError(f"cannot {what}: gave up after {_ATTEMPTS} attempts: {_reason(last)}") from last

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
        return self._transaction(
            f"commit message {uid!r} of {interface!r}",
            lambda conn: self._commit(conn, interface, uid, action),
            _Writing(interface=interface, uid=uid, payload=action),
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
        writing = _Writing(interface=items[0][0], uid=items[0][1], payload=items[0][2])

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

        what = f"commit {len(items)} messages"
        try:
            results = self._batch(what, work, writing)
        except _Retry:
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

    def _batch(self, what: str, work: Callable[[Connection], T], writing: _Writing | None = None) -> T:
        """One try of a batch transaction; a lost race raises :class:`_Retry`."""
        try:
            return self._attempt(work)
        except sa_exc.DBAPIError as exc:
            if self._transient(exc):
                raise _Retry from exc
            raise self._failed(what, exc, writing) from exc
        except sa_exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot {what}: {_reason(exc)}") from exc

    def _commit(self, conn: Connection, interface: str, uid: str, action: ImportAction) -> CommitResult:
        ledger = tables.ledger
        key = _key(uid)
        found = conn.execute(
            sa.select(ledger.c.id).where(ledger.c.interface == interface, ledger.c.uid == key)
        ).first()
        if found is not None:
            return CommitResult(outcome=CommitOutcome.ALREADY_IMPORTED)
        now = as_utc(self._clock())

        def write_ledger(result: CommitResult) -> CommitResult:
            conn.execute(
                sa.insert(ledger).values(
                    interface=interface,
                    uid=key,
                    outcome=result.outcome.value,
                    record_id=result.record_id,
                    detail_id=result.detail_id,
                    committed_at=now,
                )
            )
            return result

        if isinstance(action, SkipMessage):
            return write_ledger(CommitResult(outcome=CommitOutcome.SKIPPED))

        message = action.message
        details = tables.details
        existing = conn.execute(
            sa.select(details.c.id, details.c.record_id).where(
                details.c.message_id_sha256 == _sha256(message.message_id)
            )
        ).first()
        if existing is not None:
            return write_ledger(
                CommitResult(
                    outcome=CommitOutcome.DUPLICATE, record_id=existing.record_id, detail_id=existing.id
                )
            )

        records = tables.records
        if isinstance(action, AppendToRecord):
            updated = conn.execute(
                sa.update(records).where(records.c.id == action.record_id).values(updated_at=now)
            )
            if updated.rowcount == 0:
                raise RecordNotFoundError(f"record #{action.record_id} does not exist")
            record_id = action.record_id
            outcome = CommitOutcome.APPENDED
        elif isinstance(action, CreateRecord):
            inserted = conn.execute(
                sa.insert(records).values(
                    project=action.project,
                    title=action.title,
                    fields=dict(action.fields),
                    created_at=now,
                    updated_at=now,
                )
            )
            record_id = _new_id(inserted)
            outcome = CommitOutcome.CREATED
        else:  # pragma: no cover - guarded by the type checker
            raise TypeError(f"unknown import action {type(action).__name__}")

        detail_id = self._insert_detail(conn, record_id, interface, message, action.message_class)
        return write_ledger(CommitResult(outcome=outcome, record_id=record_id, detail_id=detail_id))

    @staticmethod
    def _insert_detail(
        conn: Connection,
        record_id: int,
        interface: str,
        message: IncomingMessage,
        message_class: MessageClass,
    ) -> int:
        inserted = conn.execute(
            sa.insert(tables.details).values(
                record_id=record_id,
                message_id=message.message_id,
                message_id_sha256=_sha256(message.message_id),
                sender=_address_data(message.sender),
                to_addresses=[_address_data(person) for person in message.to],
                cc_addresses=[_address_data(person) for person in message.cc],
                sent_at=as_utc(message.sent_at),
                received_at=as_utc(message.received_at),
                subject=message.subject,
                text=message.text,
                html=message.html,
                headers=message.headers,
                message_class=MessageClass(message_class).value,
                interface=interface,
            )
        )
        detail_id = _new_id(inserted)
        if message.attachments:
            conn.execute(
                sa.insert(tables.attachments),
                [
                    {
                        "detail_id": detail_id,
                        "position": position,
                        "filename": attachment.filename,
                        "original_filename": attachment.original_filename,
                        "content_type": attachment.content_type,
                        "content_id": attachment.content_id,
                        "disposition": attachment.disposition,
                        "size": attachment.size,
                        "sha256": attachment.sha256,
                        "content": attachment.content if attachment.content is not None else b"",
                    }
                    for position, attachment in enumerate(message.attachments)
                ],
            )
        return detail_id

    def is_imported(self, interface: str, uid: str) -> bool:
        """Whether the ledger holds ``(interface, uid)``."""
        ledger = tables.ledger
        with self._reading("read the ledger") as conn:
            found = conn.execute(
                sa.select(ledger.c.id).where(ledger.c.interface == interface, ledger.c.uid == _key(uid))
            ).first()
        return found is not None

    def imported_uids(self, interface: str, uids: Iterable[str]) -> set[str]:
        """The subset of *uids* the ledger holds for *interface* (one query per 500 UIDs)."""
        by_key = {_key(uid): uid for uid in uids}
        ledger = tables.ledger
        found: set[str] = set()
        with self._reading("read the ledger") as conn:
            for chunk in _chunks(list(by_key)):
                rows = conn.execute(
                    sa.select(ledger.c.uid).where(ledger.c.interface == interface, ledger.c.uid.in_(chunk))
                )
                found.update(by_key[row.uid] for row in rows)
        return found

    # -- records -------------------------------------------------------------------------------

    def get_record(self, record_id: int, *, load_content: bool = True) -> Record:
        """The record with its details (oldest first) and their attachments, in three queries.

        Raises:
            RecordNotFoundError: no record has that ID.
        """
        with self._reading(f"read record #{record_id}") as conn:
            rows = conn.execute(sa.select(tables.records).where(tables.records.c.id == record_id)).all()
            if not rows:
                raise RecordNotFoundError(f"record #{record_id} does not exist")
            return self._load_records(conn, rows, load_content=load_content)[0]

    def list_records(
        self,
        project: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        load_content: bool = False,
    ) -> list[Record]:
        """Records (of *project*, or all), newest ID first, with details, paged by *limit*/*offset*.

        Three queries per page (records, their details, their attachments' metadata) however
        many records there are; attachment content is read only with ``load_content=True``.
        """
        if offset < 0 or (limit is not None and limit < 0):
            raise ValueError("limit and offset must not be negative")
        records = tables.records
        query = sa.select(records).order_by(records.c.id.desc()).offset(offset).limit(limit)
        if project is not None:
            query = query.where(records.c.project == project)
        with self._reading("list records") as conn:
            rows = conn.execute(query).all()
            return self._load_records(conn, rows, load_content=load_content)

    def _load_records(
        self, conn: Connection, rows: Sequence[Row[Any]], *, load_content: bool
    ) -> list[Record]:
        details, attachments = tables.details, tables.attachments
        record_ids = [row.id for row in rows]
        details_of: dict[int, list[Row[Any]]] = {record_id: [] for record_id in record_ids}
        attachments_of: dict[int, list[Attachment]] = {}
        columns = [c for c in attachments.c if c.name != "content" or load_content]
        for chunk in _chunks(record_ids):
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
                attachments_of.setdefault(row.detail_id, []).append(
                    Attachment(
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
                )
        return [
            Record(
                id=row.id,
                project=row.project,
                title=row.title,
                fields=dict(row.fields),
                created_at=row.created_at,
                updated_at=row.updated_at,
                details=tuple(
                    self._detail(detail, tuple(attachments_of.get(detail.id, ())))
                    for detail in details_of[row.id]
                ),
            )
            for row in rows
        ]

    @staticmethod
    def _detail(row: Row[Any], attachments: tuple[Attachment, ...]) -> Detail:
        return Detail(
            id=row.id,
            record_id=row.record_id,
            message_id=row.message_id,
            sender=_address(row.sender),
            to=tuple(person for person in map(_address, row.to_addresses) if person is not None),
            cc=tuple(person for person in map(_address, row.cc_addresses) if person is not None),
            sent_at=row.sent_at,
            received_at=row.received_at,
            subject=row.subject,
            text=row.text,
            html=row.html,
            headers=row.headers,
            attachments=attachments,
            message_class=MessageClass(row.message_class),
            interface=row.interface,
        )

    def has_record(self, record_id: int, project: str | None = None) -> bool:
        """Whether record *record_id* exists (and belongs to *project*, when given)."""
        records = tables.records
        query = sa.select(records.c.id).where(records.c.id == record_id)
        if project is not None:
            query = query.where(records.c.project == project)
        with self._reading(f"read record #{record_id}") as conn:
            return conn.execute(query).first() is not None

    def next_record_ids(self, count: int) -> range | None:
        """The IDs the next *count* new records get when no one else opens records meanwhile,
        or ``None`` where the database does not tell.

        Under SQLite a new record's ID is one more than the highest ID in the table, so they
        are known ahead. PostgreSQL and MariaDB/MySQL draw IDs from counters that may skip
        numbers: ``None``. The importer asks before committing a batch early for a message
        naming a record that does not exist yet (could the batch open it?).
        """
        if self._dialect != "sqlite":
            return None
        with self._reading("read the highest record ID") as conn:
            top = conn.execute(sa.select(sa.func.max(tables.records.c.id))).scalar()
        first = int(top or 0) + 1
        return range(first, first + count)

    def find_record_by_message_id(self, message_id: str) -> Record | None:
        """The record that holds a detail with this Message-ID, or ``None``."""
        details = tables.details
        with self._reading("find a record by Message-ID") as conn:
            record_id = conn.execute(
                sa.select(details.c.record_id).where(details.c.message_id_sha256 == _sha256(message_id))
            ).scalar_one_or_none()
        if record_id is None:
            return None
        try:
            return self.get_record(record_id)
        except RecordNotFoundError:  # deleted in between
            return None

    def record_participants(self, record_id: int) -> set[str]:
        """Lower-case addresses that took part in the record (From, To and Cc of its details).

        Raises:
            RecordNotFoundError: no record has that ID.
        """
        details = tables.details
        with self._reading(f"read record #{record_id}") as conn:
            if not conn.execute(
                sa.select(tables.records.c.id).where(tables.records.c.id == record_id)
            ).first():
                raise RecordNotFoundError(f"record #{record_id} does not exist")
            rows = conn.execute(
                sa.select(details.c.sender, details.c.to_addresses, details.c.cc_addresses).where(
                    details.c.record_id == record_id
                )
            ).all()
        found: set[str] = set()
        for row in rows:
            for data in (row.sender, *row.to_addresses, *row.cc_addresses):
                person = _address(data)
                if person is not None and person.address:
                    found.add(person.address.lower())
        return found

    def get_attachment_content(self, attachment_id: int) -> bytes:
        """The bytes of one stored attachment.

        Raises:
            AttachmentNotFoundError: no attachment has that ID.
        """
        attachments = tables.attachments
        with self._reading(f"read attachment {attachment_id}") as conn:
            content = conn.execute(
                sa.select(attachments.c.content).where(attachments.c.id == attachment_id)
            ).scalar_one_or_none()
        if content is None:
            raise AttachmentNotFoundError(f"attachment {attachment_id} does not exist")
        return bytes(content)

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
        table = tables.quarantine
        key = _key(uid)
        raw = bytes(raw)

        def work(conn: Connection) -> int:
            found = conn.execute(
                sa.select(table.c.id).where(table.c.interface == interface, table.c.uid == key)
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
                    interface=interface,
                    uid=key,
                    raw=raw,
                    error=error,
                    attempts=1,
                    quarantined_at=as_utc(self._clock()),
                )
            )
            return _new_id(inserted)

        quarantine_id = self._transaction(
            f"quarantine message {uid!r} of {interface!r}",
            work,
            _Writing(interface=interface, uid=uid, payload=raw),
        )
        return self.get_quarantined(quarantine_id)

    @staticmethod
    def _quarantined(row: Row[Any]) -> QuarantinedMessage:
        return QuarantinedMessage(
            id=row.id,
            interface=row.interface,
            uid=row.uid,
            raw=bytes(row.raw),
            error=row.error,
            quarantined_at=row.quarantined_at,
            attempts=row.attempts,
        )

    def is_quarantined(self, interface: str, uid: str) -> bool:
        """Whether ``(interface, uid)`` is in the quarantine."""
        table = tables.quarantine
        with self._reading("read the quarantine") as conn:
            found = conn.execute(
                sa.select(table.c.id).where(table.c.interface == interface, table.c.uid == _key(uid))
            ).first()
        return found is not None

    def list_quarantined(self, interface: str | None = None) -> list[QuarantinedMessage]:
        """Quarantined messages (of *interface*, or all), oldest first."""
        table = tables.quarantine
        query = sa.select(table).order_by(table.c.id)
        if interface is not None:
            query = query.where(table.c.interface == interface)
        with self._reading("read the quarantine") as conn:
            return [self._quarantined(row) for row in conn.execute(query)]

    def get_quarantined(self, quarantine_id: int) -> QuarantinedMessage:
        """One quarantined message.

        Raises:
            QuarantineNotFoundError: no quarantined message has that ID.
        """
        table = tables.quarantine
        with self._reading("read the quarantine") as conn:
            row = conn.execute(sa.select(table).where(table.c.id == quarantine_id)).first()
        if row is None:
            raise QuarantineNotFoundError(f"quarantined message {quarantine_id} does not exist")
        return self._quarantined(row)

    def release_quarantined(self, quarantine_id: int) -> None:
        """Remove a message from the quarantine.

        Raises:
            QuarantineNotFoundError: no quarantined message has that ID.
        """
        table = tables.quarantine
        deleted = self._transaction(
            "release a quarantined message",
            lambda conn: conn.execute(sa.delete(table).where(table.c.id == quarantine_id)).rowcount,
        )
        if not deleted:
            raise QuarantineNotFoundError(f"quarantined message {quarantine_id} does not exist")

    # -- interfaces ----------------------------------------------------------------------------

    def save_interface(self, interface: MailInterface) -> None:
        """Save (add or replace, by name) a mail interface, password included."""
        table = tables.interfaces
        config = _serde.unstructure(interface, include_secrets=True)

        def work(conn: Connection) -> None:
            updated = conn.execute(
                sa.update(table).where(table.c.name == interface.name).values(config=config)
            )
            if updated.rowcount == 0:
                conn.execute(sa.insert(table).values(name=interface.name, config=config))

        try:
            self._transaction(f"save mail interface {interface.name!r}", work)
        except StoreError as exc:
            # The statement's parameters held the password: keep only the driver's words.
            cause = exc.__cause__
            raise StoreError(str(exc)) from getattr(cause, "orig", None)

    def _interface(self, name: str, config: Any) -> MailInterface:
        try:
            return _serde.structure(config, MailInterface)
        except ConfigError as exc:
            raise StoreError(f"the saved mail interface {name!r} cannot be read: {exc}") from exc

    def get_interface(self, name: str) -> MailInterface:
        """The saved interface named *name*.

        Raises:
            InterfaceNotFoundError: none is saved under that name.
        """
        table = tables.interfaces
        with self._reading(f"read mail interface {name!r}") as conn:
            config = conn.execute(sa.select(table.c.config).where(table.c.name == name)).scalar_one_or_none()
        if config is None:
            raise InterfaceNotFoundError(f"no mail interface named {name!r} is saved")
        return self._interface(name, config)

    def list_interfaces(self) -> list[MailInterface]:
        """All saved interfaces, by name."""
        table = tables.interfaces
        with self._reading("list mail interfaces") as conn:
            rows = conn.execute(sa.select(table.c.name, table.c.config)).all()
        # Sorted here: database collations order names differently.
        return [self._interface(row.name, row.config) for row in sorted(rows, key=lambda row: str(row.name))]

    def delete_interface(self, name: str) -> None:
        """Delete a saved interface (its ledger, records and run history stay).

        Raises:
            InterfaceNotFoundError: none is saved under that name.
        """
        table = tables.interfaces
        deleted = self._transaction(
            f"delete mail interface {name!r}",
            lambda conn: conn.execute(sa.delete(table).where(table.c.name == name)).rowcount,
        )
        if not deleted:
            raise InterfaceNotFoundError(f"no mail interface named {name!r} is saved")

    # -- runs and leases -----------------------------------------------------------------------

    def save_run(self, report: RunReport) -> None:
        """Append a run report to the interface's history."""
        values = {
            "interface": report.interface,
            "started_at": as_utc(report.started_at),
            "finished_at": as_utc(report.finished_at),
            "imported": report.imported,
            "created": report.created,
            "updated": report.updated,
            "skipped": report.skipped,
            "failed": report.failed,
            "error": report.error,
            "classes": dict(report.classes),
            "notes": list(report.notes),
        }
        self._transaction(
            f"save the run report of {report.interface!r}",
            lambda conn: conn.execute(sa.insert(tables.runs).values(**values)),
        )

    @staticmethod
    def _run(row: Row[Any]) -> RunReport:
        return RunReport(
            interface=row.interface,
            started_at=row.started_at,
            finished_at=row.finished_at,
            imported=row.imported,
            created=row.created,
            updated=row.updated,
            skipped=row.skipped,
            failed=row.failed,
            error=row.error,
            classes=dict(row.classes),
            notes=tuple(row.notes),
        )

    def last_run(self, name: str) -> RunReport | None:
        """The newest (last saved) run report of interface *name*, or ``None``."""
        runs = tables.runs
        with self._reading(f"read the runs of {name!r}") as conn:
            row = conn.execute(
                sa.select(runs).where(runs.c.interface == name).order_by(runs.c.id.desc()).limit(1)
            ).first()
        return None if row is None else self._run(row)

    def last_runs(self) -> dict[str, RunReport]:
        """The newest run report of every interface that ever ran, by name, in one query."""
        runs = tables.runs
        newest = sa.select(sa.func.max(runs.c.id)).group_by(runs.c.interface).scalar_subquery()
        with self._reading("read the last runs") as conn:
            rows = conn.execute(sa.select(runs).where(runs.c.id.in_(newest))).all()
        return {row.interface: self._run(row) for row in sorted(rows, key=lambda row: str(row.interface))}

    def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take (or renew, for the same *owner*) the lease on interface *name* for *seconds*.

        Atomic across processes: the lease row is read with ``SELECT … FOR UPDATE SKIP LOCKED``
        where the database has it (PostgreSQL, MariaDB 10.6+), so a worker never waits behind
        another worker that is taking the same lease (it gets False at once); SQLite takes its
        write lock first. A missing row is inserted, and the unique key decides a race.

        Returns:
            False when another owner holds an unexpired lease.
        """
        if not seconds > 0:
            raise ValueError(f"seconds must be positive, not {seconds!r}")
        leases = tables.leases
        lease_name, lease_owner = _key(name), _key(owner)

        def work(conn: Connection) -> bool:
            now = as_utc(self._clock())
            expires_at = now + timedelta(seconds=seconds)
            row = conn.execute(
                sa.select(leases.c.owner, leases.c.expires_at)
                .where(leases.c.name == lease_name)
                .with_for_update(skip_locked=self._skip_locked)
            ).first()
            if row is None:
                if (
                    self._skip_locked
                    and conn.execute(sa.select(leases.c.name).where(leases.c.name == lease_name)).first()
                ):
                    return False  # the row exists but another worker is taking it right now
                conn.execute(
                    sa.insert(leases).values(name=lease_name, owner=lease_owner, expires_at=expires_at)
                )
                return True
            if row.owner != lease_owner and row.expires_at > now:
                return False
            conn.execute(
                sa.update(leases)
                .where(leases.c.name == lease_name)
                .values(owner=lease_owner, expires_at=expires_at)
            )
            return True

        try:
            return self._batch(f"take the lease on {name!r}", work)
        except _Retry:
            return False  # a concurrent worker inserted the lease row first: it holds the lease

    @property
    def _skip_locked(self) -> bool:
        dialect = self._engine.dialect
        if dialect.name == "postgresql":
            return True
        if dialect.name in {"mysql", "mariadb"}:
            version = dialect.server_version_info or ()
            is_mariadb = bool(getattr(dialect, "is_mariadb", False))
            return tuple(version[:2]) >= ((10, 6) if is_mariadb else (8, 0))
        return False

    def release_lease(self, name: str, owner: str) -> None:
        """Give up the lease if *owner* holds it (otherwise do nothing)."""
        leases = tables.leases
        self._transaction(
            f"release the lease on {name!r}",
            lambda conn: conn.execute(
                sa.delete(leases).where(leases.c.name == _key(name), leases.c.owner == _key(owner))
            ),
        )

    def lease_holder(self, name: str) -> Lease | None:
        """Who holds the lease on interface *name* and until when; ``None`` when nobody does."""
        leases = tables.leases
        with self._reading(f"read the lease on {name!r}") as conn:
            row = conn.execute(
                sa.select(leases.c.owner, leases.c.expires_at).where(leases.c.name == _key(name))
            ).first()
        if row is None or row.expires_at <= as_utc(self._clock()):
            return None
        return Lease(interface=name, owner=row.owner, expires_at=row.expires_at)

    def take_over_lease(self, name: str, owner: str, seconds: float, previous_owner: str) -> bool:
        """Give the lease to *owner* if *previous_owner* still holds it: one conditional UPDATE,
        so that of two workers taking over the same lease one wins."""
        if not seconds > 0:
            raise ValueError(f"seconds must be positive, not {seconds!r}")
        leases = tables.leases

        def work(conn: Connection) -> bool:
            expires_at = as_utc(self._clock()) + timedelta(seconds=seconds)
            result = conn.execute(
                sa.update(leases)
                .where(leases.c.name == _key(name), leases.c.owner == _key(previous_owner))
                .values(owner=_key(owner), expires_at=expires_at)
            )
            return result.rowcount == 1

        return self._transaction(f"take over the lease on {name!r}", work)
