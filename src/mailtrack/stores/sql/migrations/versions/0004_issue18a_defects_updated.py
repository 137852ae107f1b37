"""Issue #18: an index for ``list_records(order="updated", updated_since=...)``, and what a
detail keeps besides the mail: its defects and the attachments its interface refused.

* ``mailtrack_records``: index ``ix_mailtrack_records_updated_at``.
* ``mailtrack_details``: ``defects`` (JSON list of strings) and ``refused_attachments`` (JSON
  list of objects), both ``NULL`` for the details written before (nothing was kept then).

Revision ID: 0004_issue18a_defects_updated
Revises: 0003_issue14_attempts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_issue18a_defects_updated"
down_revision: str | None = "0003_issue14_attempts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_mailtrack_records_updated_at", "mailtrack_records", ["updated_at"])
    with op.batch_alter_table("mailtrack_details") as batch:
        batch.add_column(sa.Column("defects", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("refused_attachments", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailtrack_details") as batch:
        batch.drop_column("refused_attachments")
        batch.drop_column("defects")
    op.drop_index("ix_mailtrack_records_updated_at", table_name="mailtrack_records")
