"""Issue #18: run reports whose counts add up to what the server offered.

* ``mailtrack_runs``: ``already_imported`` and ``left_on_server`` (integers), ``NULL`` for the
  runs saved before (their ``skipped`` counted both, which cannot be told apart now).

Revision ID: 0005_issue18b_run_counts
Revises: 0004_issue18a_defects_updated
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_issue18b_run_counts"
down_revision: str | None = "0004_issue18a_defects_updated"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailtrack_runs") as batch:
        batch.add_column(sa.Column("already_imported", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("left_on_server", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailtrack_runs") as batch:
        batch.drop_column("left_on_server")
        batch.drop_column("already_imported")
