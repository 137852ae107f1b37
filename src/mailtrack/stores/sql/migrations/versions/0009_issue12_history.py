"""#12: records and details imported from archives of old mail (``mailtrack import --history``).

``mailtrack_records.history`` and ``mailtrack_details.history``: true for what an archive import
with ``--history`` wrote (its times are the mail's Date; a host leaves it out of notifications).
Both are new columns, false for every row there is (``server_default``): no row is rewritten on
PostgreSQL and MariaDB; SQLite's batch mode copies the two tables.

Revision ID: 0009_issue12_history
Revises: 0008_issue11_ledger_content
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_issue12_history"
down_revision: str | None = "0008_issue11_ledger_content"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailtrack_records") as batch:
        batch.add_column(sa.Column("history", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("mailtrack_details") as batch:
        batch.add_column(sa.Column("history", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("mailtrack_details") as batch:
        batch.drop_column("history")
    with op.batch_alter_table("mailtrack_records") as batch:
        batch.drop_column("history")
