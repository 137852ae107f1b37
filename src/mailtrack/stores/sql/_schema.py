"""The tables of :class:`~mailtrack.stores.sql.SQLRecordStore`, on SQLAlchemy Core, and their version.

Every table name starts with ``mailtrack_`` so that the tables sit beside a host application's
own. :data:`metadata` is public: a host application that manages its schema with Alembic adds it
to its ``target_metadata`` (a list of ``MetaData`` is accepted there). These tables change only
together with a revision in ``migrations/versions/`` (see :mod:`._versions`); a test keeps the
two equal.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

__all__ = ["KEY_LENGTH", "metadata"]

#: Longest interface name, UID, project and lease owner that fit in an index on every backend.
KEY_LENGTH = 255

# MariaDB: four-byte UTF-8 everywhere, and binary collation so that keys compare exactly
# (POP3 UIDs are case-sensitive; "ABC" and "abc" are two messages).
_TABLE_OPTIONS: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware datetime stored as naive UTC, read back with ``tzinfo=UTC``.

    SQLite and MariaDB keep no time zone; storing UTC on every backend keeps them alike.
    Microseconds are kept (``DATETIME(6)`` on MariaDB).
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # naive values are taken as UTC
            return value
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


#: On PostgreSQL, which refuses NUL in text, NUL is stored as ``_ESCAPE + "0"`` and
#: ``_ESCAPE`` itself as ``_ESCAPE * 2`` (a private-use character; other text is stored as is).
_ESCAPE = "\ue000"
_ESCAPED = re.compile(_ESCAPE + "(.)", re.DOTALL)


class LongText(sa.TypeDecorator[str]):
    """Text without a practical size limit, NUL characters included.

    ``LONGTEXT`` on MariaDB (where ``TEXT`` stops at 64 KiB); on PostgreSQL, NUL characters
    (which mail bodies and headers may hold) are escaped, since PostgreSQL refuses them.
    """

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(mysql.LONGTEXT())
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "postgresql":
            return value
        if "\x00" in value or _ESCAPE in value:
            return value.replace(_ESCAPE, _ESCAPE * 2).replace("\x00", _ESCAPE + "0")
        return value

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or dialect.name != "postgresql" or _ESCAPE not in value:
            return value
        return _ESCAPED.sub(lambda found: "\x00" if found.group(1) == "0" else found.group(1), value)


BigText = LongText()
#: Bytes without a practical size limit (``LONGBLOB`` on MariaDB, where ``BLOB`` stops at 64 KiB).
BigBinary = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")
#: JSON (``JSON`` is an alias of ``LONGTEXT`` on MariaDB; nothing queries inside it).
JSONText = sa.JSON()


def _key(name: str, **kwargs: Any) -> sa.Column[str]:
    return sa.Column(name, sa.String(KEY_LENGTH), **kwargs)


#: Constraint and index names are fixed by convention, so that migrations can name them.
metadata = sa.MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

#: One row: ``key='schema_version'`` (see :mod:`._versions`).
meta = sa.Table(
    "mailtrack_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(KEY_LENGTH), nullable=False),
    **_TABLE_OPTIONS,
)

records = sa.Table(
    "mailtrack_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _key("project", nullable=False, index=True),
    sa.Column("title", BigText, nullable=False),
    sa.Column("fields", JSONText, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    # list_records(order="updated", updated_since=...) reads by it.
    sa.Column("updated_at", UTCDateTime(), nullable=False, index=True),
    # The record this one was opened beside (Record.related); no foreign key: it may be deleted.
    sa.Column("related_record_id", sa.Integer, nullable=True),
    # Opened by old mail moved in (Record.history): created_at is that mail's Date.
    sa.Column("history", sa.Boolean, nullable=False, server_default=sa.false()),
    **_TABLE_OPTIONS,
)

details = sa.Table(
    "mailtrack_details",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "record_id",
        sa.Integer,
        sa.ForeignKey("mailtrack_records.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("message_id", BigText, nullable=False),
    # SHA-256 of the Message-ID: a bounded, indexable key on every backend (Message-IDs may be
    # longer than MariaDB's index limit).
    sa.Column("message_id_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("sender", JSONText, nullable=True),
    sa.Column("to_addresses", JSONText, nullable=False),
    sa.Column("cc_addresses", JSONText, nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("subject", BigText, nullable=False),
    sa.Column("text", BigText, nullable=False),
    sa.Column("html", BigText, nullable=True),
    sa.Column("headers", BigText, nullable=False),
    sa.Column("message_class", sa.String(32), nullable=False),
    _key("interface", nullable=False),
    # What the converter noticed (a list of strings) and the refused attachments (a list of
    # objects); NULL when there were none.
    sa.Column("defects", JSONText, nullable=True),
    sa.Column("refused_attachments", JSONText, nullable=True),
    # The record fields the message changed: {name: [old or null, new]}, NULL when none.
    sa.Column("field_changes", JSONText, nullable=True),
    # Old mail moved in (Detail.history): received_at is its Date; nobody is told of it now.
    sa.Column("history", sa.Boolean, nullable=False, server_default=sa.false()),
    **_TABLE_OPTIONS,
)

#: Attachment metadata and content; ``content`` is the last column and is selected only on request.
attachments = sa.Table(
    "mailtrack_attachments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "detail_id",
        sa.Integer,
        sa.ForeignKey("mailtrack_details.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("filename", BigText, nullable=False),
    sa.Column("original_filename", BigText, nullable=False),
    sa.Column("content_type", BigText, nullable=False),
    sa.Column("content_id", BigText, nullable=True),
    sa.Column("disposition", sa.String(32), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("content", BigBinary, nullable=False),
    **_TABLE_OPTIONS,
)

#: The import ledger: one row per (interface, UID) ever committed.
ledger = sa.Table(
    "mailtrack_ledger",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _key("interface", nullable=False),
    _key("uid", nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("record_id", sa.Integer, nullable=True),
    sa.Column("detail_id", sa.Integer, nullable=True),
    sa.Column("committed_at", UTCDateTime(), nullable=False),
    # The message's content digest and listed size (revision 0002); NULL: not known (rows
    # written before, or by a caller that gave none).
    sa.Column("content_sha256", sa.String(64), nullable=True),
    sa.Column("listed_size", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("interface", "uid"),
    # Content already imported under another key (revision 0008): see stores/_commit.py.
    sa.Index("ix_mailtrack_ledger_content", "interface", "content_sha256"),
    **_TABLE_OPTIONS,
)

quarantine = sa.Table(
    "mailtrack_quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _key("interface", nullable=False),
    _key("uid", nullable=False),
    sa.Column("error", BigText, nullable=False),
    sa.Column("quarantined_at", UTCDateTime(), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("raw", BigBinary, nullable=False),
    sa.UniqueConstraint("interface", "uid"),
    **_TABLE_OPTIONS,
)

#: Conversions that began and never finished, per message: a message that crashes the importer
#: every time is quarantined after a few (revision 0003_issue14_attempts).
attempts = sa.Table(
    "mailtrack_attempts",
    metadata,
    _key("interface", primary_key=True),
    _key("uid", primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("attempted_at", UTCDateTime(), nullable=False),
    **_TABLE_OPTIONS,
)

#: Saved mail interfaces; ``config`` is the JSON dump *with* the password (``run_all`` needs it).
interfaces = sa.Table(
    "mailtrack_interfaces",
    metadata,
    _key("name", primary_key=True),
    sa.Column("config", JSONText, nullable=False),
    **_TABLE_OPTIONS,
)

runs = sa.Table(
    "mailtrack_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _key("interface", nullable=False, index=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=False),
    sa.Column("imported", sa.Integer, nullable=False),
    sa.Column("created", sa.Integer, nullable=False),
    sa.Column("updated", sa.Integer, nullable=False),
    sa.Column("skipped", sa.Integer, nullable=False),
    sa.Column("failed", sa.Integer, nullable=False),
    # NULL for runs saved before revision 0005 (their "skipped" counted these too).
    sa.Column("already_imported", sa.Integer, nullable=True),
    sa.Column("left_on_server", sa.Integer, nullable=True),
    sa.Column("error", BigText, nullable=True),
    sa.Column("classes", JSONText, nullable=False),
    sa.Column("notes", JSONText, nullable=False),
    **_TABLE_OPTIONS,
)

#: One row per interface that a worker polls or polled: who holds it, and until when.
leases = sa.Table(
    "mailtrack_leases",
    metadata,
    _key("name", primary_key=True),
    _key("owner", nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    **_TABLE_OPTIONS,
)

#: OAuth 2.0 tokens of the interfaces saved in the store (secrets: never in dumps or reports):
#: ``state`` is the token cache's JSON, changed by compare-and-swap on ``generation``;
#: ``refreshing_until`` is the short lease of the worker fetching a new token.
oauth_tokens = sa.Table(
    "mailtrack_oauth_tokens",
    metadata,
    _key("name", primary_key=True),
    sa.Column("state", BigText, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("refreshing_until", UTCDateTime(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    **_TABLE_OPTIONS,
)
