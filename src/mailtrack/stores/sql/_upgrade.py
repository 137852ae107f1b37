"""Bringing a database up to date: :func:`upgrade`, :func:`stamp`, :func:`current`,
:func:`history`, for hosts and for ``mailtrack db``.

Alembic is imported only here, when a database is to be upgraded; opening a store never needs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ...exceptions import SchemaVersionError, StoreError
from . import _versions as versions
from ._dialects import create_engine
from ._transactions import Transactions

__all__ = ["Revision", "current", "history", "stamp", "upgrade"]

#: Alembic keeps the running migration in module globals (``alembic.op``, ``alembic.context``):
#: one run at a time in a process. Runs in other processes are kept apart by the schema lock.
_ALEMBIC_RUN = threading.Lock()


@attrs.frozen(kw_only=True)
class Revision:
    """One of mailtrack's schema revisions, as :func:`history` lists them."""

    #: Its ID, e.g. ``"0001_baseline"``.
    id: str
    #: The revision it upgrades from (None for the first).
    down_revision: str | None
    #: What it changes, in one line.
    description: str


@contextmanager
def _transactions(engine: Engine | str | sa.URL) -> Iterator[Transactions]:
    own = not isinstance(engine, Engine)
    bound = create_engine(engine, {}) if not isinstance(engine, Engine) else engine
    try:
        yield Transactions(bound)
    finally:
        if own:
            bound.dispose()


def _alembic(conn: Connection, command: str, *args: Any) -> None:
    """Run Alembic's *command* on *conn* (which holds the schema lock and a transaction)."""
    from alembic import command as commands
    from alembic.config import Config
    from alembic.util import CommandError

    config = Config()
    config.set_main_option("script_location", str(versions.MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = conn
    try:
        with _ALEMBIC_RUN:
            getattr(commands, command)(config, *args)
    except CommandError as exc:
        raise StoreError(f"cannot {command} the mailtrack schema: {exc}") from exc


def upgrade(engine: Engine | str | sa.URL, revision: str = "head") -> str | None:
    """Bring mailtrack's tables in a database up to *revision* (by default the newest).

    An empty database gets every revision in turn. A database of mailtrack from before
    migrations (``schema_version`` 1) is recognised as revision ``0001_baseline`` and upgraded
    from there. Revisions are recorded in ``mailtrack_alembic_version``, never in your
    application's ``alembic_version``. Safe to run again (nothing to do) and from several
    processes at once (they take turns under a lock held by the database, released if a
    process dies). On PostgreSQL and SQLite the whole upgrade is one transaction; MariaDB
    commits each schema change on its own, and the version table says how far it got.

    Args:
        engine: Your engine (left open), or a database URL (its engine is closed afterwards).
        revision: The revision to reach: ``"head"`` or a revision ID.

    Returns:
        The revision the database was at before, or None when it was empty.

    Raises:
        SchemaVersionError: the database holds mailtrack tables that record no version
            (``mailtrack db stamp``), a revision this mailtrack does not know (upgrade
            mailtrack), or revisions your application's own Alembic runs (``alembic upgrade``).
        StoreError: the database failed, or *revision* is unknown.
    """
    with _transactions(engine) as db:
        for attempt in range(_LOCKED_ATTEMPTS):
            try:
                return _upgrade_once(db, revision)
            except StoreError as exc:
                cause = exc.__cause__
                transient = isinstance(cause, sa.exc.DBAPIError) and db.dialect.transient(cause)
                if not transient or attempt == _LOCKED_ATTEMPTS - 1:
                    raise
                # Another process held the database past its lock timeout (SQLite under load):
                # nothing of this attempt was kept (the transaction rolled back); take a turn again.
                time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


#: How often :func:`upgrade` tries again when the database stayed locked by another process.
_LOCKED_ATTEMPTS = 5


def _upgrade_once(db: Transactions, revision: str) -> str | None:
    with db.changing_schema("upgrade the mailtrack schema") as conn:
        state = versions.read_state(conn)
        if state.revision is None and state.has_tables:
            versions.require_head(state)  # tables without a version: refused, naming `db stamp`
        if state.recorded_in == versions.HOST_VERSION_TABLE:
            raise SchemaVersionError(
                f"mailtrack's revisions in this database are recorded in your application's "
                f"{versions.HOST_VERSION_TABLE} (at {state.revision}): upgrade them with your "
                "application's `alembic upgrade heads`"
            )
        if state.revision is not None and state.revision not in versions.revisions():
            versions.require_head(state)  # newer: upgrade mailtrack
        if state.legacy:
            assert state.revision is not None
            versions.write_revision(conn, state.revision)
        _alembic(conn, "upgrade", revision)
        return state.revision


def stamp(engine: Engine | str | sa.URL, revision: str) -> None:
    """Record that mailtrack's tables in a database are at *revision*, changing nothing else.

    For tables made without a recorded version (e.g. by ``SQLRecordStore.metadata.create_all``
    before migrations: ``0001_baseline``). Stamping a wrong revision makes the next upgrade
    fail or skip a change: be sure what the tables are.

    Raises:
        StoreError: *revision* is not one of mailtrack's revisions, or the database failed.
    """
    if revision == "head":
        revision = versions.head()
    if revision not in versions.revisions():
        raise StoreError(
            f"{revision!r} is not a mailtrack schema revision (they are: {', '.join(versions.revisions())})"
        )
    with _transactions(engine) as db, db.changing_schema("stamp the mailtrack schema") as conn:
        versions.write_revision(conn, revision)


def current(engine: Engine | str | sa.URL) -> str | None:
    """The revision of mailtrack's tables in a database, or None when none is recorded.

    Raises:
        SchemaVersionError: the database records a version no mailtrack revision is.
        StoreError: the database failed.
    """
    with _transactions(engine) as db, db.reading("read the mailtrack schema version") as conn:
        return versions.read_state(conn).revision


def history() -> list[Revision]:
    """mailtrack's schema revisions, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(versions.MIGRATIONS))
    found = [
        Revision(
            id=script.revision,
            down_revision=script.down_revision if isinstance(script.down_revision, str) else None,
            description=(script.doc or "").strip().splitlines()[0] if script.doc else "",
        )
        for script in scripts.walk_revisions()
    ]
    return found[::-1]
