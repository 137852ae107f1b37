"""A database as mailtrack made it before migrations, for the upgrade tests.

Its tables are the baseline revision's (``0001_baseline``), not today's metadata, which later
revisions have changed; then the Alembic version table is taken away again, and the
``schema_version`` row written as that mailtrack wrote it (or left out).
"""

from __future__ import annotations

import sqlalchemy as sa

from mailtrack.stores.sql import _schema as tables
from mailtrack.stores.sql import _versions as versions
from mailtrack.stores.sql import upgrade


def legacy_tables(engine: sa.Engine, *, version_row: bool = True) -> None:
    """Make the tables of mailtrack before migrations in the empty database of *engine*."""
    upgrade(engine, versions.BASELINE)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE {versions.VERSION_TABLE}"))
        conn.execute(sa.delete(tables.meta))
        if version_row:
            conn.execute(sa.insert(tables.meta).values(key="schema_version", value="1"))
