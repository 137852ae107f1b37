"""Schema migrations: mailtrack's Alembic revisions, the version table, upgrade / stamp / current,
and what the store does with a database at another revision, on SQLite, PostgreSQL and MariaDB.

Each test gets an empty database of its own (a SQLite file, or a scratch database on the
server), so that creating and dropping tables never touches another test's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("alembic", reason="migrations need Alembic (pip install 'mailtrack[sql]')")

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from _sql_databases import (
    ADDED_SINCE_BASELINE,
    INDEXES_ADDED_SINCE_BASELINE,
    TABLES_ADDED_SINCE_BASELINE,
    scratch_database,
    tables_before_migrations,
)
from mailtrack import CommitOutcome, CreateRecord, SchemaVersionError, StoreError
from mailtrack.stores.sql import SCHEMA_VERSION, SQLRecordStore, current, history, stamp, upgrade
from mailtrack.stores.sql import _schema as tables
from mailtrack.stores.sql import _versions as versions
from mailtrack.testing._builders import make_incoming

BACKENDS = ["sqlite", "postgresql", "mariadb"]
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(params=BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.URL]:
    """The URL of an empty database of its own on each backend."""
    if request.param == "sqlite":
        yield sa.make_url(f"sqlite:///{tmp_path / 'mailtrack.db'}")
        return
    with scratch_database(request.param) as url:
        yield url


@pytest.fixture
def engine(empty_db: sa.URL) -> Iterator[sa.Engine]:
    engine = sa.create_engine(empty_db)
    yield engine
    engine.dispose()


def _table_names(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def _commit_one(store: SQLRecordStore, uid: str = "uid-1") -> CommitOutcome:
    action = CreateRecord(message=make_incoming(message_id=f"<{uid}@example.com>"), project="p", title="t")
    return store.commit("support", uid, action).outcome


def _with_a_later_revision(monkeypatch: pytest.MonkeyPatch) -> str:
    """Make this mailtrack know one revision more than the database can be at."""
    later = "9000_later"
    known = (*versions.revisions(), later)
    monkeypatch.setattr(versions, "revisions", lambda: known)
    return later


# -- the revisions themselves ------------------------------------------------------------------------


def test_the_revisions_form_one_line_with_one_head() -> None:
    scripts = ScriptDirectory(str(versions.MIGRATIONS))
    assert scripts.get_heads() == [versions.head()] == [SCHEMA_VERSION]
    line = [revision.id for revision in history()]
    assert line == list(versions.revisions())  # file order is revision order
    for before, revision in zip([None, *line[:-1]], history(), strict=True):
        assert revision.down_revision == before
        assert len(revision.id) <= 32
        assert revision.description


def test_each_revision_is_named_after_its_file() -> None:
    for path in sorted((versions.MIGRATIONS / "versions").glob("*.py")):
        script = ScriptDirectory(str(versions.MIGRATIONS)).get_revision(path.stem)
        assert script is not None, path.name
        assert script.revision == path.stem, path.name


def _differences(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": versions.VERSION_TABLE})
        return list(compare_metadata(context, tables.metadata))


@pytest.mark.integration
def test_the_revisions_build_exactly_the_models(engine: sa.Engine) -> None:
    # Every revision in turn on an empty database; autogenerate must then find nothing to do.
    assert upgrade(engine) is None
    assert _differences(engine) == []
    assert current(engine) == SCHEMA_VERSION


#: What revisions after the baseline changed: the models differ from the baseline by these alone.
AFTER_BASELINE = (
    {("add_column", table, column) for table, columns in ADDED_SINCE_BASELINE.items() for column in columns}
    | {
        ("add_index", table, index)
        for table, indexes in INDEXES_ADDED_SINCE_BASELINE.items()
        for index in indexes
    }
    | {("add_table", table, "") for table in TABLES_ADDED_SINCE_BASELINE}
)
FIXTURE = Path(__file__).parent / "fixtures" / "schema-0001.db"


def _changes(differences: list[object]) -> set[tuple[str, str, str]]:
    found: set[tuple[str, str, str]] = set()
    for difference in differences:
        assert isinstance(difference, tuple), difference  # a column's changes come as a list
        if difference[0] == "add_index":
            _kind, index = difference
            found.add(("add_index", index.table.name, index.name))
            continue
        if difference[0] == "add_table":
            found.add(("add_table", difference[1].name, ""))
            continue
        kind, _schema, table, column = difference
        found.add((kind, table, column.name))
    return found


@pytest.mark.integration
def test_the_baseline_is_the_schema_before_migrations(engine: sa.Engine) -> None:
    upgrade(engine, versions.BASELINE)
    assert _changes(_differences(engine)) == AFTER_BASELINE
    if engine.dialect.name in {"mysql", "mariadb"}:
        with engine.connect() as conn:
            options = conn.exec_driver_sql(
                "SELECT table_name, table_collation, engine FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name LIKE 'mailtrack\\_%%'"
            ).all()
        assert {(collation, kind) for _name, collation, kind in options} == {("utf8mb4_bin", "InnoDB")}
        # The baseline's nine tables and the version table.
        assert len(options) == 10


def test_the_baseline_is_what_mailtrack_before_migrations_made(tmp_path: Path) -> None:
    # schema-0001.db was written by that mailtrack (fixtures/make_schema_0001.py).
    copy = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, copy)
    engine = sa.create_engine(f"sqlite:///{copy}")
    assert _changes(_differences(engine)) == AFTER_BASELINE
    engine.dispose()


@pytest.mark.integration
def test_the_store_creates_the_same_schema_as_the_revisions(engine: sa.Engine) -> None:
    SQLRecordStore(engine).close()
    assert _differences(engine) == []
    with engine.connect() as conn:
        marks = conn.execute(sa.select(tables.meta.c.value)).scalars().all()
    assert current(engine) == SCHEMA_VERSION
    # The schema_version row equals what the revisions write.
    assert marks == [versions._mark_at(SCHEMA_VERSION)]


# -- where the revision is recorded ----------------------------------------------------------------


@pytest.mark.integration
def test_the_hosts_alembic_version_table_is_never_touched(engine: sa.Engine) -> None:
    host = sa.Table(
        "alembic_version", sa.MetaData(), sa.Column("version_num", sa.String(32), primary_key=True)
    )
    host.create(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(host).values(version_num="a1b2c3d4e5f6"))
    SQLRecordStore(engine).close()
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.select(host.c.version_num)).scalars().all() == ["a1b2c3d4e5f6"]
        ours = conn.execute(sa.select(versions.version_table.c.version_num)).scalars().all()
    assert ours == [SCHEMA_VERSION]


def test_revisions_run_by_the_hosts_alembic_are_recognised(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'host.db'}")
    upgrade(engine)
    with engine.begin() as conn:  # as if the host's env.py had run them (version_locations)
        conn.exec_driver_sql(f"ALTER TABLE {versions.VERSION_TABLE} RENAME TO alembic_version")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('a1b2c3d4e5f6')")
    with SQLRecordStore(engine, create_schema=False) as store:
        assert _commit_one(store) is CommitOutcome.CREATED
    assert current(engine) == SCHEMA_VERSION
    with pytest.raises(SchemaVersionError, match="alembic upgrade heads"):
        upgrade(engine)
    engine.dispose()


# -- creating, refusing -----------------------------------------------------------------------------


@pytest.mark.integration
def test_create_schema_makes_the_newest_schema_in_an_empty_database(empty_db: sa.URL) -> None:
    with SQLRecordStore(empty_db) as store:
        assert _commit_one(store) is CommitOutcome.CREATED
        assert current(store.engine) == SCHEMA_VERSION
        store.create_schema()  # again: nothing to do
    with SQLRecordStore(empty_db, create_schema=False) as store:
        assert store.is_imported("support", "uid-1")


@pytest.mark.integration
def test_an_older_schema_is_refused_naming_the_upgrade_command(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    SQLRecordStore(engine).close()
    _with_a_later_revision(monkeypatch)
    for create_schema in (True, False):
        with pytest.raises(SchemaVersionError, match="older than 9000_later") as info:
            SQLRecordStore(engine, create_schema=create_schema)
        assert "`mailtrack db upgrade`" in str(info.value)
    assert current(engine) == versions.revisions()[-2]  # nothing was changed


@pytest.mark.integration
def test_a_newer_schema_is_refused_naming_the_cause(engine: sa.Engine) -> None:
    SQLRecordStore(engine).close()
    with engine.begin() as conn:
        conn.execute(sa.update(versions.version_table).values(version_num="9000_\x1b[31mred"))
    for create_schema in (True, False):
        with pytest.raises(SchemaVersionError, match=r"newer mailtrack .*upgrade mailtrack") as info:
            SQLRecordStore(engine, create_schema=create_schema)
        assert "\x1b" not in str(info.value)
    with pytest.raises(SchemaVersionError, match="newer mailtrack"):
        upgrade(engine)


@pytest.mark.parametrize(("mark", "words"), [("3", "newer mailtrack"), ("banana", "does not know")])
def test_an_unknown_schema_version_row_is_refused(tmp_path: Path, mark: str, words: str) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'odd.db'}")
    tables.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(tables.meta).values(key="schema_version", value=mark))
    with pytest.raises(SchemaVersionError, match=words):
        SQLRecordStore(engine)
    engine.dispose()


@pytest.mark.integration
def test_tables_without_a_version_are_refused_naming_stamp(engine: sa.Engine) -> None:
    tables_before_migrations(engine, version_row=False)
    for create_schema in (True, False):
        with pytest.raises(SchemaVersionError, match="records no schema version") as info:
            SQLRecordStore(engine, create_schema=create_schema)
        assert "`mailtrack db stamp REVISION`" in str(info.value)
    with pytest.raises(SchemaVersionError, match="mailtrack db stamp"):
        upgrade(engine)
    assert versions.VERSION_TABLE not in _table_names(engine)  # refused: nothing written
    stamp(engine, versions.BASELINE)
    upgrade(engine)
    with SQLRecordStore(engine, create_schema=False) as store:
        assert _commit_one(store) is CommitOutcome.CREATED


def test_stamp_refuses_a_revision_mailtrack_does_not_have(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="'0001_nonsense' is not a mailtrack schema revision"):
        stamp(f"sqlite:///{tmp_path / 'x.db'}", "0001_nonsense")


def test_missing_tables_without_create_schema_are_an_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="tables do not exist") as info:
        SQLRecordStore(f"sqlite:///{tmp_path / 'empty.db'}", create_schema=False)
    assert not isinstance(info.value, SchemaVersionError)
    assert "mailtrack db upgrade" in str(info.value)


# -- a database of mailtrack before migrations ----------------------------------------------------


@pytest.mark.integration
def test_a_database_from_before_migrations_is_the_baseline(engine: sa.Engine) -> None:
    tables_before_migrations(engine)
    assert current(engine) == versions.BASELINE
    assert versions.VERSION_TABLE not in _table_names(engine)  # reading wrote nothing
    assert upgrade(engine) == versions.BASELINE
    assert current(engine) == SCHEMA_VERSION
    assert _differences(engine) == []


# -- twice, and from several processes at once ----------------------------------------------------

_UPGRADE = "import sys; from mailtrack.stores.sql import upgrade; upgrade(sys.argv[1])"
_OPEN = "import sys; from mailtrack.stores.sql import SQLRecordStore; SQLRecordStore(sys.argv[1]).close()"


@pytest.mark.integration
@pytest.mark.parametrize("script", [_UPGRADE, _OPEN], ids=["upgrade", "create_schema"])
def test_several_processes_creating_the_schema_at_once_take_turns(engine: sa.Engine, script: str) -> None:
    url = engine.url.render_as_string(hide_password=False)
    processes = [
        subprocess.Popen([sys.executable, "-c", script, url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [process.communicate(timeout=300)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], errors
    assert current(engine) == SCHEMA_VERSION
    assert _differences(engine) == []
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(versions.version_table)).scalar() == 1


@pytest.mark.integration
def test_several_processes_upgrading_an_old_database_at_once_take_turns(engine: sa.Engine) -> None:
    tables_before_migrations(engine)
    url = engine.url.render_as_string(hide_password=False)
    processes = [
        subprocess.Popen([sys.executable, "-c", _UPGRADE, url], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    errors = [process.communicate(timeout=300)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], errors
    assert current(engine) == SCHEMA_VERSION
    assert _differences(engine) == []


def test_upgrade_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    assert upgrade(url) is None
    with SQLRecordStore(url) as store:
        _commit_one(store)
    assert upgrade(url) == SCHEMA_VERSION
    with SQLRecordStore(url, create_schema=False) as store:
        assert store.is_imported("support", "uid-1")


def test_upgrading_the_memory_database_of_a_store() -> None:
    with SQLRecordStore("sqlite://") as store:
        assert upgrade(store.engine) == SCHEMA_VERSION
        assert _commit_one(store) is CommitOutcome.CREATED


# -- 0004 (issue #18): defects, refused attachments, the updated_at index -------------------------


def test_details_from_before_0004_read_back_without_defects(engine: sa.Engine) -> None:
    upgrade(engine, versions.BASELINE)
    with engine.begin() as conn:  # a record and a detail as the baseline's columns hold them
        conn.execute(
            sa.text(
                "INSERT INTO mailtrack_records (project, title, fields, created_at, updated_at) "
                "VALUES ('p', 'old', '{}', :now, :now)"
            ),
            {"now": "2024-01-01 00:00:00"},
        )
        conn.execute(
            sa.text(
                "INSERT INTO mailtrack_details (record_id, message_id, message_id_sha256, sender, "
                "to_addresses, cc_addresses, sent_at, received_at, subject, text, html, headers, "
                "message_class, interface) VALUES (1, 'old@example.com', :digest, NULL, '[]', '[]', "
                ":now, :now, 'old', 'text', NULL, '', 'normal', 'support')"
            ),
            {"digest": "0" * 64, "now": "2024-01-01 00:00:00"},
        )
    upgrade(engine)
    assert {index["name"] for index in sa.inspect(engine).get_indexes("mailtrack_records")} >= {
        "ix_mailtrack_records_updated_at"
    }
    with SQLRecordStore(engine, create_schema=False) as store:
        (old,) = store.get_record(1).details
        assert (old.defects, old.refused_attachments) == ((), ())
        assert _commit_one(store) is CommitOutcome.CREATED
        assert [record.title for record in store.list_records(order="updated")] == ["t", "old"]
