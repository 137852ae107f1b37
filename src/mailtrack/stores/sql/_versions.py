"""Which schema revision a database holds, and the newest one this mailtrack knows.

The schema changes only by Alembic revisions, in ``migrations/versions/NNNN_slug.py``; a
revision's ID is its file name without ``.py``, so the newest (the head) is the highest number,
found without importing Alembic (the store checks the revision every time it opens).

A database records its revision in one of three places, looked at in this order:

1. ``mailtrack_alembic_version``, mailtrack's own Alembic version table (never the host
   application's ``alembic_version``): written by :func:`~mailtrack.stores.sql.upgrade`,
   ``mailtrack db upgrade`` and ``SQLRecordStore(create_schema=True)``;
2. the host's ``alembic_version``, when the host runs mailtrack's revisions in its own Alembic
   environment (``version_locations``): a row naming one of mailtrack's revisions;
3. ``mailtrack_meta``'s ``schema_version`` row, written before migrations existed: ``"1"`` is the
   baseline revision; ``"2"`` says "the revision is in an Alembic version table".

Tables with none of these are refused (``mailtrack db stamp`` says what they are), never guessed.
"""

from __future__ import annotations

import functools
from pathlib import Path

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...exceptions import SchemaVersionError
from . import _schema as tables

__all__ = [
    "BASELINE",
    "HOST_VERSION_TABLE",
    "MIGRATED_MARK",
    "VERSION_TABLE",
    "SchemaState",
    "create_head",
    "head",
    "read_state",
    "require_head",
    "revisions",
    "write_revision",
]

#: mailtrack's own Alembic version table.
VERSION_TABLE = "mailtrack_alembic_version"
#: Alembic's default version table, the host application's.
HOST_VERSION_TABLE = "alembic_version"
#: The revision that creates the schema of mailtrack before migrations (``schema_version`` 1).
BASELINE = "0001_baseline"
#: ``mailtrack_meta``'s ``schema_version`` once revisions are recorded by Alembic; a mailtrack
#: from before migrations refuses it as "written by a newer mailtrack".
MIGRATED_MARK = "2"
#: ``schema_version`` values written before migrations, and the revision each one is.
_LEGACY_MARKS = {"1": BASELINE}

MIGRATIONS = Path(__file__).parent / "migrations"

_version_metadata = sa.MetaData()
#: Alembic's version table, as Alembic creates it (a host's autogenerate never sees it).
version_table = sa.Table(
    VERSION_TABLE,
    _version_metadata,
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
)

_UPGRADE_HINT = (
    "back up the database, then run `mailtrack db upgrade` "
    "(or call mailtrack.stores.sql.upgrade(engine) from your application)"
)


@functools.cache
def revisions() -> tuple[str, ...]:
    """The IDs of mailtrack's revisions, oldest first."""
    return tuple(sorted(path.stem for path in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")))


def head() -> str:
    """The newest revision: the schema this mailtrack reads and writes."""
    return revisions()[-1]


@attrs.frozen
class SchemaState:
    """What a database holds: its recorded revision, where that was recorded, and whether any
    mailtrack table exists."""

    #: The revision, or None when none is recorded.
    revision: str | None
    #: ``VERSION_TABLE``, ``HOST_VERSION_TABLE``, ``"mailtrack_meta"``, or ``""`` (none).
    recorded_in: str
    has_tables: bool

    @property
    def empty(self) -> bool:
        """No mailtrack table and no revision: a database to create the schema in."""
        return self.revision is None and not self.has_tables

    @property
    def legacy(self) -> bool:
        """Recorded only by the ``schema_version`` row of mailtrack before migrations."""
        return self.recorded_in == tables.meta.name


def read_state(conn: Connection) -> SchemaState:
    """Where the database stands (see the module's docstring for the order).

    Raises:
        SchemaVersionError: the database records a version that is no revision of any mailtrack,
            or several revisions of mailtrack at once.
    """
    names = set(sa.inspect(conn).get_table_names())
    has_tables = any(name in names for name in tables.metadata.tables)
    if VERSION_TABLE in names:
        found = conn.execute(sa.select(version_table.c.version_num)).scalars().all()
        if len(found) > 1:
            raise SchemaVersionError(
                f"{VERSION_TABLE} records several revisions ({', '.join(map(repr, sorted(found)))}); "
                "mailtrack's revisions form one line: repair the table with `mailtrack db stamp`"
            )
        if found:
            return SchemaState(found[0], VERSION_TABLE, has_tables)
    if HOST_VERSION_TABLE in names:
        host = sa.table(HOST_VERSION_TABLE, sa.column("version_num"))
        ours = set(revisions()).intersection(conn.execute(sa.select(host.c.version_num)).scalars())
        if ours:
            return SchemaState(max(ours), HOST_VERSION_TABLE, has_tables)
    if tables.meta.name in names:
        meta = tables.meta
        mark = conn.execute(
            sa.select(meta.c.value).where(meta.c.key == "schema_version")
        ).scalar_one_or_none()
        if mark is not None:
            return SchemaState(_legacy_revision(str(mark)), tables.meta.name, has_tables)
    return SchemaState(None, "", has_tables)


def _legacy_revision(mark: str) -> str:
    if mark in _LEGACY_MARKS:
        return _LEGACY_MARKS[mark]
    if mark == MIGRATED_MARK:
        raise SchemaVersionError(
            f"the database was migrated by a mailtrack whose revisions this one cannot find: "
            f"neither {VERSION_TABLE} nor {HOST_VERSION_TABLE} names a revision it knows "
            f"(its newest is {head()}): upgrade mailtrack, or, if those revisions are in another "
            f"version table of your application, keep mailtrack's in {VERSION_TABLE}"
        )
    try:
        newer = int(mark) > int(MIGRATED_MARK)
    except ValueError:
        newer = False
    if newer:
        raise SchemaVersionError(
            f"the database was written by a newer mailtrack (schema version {mark}): upgrade mailtrack"
        )
    raise SchemaVersionError(
        f"the database records schema version {mark!r}, which this mailtrack does not know "
        f"(its newest schema revision is {head()})"
    )


def require_head(state: SchemaState) -> None:
    """Refuse a database whose schema is not this mailtrack's newest.

    Raises:
        SchemaVersionError: the schema is older (upgrade the database), newer or unknown (upgrade
            mailtrack), or the tables record no version at all (``mailtrack db stamp``).
    """
    revision = state.revision
    if revision == head():
        return
    if revision is None:
        if not state.has_tables:
            return  # the caller decides: create the tables, or say that they do not exist
        raise SchemaVersionError(
            "the database has mailtrack tables but records no schema version, so mailtrack cannot "
            "tell which revision they are; if you know it (0001_baseline for tables made by "
            "SQLRecordStore.metadata.create_all before migrations), record it with "
            "`mailtrack db stamp REVISION`, then run `mailtrack db upgrade`"
        )
    if revision not in revisions():
        raise SchemaVersionError(
            f"the database was written by a newer mailtrack (schema revision {revision!r}, unknown "
            f"to this mailtrack, whose newest is {head()}): upgrade mailtrack"
        )
    if state.recorded_in == HOST_VERSION_TABLE:
        raise SchemaVersionError(
            f"the database's mailtrack schema is at revision {revision}, older than {head()} which "
            "this mailtrack needs; your application's Alembic runs mailtrack's revisions: back up "
            "the database, then run `alembic upgrade heads` there"
        )
    raise SchemaVersionError(
        f"the database's mailtrack schema is at revision {revision}, older than {head()} which "
        f"this mailtrack needs: {_UPGRADE_HINT}"
    )


def write_revision(conn: Connection, revision: str) -> None:
    """Record *revision* in mailtrack's version table (created when missing), replacing any other."""
    version_table.create(conn, checkfirst=True)
    conn.execute(sa.delete(version_table))
    conn.execute(sa.insert(version_table).values(version_num=revision))


def create_head(conn: Connection) -> None:
    """Create the newest schema in an empty database and record its revision.

    The tables come from :data:`~._schema.metadata`, which a test keeps equal to what the
    revisions build one after the other.
    """
    tables.metadata.create_all(conn)
    conn.execute(sa.insert(tables.meta).values(key="schema_version", value=_mark_at(head())))
    write_revision(conn, head())


def _mark_at(revision: str) -> str:
    """The ``schema_version`` row a database at *revision* holds."""
    return next((mark for mark, legacy in _LEGACY_MARKS.items() if legacy == revision), MIGRATED_MARK)
