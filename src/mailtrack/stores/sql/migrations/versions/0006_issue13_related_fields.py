"""#13: a record's related record, and the fields a detail changed.

``mailtrack_records.related_record_id``: the record a refused sender's message named when it
opened this one instead (NULL for the records there are). ``mailtrack_details.field_changes``:
the record fields the message changed, as JSON ``{name: [old, new]}`` (NULL: none, as for every
detail there is). Both are new nullable columns: no row is rewritten on PostgreSQL and MariaDB;
SQLite's batch mode copies the two tables.

Revision ID: 0006_issue13_related_fields
Revises: 0005_issue18b_run_counts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_issue13_related_fields"
down_revision: str | None = "0005_issue18b_run_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mailtrack_records") as batch:
        batch.add_column(sa.Column("related_record_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("mailtrack_details") as batch:
        batch.add_column(sa.Column("field_changes", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailtrack_details") as batch:
        batch.drop_column("field_changes")
    with op.batch_alter_table("mailtrack_records") as batch:
        batch.drop_column("related_record_id")
