"""Issue #11: the ledger is searched by content, so that the same message under a new key (a
rebuilt IMAP folder with a new UIDVALIDITY, a message an MTA delivers twice) is not imported
twice.

* ``mailtrack_ledger``: index ``ix_mailtrack_ledger_content`` on ``(interface, content_sha256)``.
  Rows written before revision 0002 have no digest and are not found by it; they are still
  matched by their Message-ID.

Revision ID: 0008_issue11_ledger_content
Revises: 0007_issue10_oauth_tokens
"""

from __future__ import annotations

from alembic import op

revision = "0008_issue11_ledger_content"
down_revision: str | None = "0007_issue10_oauth_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_mailtrack_ledger_content", "mailtrack_ledger", ["interface", "content_sha256"])


def downgrade() -> None:
    op.drop_index("ix_mailtrack_ledger_content", table_name="mailtrack_ledger")
