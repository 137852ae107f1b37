"""The SQL record store: SQLAlchemy Core 2 on SQLite, PostgreSQL and MariaDB/MySQL.

Install it with ``pip install 'mailtrack[sql]'`` (add ``postgresql`` for psycopg 3 or ``mysql``
for PyMySQL). The tables are plain SQLAlchemy Core tables in :data:`metadata`, every name
starting with ``mailtrack_``, so a host application can create them with its own Alembic
migrations and hand its own :class:`~sqlalchemy.engine.Engine` to :class:`SQLRecordStore`.

Saved mail interfaces are stored *with their password* (``Importer.run_all`` needs it to log
in): protect the database like the mailboxes themselves, or keep passwords out of the store
with ``password_env`` / ``password_file``.
"""

from __future__ import annotations

from ._dialects import POOL_CONNECTIONS
from ._schema import SCHEMA_VERSION, metadata
from ._store import SQLRecordStore

__all__ = ["POOL_CONNECTIONS", "SCHEMA_VERSION", "SQLRecordStore", "metadata"]
