"""OAuth 2.0 tokens of the interfaces saved in the store (``mailtrack_oauth_tokens``).

One row per interface: the token cache's state (access token, newest refresh token), changed
by compare-and-swap on ``generation``, and the short lease of the worker that is fetching a new
token. A new, empty table: nothing to fill.

Revision ID: 0007_issue10_oauth_tokens
Revises: 0006_issue13_related_fields
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, postgresql

revision = "0007_issue10_oauth_tokens"
down_revision: str | None = "0006_issue13_related_fields"
branch_labels = None
depends_on = None

_MARIADB = ("mysql", "mariadb")
_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *_MARIADB)
_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), *_MARIADB).with_variant(postgresql.VARCHAR(), "postgresql")
_OPTIONS: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def upgrade() -> None:
    op.create_table(
        "mailtrack_oauth_tokens",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("state", _TEXT, nullable=True),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("refreshing_until", _TIME, nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_mailtrack_oauth_tokens"),
        **_OPTIONS,
    )


def downgrade() -> None:
    op.drop_table("mailtrack_oauth_tokens")
