"""What differs between SQLite, PostgreSQL and MariaDB/MySQL, in one place.

Each :class:`Dialect` says how the store's own engine is made for its database, how a
transaction starts, which errors mean "try again", which mean "this message is too large", how
transactions of one process take turns, and what the database can tell ahead (the IDs of the
next records, ``SKIP LOCKED``). :func:`dialect_for` picks the one for an engine or a URL.
"""

from __future__ import annotations

import contextlib
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from ...exceptions import StoreError
from . import _schema as tables

__all__ = ["POOL_CONNECTIONS", "Dialect", "create_engine", "dialect_for"]

#: Connections the pool of the store's own engine hands out at once (5 kept open, the rest opened
#: when needed and closed when given back): one per run of Importer.run_all, which holds one at a
#: time. SQLAlchemy's default (15) would make the 16th parallel run wait for a connection.
POOL_CONNECTIONS = 64
_POOL_KEPT = 5
#: PostgreSQL SQLSTATEs and MariaDB error numbers that mean "try the transaction again".
_PG_RETRY = {"40001", "40P01", "55P03"}
_MYSQL_RETRY = {1205, 1213}
#: Seconds a process waits for another one to finish creating or upgrading the schema.
SCHEMA_LOCK_WAIT = 3600
#: MariaDB/MySQL errors that say a statement was larger than ``max_allowed_packet``; and the
#: errors of a lost connection, which is what the client mostly sees instead (the server drops
#: the connection while the statement is still being sent).
_MYSQL_TOO_BIG = {1153, 1301}
_MYSQL_LOST = {2006, 2013}


class Dialect:
    """A database the store runs on; this base class is what any database gets."""

    #: The extra that installs the driver (``pip install 'mailtrack[EXTRA]'``).
    extra = "sql"
    #: Whether :meth:`next_record_ids` can tell.
    record_ids_known_ahead = False

    def engine_options(self, url: sa.URL) -> dict[str, Any]:
        """Keyword arguments for the store's own engine (the caller's options come on top)."""
        return {"pool_pre_ping": True, "pool_size": _POOL_KEPT, "max_overflow": POOL_CONNECTIONS - _POOL_KEPT}

    def prepare_engine(self, engine: Engine) -> None:
        """Set up the store's own engine once it is made."""

    def serial(self) -> contextlib.AbstractContextManager[Any]:
        """What transactions of this process hold while they run (nothing: they run at once)."""
        return contextlib.nullcontext()

    def before_transaction(self, conn: Connection) -> None:
        """Called on the connection before its write transaction begins."""

    def at_transaction_start(self, conn: Connection) -> None:
        """Called first inside a write transaction."""

    @contextlib.contextmanager
    def schema_lock(self, conn: Connection) -> Iterator[None]:
        """Hold, on *conn*, a transaction and the lock under which the schema is created or
        upgraded: two processes doing it at once take turns, and the second finds it done.

        The lock goes with the connection (and so with the process, however it ends).
        """
        self.before_transaction(conn)
        with conn.begin():
            self.at_transaction_start(conn)
            yield

    def transient(self, exc: sa_exc.DBAPIError) -> bool:
        """Whether *exc* means "the transaction lost a race: try it again" (a unique key taken
        by a concurrent writer is that on every database)."""
        return isinstance(exc, sa_exc.IntegrityError)

    def after_failure(self, conn: Connection, exc: sa_exc.DBAPIError) -> None:
        """Called on the connection after a write transaction failed with *exc*."""

    def refusal(self, exc: sa_exc.DBAPIError, size: int, engine: Engine) -> str | None:
        """What to do about *exc* when it refused a statement writing a message of *size* bytes
        for its size, or ``None`` when it is no such refusal."""
        return None

    def skip_locked(self, engine: Engine) -> bool:
        """Whether ``SELECT … FOR UPDATE SKIP LOCKED`` is available."""
        return False

    def next_record_ids(self, conn: Connection, count: int) -> range | None:
        """The IDs the next *count* records get, when the database decides them ahead."""
        return None


class SQLite(Dialect):
    """A SQLite file: WAL, a writer waits up to 30 s for another process's transaction (the
    URL's ``?timeout=SECONDS`` sets another wait: ``mailtrack deliver`` may prefer to give up
    sooner and let the mail server try again)."""

    record_ids_known_ahead = True
    _timeout: float = 30.0

    def engine_options(self, url: sa.URL) -> dict[str, Any]:
        given = url.query.get("timeout")
        if given is not None:
            try:
                self._timeout = float(given if isinstance(given, str) else given[0])
            except ValueError:
                raise StoreError(f"timeout in the SQLite URL must be seconds, not {given!r}") from None
        return {
            "connect_args": {"timeout": self._timeout},
            "pool_size": _POOL_KEPT,
            "max_overflow": POOL_CONNECTIONS - _POOL_KEPT,
        }

    def prepare_engine(self, engine: Engine) -> None:
        busy_ms = max(0, round(self._timeout * 1000))
        sa.event.listen(
            engine, "connect", lambda connection, record: _on_sqlite_file_connect(connection, record, busy_ms)
        )

    def at_transaction_start(self, conn: Connection) -> None:
        # Take the write lock at the start, so that two processes never both read, then both
        # try to upgrade to writing (which deadlocks instead of waiting).
        if not getattr(conn.connection.driver_connection, "in_transaction", True):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    @contextlib.contextmanager
    def schema_lock(self, conn: Connection) -> Iterator[None]:
        # The write lock on the file is the lock. Foreign keys are off while the schema changes:
        # a revision that rebuilds a table (Alembic's batch mode drops the old one) must not
        # cascade the drop to the rows that refer to it. SQLite ignores the pragma inside a
        # transaction, so it is set before.
        enforced = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
        conn.commit()
        try:
            with super().schema_lock(conn):
                yield
                problems = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if problems:
                    raise StoreError(
                        f"the schema change left {len(problems)} rows whose foreign key points nowhere "
                        f"(first in table {problems[0][0]}); nothing was changed"
                    )
        finally:
            conn.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")
            conn.commit()

    def transient(self, exc: sa_exc.DBAPIError) -> bool:
        return super().transient(exc) or "locked" in str(exc.orig) or "busy" in str(exc.orig)

    def refusal(self, exc: sa_exc.DBAPIError, size: int, engine: Engine) -> str | None:
        orig = exc.orig
        if getattr(orig, "sqlite_errorname", None) == "SQLITE_TOOBIG" or "too big" in str(orig):
            return (
                "it is larger than SQLite's length limit (SQLITE_MAX_LENGTH); "
                "lower the interface's max_message_bytes below that limit"
            )
        return None

    def next_record_ids(self, conn: Connection, count: int) -> range | None:
        # A new record's ID is one more than the highest ID in the table.
        top = conn.execute(sa.select(sa.func.max(tables.records.c.id))).scalar()
        first = int(top or 0) + 1
        return range(first, first + count)


class SQLiteMemory(SQLite):
    """An in-memory SQLite database: one connection, which the threads of this process share
    and take turns on."""

    def engine_options(self, url: sa.URL) -> dict[str, Any]:
        # One connection for every thread, or each would see its own empty database.
        return {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}

    def prepare_engine(self, engine: Engine) -> None:
        pass

    def serial(self) -> contextlib.AbstractContextManager[Any]:
        return threading.RLock()


class PostgreSQL(Dialect):
    extra = "postgresql"

    def before_transaction(self, conn: Connection) -> None:
        _read_committed(conn)

    @contextlib.contextmanager
    def schema_lock(self, conn: Connection) -> Iterator[None]:
        # A transaction-level advisory lock: released at commit, rollback or disconnect; the
        # schema changes themselves are transactional on PostgreSQL.
        self.before_transaction(conn)
        with conn.begin():
            key = _lock_name(conn)
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(key.encode())})
            yield

    def transient(self, exc: sa_exc.DBAPIError) -> bool:
        return super().transient(exc) or getattr(exc.orig, "sqlstate", None) in _PG_RETRY

    def refusal(self, exc: sa_exc.DBAPIError, size: int, engine: Engine) -> str | None:
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
        if sqlstate.startswith("54") or "invalid memory alloc request size" in str(exc.orig):
            return "PostgreSQL holds at most 1 GB in one field; lower the interface's max_message_bytes"
        return None

    def skip_locked(self, engine: Engine) -> bool:
        return True


class MariaDB(Dialect):
    """MariaDB and MySQL."""

    extra = "mysql"

    def before_transaction(self, conn: Connection) -> None:
        _read_committed(conn)

    @contextlib.contextmanager
    def schema_lock(self, conn: Connection) -> Iterator[None]:
        # A named lock of the session (MariaDB commits each DDL statement on its own, so a
        # transaction cannot hold the schema still); the server drops it with the connection.
        name = _lock_name(conn)[:64]
        self.before_transaction(conn)
        got = conn.execute(sa.text("SELECT GET_LOCK(:name, :wait)"), {"name": name, "wait": SCHEMA_LOCK_WAIT})
        held = got.scalar() == 1
        conn.commit()  # the lock belongs to the session, not to this transaction
        if not held:
            raise StoreError(
                f"another process has been changing the mailtrack schema for {SCHEMA_LOCK_WAIT} s "
                f"(the lock {name!r} is held); try again when it is done"
            )
        try:
            with conn.begin():
                yield
        finally:
            try:
                conn.execute(sa.text("SELECT RELEASE_LOCK(:name)"), {"name": name})
                conn.commit()
            except sa_exc.SQLAlchemyError:
                # Never give a connection that may still hold the lock back to the pool.
                conn.invalidate()

    def transient(self, exc: sa_exc.DBAPIError) -> bool:
        return super().transient(exc) or _mysql_code(exc) in _MYSQL_RETRY

    def after_failure(self, conn: Connection, exc: sa_exc.DBAPIError) -> None:
        if _mysql_code(exc) in _MYSQL_TOO_BIG and not conn.invalidated:
            # The server closed the connection after refusing the packet; SQLAlchemy does not
            # count that error as a disconnect: keep it out of the pool.
            conn.invalidate(exc)

    def refusal(self, exc: sa_exc.DBAPIError, size: int, engine: Engine) -> str | None:
        code = _mysql_code(exc)
        if code not in _MYSQL_TOO_BIG and code not in _MYSQL_LOST:
            return None
        # Mostly the server just drops the connection: a refusal only if the server still
        # answers and the statement may have been larger than its limit (escaping can double
        # the bytes). Otherwise the database is gone, which is no one message's fault.
        limit = _max_allowed_packet(engine)
        if limit is None or (code in _MYSQL_LOST and 2 * size < limit):
            return None
        return (
            f"MariaDB/MySQL's max_allowed_packet is {limit} bytes; raise it above the largest "
            "message, or lower the interface's max_message_bytes below it"
        )

    def skip_locked(self, engine: Engine) -> bool:
        version = engine.dialect.server_version_info or ()
        is_mariadb = bool(getattr(engine.dialect, "is_mariadb", False))
        return tuple(version[:2]) >= ((10, 6) if is_mariadb else (8, 0))


def dialect_for(url: sa.URL) -> Dialect:
    """The dialect of a database URL (an engine's ``url``)."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return SQLiteMemory() if url.database in {None, "", ":memory:"} else SQLite()
    if backend == "postgresql":
        return PostgreSQL()
    if backend in {"mysql", "mariadb"}:
        return MariaDB()
    return Dialect()


def create_engine(url: str | sa.URL, options: dict[str, Any]) -> Engine:
    """The store's own engine for *url*, the caller's *options* on top of the dialect's.

    Raises:
        StoreError: the URL is malformed or its driver is not installed.
    """
    try:
        parsed = sa.make_url(url)
    except sa_exc.ArgumentError as exc:
        raise StoreError(f"not a database URL: {exc}") from exc
    dialect = dialect_for(parsed)
    kwargs: dict[str, Any] = {"hide_parameters": True, **dialect.engine_options(parsed)}
    if "poolclass" in options:  # the caller's pool decides its own size
        kwargs.pop("pool_size", None)
        kwargs.pop("max_overflow", None)
    kwargs.update(options)
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (ImportError, sa_exc.NoSuchModuleError) as exc:
        raise StoreError(
            f"no database driver for {parsed.drivername!r}: pip install 'mailtrack[{dialect.extra}]'"
        ) from exc
    except sa_exc.ArgumentError as exc:
        raise StoreError(f"cannot use database URL: {exc}") from exc
    dialect.prepare_engine(engine)
    return engine


#: The page size of a SQLite file mailtrack creates. Attachments make most of a store's bytes:
#: with SQLite's default of 4 KB, writing them took twice the system CPU (one write and one read
#: of the WAL per page; docs/performance.md). A file that exists keeps the size it has.
SQLITE_PAGE_SIZE = 16384


def _on_sqlite_file_connect(dbapi_connection: Any, _record: Any, busy_ms: int = 30000) -> None:
    # WAL lets readers go on while one process writes; busy_timeout makes a writer wait for
    # another process's transaction instead of failing at once.
    cursor = dbapi_connection.cursor()
    try:
        # Only an empty file takes it, and only before it turns to WAL (which writes its header).
        cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _lock_name(conn: Connection) -> str:
    """The name of the schema lock of the database *conn* is connected to (locks are per server)."""
    return f"mailtrack_schema.{conn.engine.url.database or ''}"


def _read_committed(conn: Connection) -> None:
    # A re-read after a lost race must see the winner's row: REPEATABLE READ (MariaDB's
    # default) would not.
    conn.execution_options(isolation_level="READ COMMITTED")


def _mysql_code(exc: sa_exc.DBAPIError) -> object:
    args: tuple[Any, ...] = getattr(exc.orig, "args", ())
    return args[0] if args else None


def _max_allowed_packet(engine: Engine) -> int | None:
    """MariaDB/MySQL's ``max_allowed_packet`` now, or None when the server does not answer."""
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql("SELECT @@max_allowed_packet").scalar_one())
    except sa_exc.SQLAlchemyError:
        return None
