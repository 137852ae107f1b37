"""Conversion attempts that never finished: the crash-loop guard (issue 14.5).

A new, empty table ``mailtrack_attempts``: the importer counts an attempt per message before it
converts it and deletes the row once the message was committed or quarantined. Nothing to fill;
instant on any database.

Revision ID: 0003_issue14_attempts
Revises: 0002_ledger_digest
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003_issue14_attempts"
down_revision: str | None = "0002_ledger_digest"
branch_labels = None
depends_on = None

_MARIADB = ("mysql", "mariadb")
_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MARIADB)
_OPTIONS: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def upgrade() -> None:
    op.create_table(
        "mailtrack_attempts",
        sa.Column("interface", sa.String(255), nullable=False),
        sa.Column("uid", sa.String(255), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("attempted_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("interface", "uid", name="pk_mailtrack_attempts"),
        **_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("mailtrack_attempts")
