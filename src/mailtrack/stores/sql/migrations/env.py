"""The Alembic environment of mailtrack's revisions, run by :func:`mailtrack.stores.sql.upgrade`.

It runs on the connection the caller hands over (``config.attributes["connection"]``), which
already holds the schema lock and a transaction, and records revisions in mailtrack's own
version table. A host application that runs mailtrack's revisions in its *own* Alembic
environment (``version_locations``) does not use this file.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from mailtrack.stores.sql._schema import metadata
from mailtrack.stores.sql._versions import VERSION_TABLE

connection = context.config.attributes.get("connection")
if context.is_offline_mode() or not isinstance(connection, Connection):
    raise RuntimeError(
        "mailtrack's migrations run on a live database: use `mailtrack db upgrade` or "
        "mailtrack.stores.sql.upgrade(engine)"
    )
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite alters most tables only by rebuilding them: batch mode does that for op.batch_alter_table.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
