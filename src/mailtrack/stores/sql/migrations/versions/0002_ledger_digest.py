"""The ledger keeps each message's content digest and listed size.

Two nullable columns on ``mailtrack_ledger``: ``content_sha256`` (the SHA-256 of the raw message,
transport undone) and ``listed_size`` (the size the server listed). Existing rows get NULL,
"unknown": their raw bytes are gone, and a digest is never guessed. ``mailtrack_meta``'s
``schema_version`` becomes 2, so that a mailtrack from before migrations refuses the database
instead of writing rows without digests.

Revision ID: 0002_ledger_digest
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_ledger_digest"
down_revision: str | None = "0001_baseline"
branch_labels = None
depends_on = None

_meta = sa.table("mailtrack_meta", sa.column("key", sa.String), sa.column("value", sa.String))


def upgrade() -> None:
    # Adding nullable columns changes no row: on every database (SQLite included) this is an
    # ALTER TABLE … ADD COLUMN, however large the ledger.
    with op.batch_alter_table("mailtrack_ledger") as batch:
        batch.add_column(sa.Column("content_sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("listed_size", sa.BigInteger, nullable=True))
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="2"))


def downgrade() -> None:
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="1"))
    with op.batch_alter_table("mailtrack_ledger") as batch:
        batch.drop_column("listed_size")
        batch.drop_column("content_sha256")
