"""The SQL record store: SQLAlchemy Core 2 on SQLite, PostgreSQL and MariaDB/MySQL.

Install it with ``pip install 'mailtrack[sql]'`` (add ``postgresql`` for psycopg 3 or ``mysql``
for PyMySQL). The tables are plain SQLAlchemy Core tables in :data:`metadata`, every name
starting with ``mailtrack_``, so that they sit beside a host application's own. Their schema
changes only by Alembic revisions shipped with mailtrack: :func:`upgrade` (or ``mailtrack db
upgrade``) brings a database up to date, recording the revision in ``mailtrack_alembic_version``.

Saved mail interfaces are stored *with their password* (``Importer.run_all`` needs it to log
in): protect the database like the mailboxes themselves, or keep passwords out of the store
with ``password_env`` / ``password_file``.
"""

from __future__ import annotations

from ._dialects import POOL_CONNECTIONS
from ._schema import metadata
from ._store import SQLRecordStore
from ._upgrade import Revision, current, history, stamp, upgrade
from ._versions import MIGRATIONS as _MIGRATIONS
from ._versions import head as _head

__all__ = [
    "POOL_CONNECTIONS",
    "SCHEMA_VERSION",
    "Revision",
    "SQLRecordStore",
    "VERSION_LOCATION",
    "current",
    "history",
    "metadata",
    "stamp",
    "upgrade",
]

#: The schema revision this mailtrack reads and writes: the ID of its newest Alembic revision.
SCHEMA_VERSION: str = _head()

#: The folder of mailtrack's Alembic revisions, for a host application that runs them in its own
#: Alembic environment: add it to ``version_locations`` (see the embed how-to).
VERSION_LOCATION: str = str(_MIGRATIONS / "versions")
