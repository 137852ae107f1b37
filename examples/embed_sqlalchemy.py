"""Embed the SQL store in an application that already has its own SQLAlchemy engine and tables.

Shows how a help desk that keeps its own tables (here: ``agents`` and ``ticket_assignments``)
hands *its* engine to :class:`~mailtrack.stores.sql.SQLRecordStore`:

* the mailtrack tables (all named ``mailtrack_*``) live in the application's database, created
  and later upgraded by the application's own schema step, which calls
  :func:`mailtrack.stores.sql.upgrade` (mailtrack's Alembic revisions, recorded in
  ``mailtrack_alembic_version``, never in the application's ``alembic_version``);
* ``create_schema=False`` because the schema step made the tables; the store still checks
  that they are at the revision this mailtrack needs;
* the application joins its own table to ``mailtrack_records`` in one query;
* closing the store leaves the application's engine open (the store closes only what it opened).

Run it with (needs ``pip install 'mailtrack[sql]'``)::

    python examples/embed_sqlalchemy.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import sqlalchemy as sa

from mailtrack import Importer
from mailtrack.stores.sql import SQLRecordStore, upgrade
from mailtrack.testing import POP3TestServer, build_message

# -- the host application's own schema --------------------------------------------------------

app_metadata = sa.MetaData()
agents = sa.Table(
    "agents",
    app_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
)
ticket_assignments = sa.Table(
    "ticket_assignments",
    app_metadata,
    # A plain integer, not a foreign key: the two schemas are migrated independently.
    sa.Column("record_id", sa.Integer, primary_key=True),
    sa.Column("agent_id", sa.ForeignKey("agents.id"), nullable=False),
)
mailtrack_records = SQLRecordStore.metadata.tables["mailtrack_records"]


def create_schema(engine: sa.Engine) -> None:
    """The application's schema step (run at each deployment): its own tables and mailtrack's."""
    app_metadata.create_all(engine)  # an application with Alembic runs its own upgrade here
    upgrade(engine)  # creates mailtrack's tables, or brings them up to date; safe to run again


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        engine = sa.create_engine(f"sqlite:///{Path(folder) / 'helpdesk.db'}")  # the app's engine
        create_schema(engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(agents), [{"id": 1, "name": "Dana"}, {"id": 2, "name": "Eli"}])

        messages = [
            build_message(subject="Printer jams", message_id="<1@customer.example>"),
            build_message(subject="VPN drops every hour", message_id="<2@customer.example>"),
        ]
        with POP3TestServer(messages) as server, SQLRecordStore(engine, create_schema=False) as store:
            report = Importer(store=store).run(server.interface(name="support"))
            print(f"imported {report.imported} messages into {store!r}")

            # The application assigns the new records to its agents, in its own table …
            records = store.list_records(project="default")
            with engine.begin() as conn:
                conn.execute(
                    sa.insert(ticket_assignments),
                    [{"record_id": record.id, "agent_id": 1 + n % 2} for n, record in enumerate(records)],
                )

        # … and, the store closed, still uses its engine: one query over both schemas.
        query = (
            sa.select(mailtrack_records.c.id, mailtrack_records.c.title, agents.c.name)
            .join(ticket_assignments, ticket_assignments.c.record_id == mailtrack_records.c.id)
            .join(agents, agents.c.id == ticket_assignments.c.agent_id)
            .order_by(mailtrack_records.c.id)
        )
        with engine.connect() as conn:
            rows = conn.execute(query).all()
        for record_id, title, agent in rows:
            print(f"  #{record_id} {title!r} → {agent}")
        assert [row.title for row in rows] == ["Printer jams", "VPN drops every hour"]
        engine.dispose()


if __name__ == "__main__":
    main()
