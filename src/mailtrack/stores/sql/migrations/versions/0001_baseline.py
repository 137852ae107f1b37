"""The schema of mailtrack before migrations (``schema_version`` 1 in ``mailtrack_meta``).

Every later revision upgrades from this one. A database made by that mailtrack is recognised
as this revision by its ``schema_version`` row, so this revision never runs on it.

Revision ID: 0001_baseline
Revises: (none)
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0001_baseline"
down_revision: str | None = None
# A host application that runs mailtrack's revisions in its own Alembic environment upgrades
# them with ``alembic upgrade mailtrack@head`` (or ``heads``).
branch_labels = ("mailtrack",)
depends_on = None

# The types as they were, spelled out: a revision never changes when the models do.
_MARIADB = ("mysql", "mariadb")
_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MARIADB)
# (On PostgreSQL the text columns came out as VARCHAR without a length, which is TEXT there.)
_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), *_MARIADB).with_variant(postgresql.VARCHAR(), "postgresql")
_BYTES = sa.LargeBinary().with_variant(mysql.LONGBLOB(), *_MARIADB)
_JSON = sa.JSON()
_OPTIONS: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def _key(name: str, **kwargs: Any) -> sa.Column[str]:
    return sa.Column(name, sa.String(255), **kwargs)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, autoincrement=True, nullable=False)


def upgrade() -> None:
    op.create_table(
        "mailtrack_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_mailtrack_meta"),
        **_OPTIONS,
    )
    op.create_table(
        "mailtrack_records",
        _id(),
        _key("project", nullable=False),
        sa.Column("title", _TEXT, nullable=False),
        sa.Column("fields", _JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mailtrack_records"),
        **_OPTIONS,
    )
    op.create_index("ix_mailtrack_records_project", "mailtrack_records", ["project"])
    op.create_table(
        "mailtrack_details",
        _id(),
        sa.Column("record_id", sa.Integer, nullable=False),
        sa.Column("message_id", _TEXT, nullable=False),
        sa.Column("message_id_sha256", sa.String(64), nullable=False),
        sa.Column("sender", _JSON, nullable=True),
        sa.Column("to_addresses", _JSON, nullable=False),
        sa.Column("cc_addresses", _JSON, nullable=False),
        sa.Column("sent_at", _TIME, nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.Column("subject", _TEXT, nullable=False),
        sa.Column("text", _TEXT, nullable=False),
        sa.Column("html", _TEXT, nullable=True),
        sa.Column("headers", _TEXT, nullable=False),
        sa.Column("message_class", sa.String(32), nullable=False),
        _key("interface", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mailtrack_details"),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["mailtrack_records.id"],
            name="fk_mailtrack_details_record_id",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("message_id_sha256", name="uq_mailtrack_details_message_id_sha256"),
        **_OPTIONS,
    )
    op.create_index("ix_mailtrack_details_record_id", "mailtrack_details", ["record_id"])
    op.create_table(
        "mailtrack_attachments",
        _id(),
        sa.Column("detail_id", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("filename", _TEXT, nullable=False),
        sa.Column("original_filename", _TEXT, nullable=False),
        sa.Column("content_type", _TEXT, nullable=False),
        sa.Column("content_id", _TEXT, nullable=True),
        sa.Column("disposition", sa.String(32), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", _BYTES, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mailtrack_attachments"),
        sa.ForeignKeyConstraint(
            ["detail_id"],
            ["mailtrack_details.id"],
            name="fk_mailtrack_attachments_detail_id",
            ondelete="CASCADE",
        ),
        **_OPTIONS,
    )
    op.create_index("ix_mailtrack_attachments_detail_id", "mailtrack_attachments", ["detail_id"])
    op.create_table(
        "mailtrack_ledger",
        _id(),
        _key("interface", nullable=False),
        _key("uid", nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("record_id", sa.Integer, nullable=True),
        sa.Column("detail_id", sa.Integer, nullable=True),
        sa.Column("committed_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mailtrack_ledger"),
        sa.UniqueConstraint("interface", "uid", name="uq_mailtrack_ledger_interface_uid"),
        **_OPTIONS,
    )
    op.create_table(
        "mailtrack_quarantine",
        _id(),
        _key("interface", nullable=False),
        _key("uid", nullable=False),
        sa.Column("error", _TEXT, nullable=False),
        sa.Column("quarantined_at", _TIME, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("raw", _BYTES, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mailtrack_quarantine"),
        sa.UniqueConstraint("interface", "uid", name="uq_mailtrack_quarantine_interface_uid"),
        **_OPTIONS,
    )
    op.create_table(
        "mailtrack_interfaces",
        _key("name", nullable=False),
        sa.Column("config", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_mailtrack_interfaces"),
        **_OPTIONS,
    )
    op.create_table(
        "mailtrack_runs",
        _id(),
        _key("interface", nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=False),
        sa.Column("imported", sa.Integer, nullable=False),
        sa.Column("created", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("error", _TEXT, nullable=True),
        sa.Column("classes", _JSON, nullable=False),
        sa.Column("notes", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mailtrack_runs"),
        **_OPTIONS,
    )
    op.create_index("ix_mailtrack_runs_interface", "mailtrack_runs", ["interface"])
    op.create_table(
        "mailtrack_leases",
        _key("name", nullable=False),
        _key("owner", nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_mailtrack_leases"),
        **_OPTIONS,
    )
    meta = sa.table("mailtrack_meta", sa.column("key", sa.String), sa.column("value", sa.String))
    op.bulk_insert(meta, [{"key": "schema_version", "value": "1"}])


def downgrade() -> None:
    for name in (
        "mailtrack_leases",
        "mailtrack_runs",
        "mailtrack_interfaces",
        "mailtrack_quarantine",
        "mailtrack_ledger",
        "mailtrack_attachments",
        "mailtrack_details",
        "mailtrack_records",
        "mailtrack_meta",
    ):
        op.drop_table(name)
