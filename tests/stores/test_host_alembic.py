"""A host application that runs mailtrack's revisions in its *own* Alembic environment, through
``version_locations``, as the embed how-to shows: ``alembic upgrade heads`` creates both, the
store accepts the schema, and ``mailtrack.stores.sql.current`` finds mailtrack's revision in the
host's ``alembic_version``."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("alembic", reason="migrations need Alembic (pip install 'mailtrack[sql]')")

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from mailtrack import CommitOutcome, CreateRecord
from mailtrack.stores.sql import SCHEMA_VERSION, VERSION_LOCATION, SQLRecordStore, current
from mailtrack.testing._builders import make_incoming

HOST_ENV = """
from alembic import context
import sqlalchemy as sa

from mailtrack.stores.sql import SQLRecordStore

app_metadata = sa.MetaData()
sa.Table("tickets", app_metadata, sa.Column("id", sa.Integer, primary_key=True))

connectable = sa.create_engine(context.config.get_main_option("sqlalchemy.url"))
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=[app_metadata, SQLRecordStore.metadata])
    with context.begin_transaction():
        context.run_migrations()
"""

HOST_REVISION = """
from alembic import op
import sqlalchemy as sa

revision = "a1b2c3d4e5f6"
down_revision = None
branch_labels = ("app",)
depends_on = None


def upgrade():
    op.create_table("tickets", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("tickets")
"""


def _host(tmp_path: Path) -> Config:
    folder = tmp_path / "host_migrations"
    (folder / "versions").mkdir(parents=True)
    (folder / "env.py").write_text(textwrap.dedent(HOST_ENV))
    (folder / "versions" / "a1b2c3d4e5f6_tickets.py").write_text(textwrap.dedent(HOST_REVISION))
    config = Config()
    config.set_main_option("script_location", str(folder))
    config.set_main_option("path_separator", "os")
    # The host's own revisions and mailtrack's, side by side.
    config.set_main_option("version_locations", os.pathsep.join([str(folder / "versions"), VERSION_LOCATION]))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{tmp_path / 'host.db'}")
    return config


def test_a_host_runs_mailtracks_revisions_with_its_own(tmp_path: Path) -> None:
    config = _host(tmp_path)
    command.upgrade(config, "heads")
    url = f"sqlite:///{tmp_path / 'host.db'}"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        versions = set(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
    assert versions == {"a1b2c3d4e5f6", SCHEMA_VERSION}
    assert "mailtrack_alembic_version" not in sa.inspect(engine).get_table_names()
    assert current(engine) == SCHEMA_VERSION
    with SQLRecordStore(engine, create_schema=False) as store:
        action = CreateRecord(message=make_incoming(), project="p", title="t")
        assert store.commit("support", "uid-1", action).outcome is CommitOutcome.CREATED
    engine.dispose()
