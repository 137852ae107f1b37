"""``mailtrack db upgrade | current | history | stamp`` on a SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("alembic")

from click.testing import CliRunner, Result

from _sql_databases import tables_before_migrations
from mailtrack.cli import cli
from mailtrack.stores.sql import SCHEMA_VERSION, SQLRecordStore, current
from mailtrack.stores.sql import _versions as versions


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"}, catch_exceptions=True)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mailtrack.db'}"


def test_upgrade_creates_then_has_nothing_to_do(url: str) -> None:
    first = invoke("--store", url, "db", "upgrade")
    assert first.exit_code == 0, first.output
    assert f"Created the mailtrack schema at {SCHEMA_VERSION}" in first.output
    again = invoke("--store", url, "db", "upgrade")
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output
    assert current(url) == SCHEMA_VERSION


def test_upgrade_upgrades_a_database_from_before_migrations(url: str) -> None:
    tables_before_migrations(url, version_row=True)
    refused = invoke("--store", url, "records", "list")
    assert refused.exit_code == 1
    assert "`mailtrack db upgrade`" in refused.output
    result = invoke("--store", url, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert f"from {versions.BASELINE} to {SCHEMA_VERSION}" in result.output
    assert current(url) == SCHEMA_VERSION


def test_current_and_history(url: str) -> None:
    SQLRecordStore(url).close()
    result = invoke("--store", url, "db", "current")
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    facts = json.loads(invoke("--store", url, "db", "current", "--json").output)
    assert facts == {"current": SCHEMA_VERSION, "head": SCHEMA_VERSION}
    listed = invoke("--store", url, "db", "history")
    assert listed.exit_code == 0, listed.output
    assert [line.split()[0] for line in listed.output.splitlines()] == list(versions.revisions())


def test_stamp_lets_tables_without_a_version_be_upgraded(url: str) -> None:
    tables_before_migrations(url, version_row=False)  # no version row: refused until stamped
    refused = invoke("--store", url, "records", "list")
    assert refused.exit_code == 1
    assert "mailtrack db stamp" in refused.output
    assert "Traceback" not in refused.output
    stamped = invoke("--store", url, "db", "stamp", versions.BASELINE)
    assert stamped.exit_code == 0, stamped.output
    assert invoke("--store", url, "db", "upgrade").exit_code == 0
    assert invoke("--store", url, "records", "list").exit_code == 0


def test_an_older_schema_makes_other_commands_name_the_upgrade(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    SQLRecordStore(url).close()
    known = (*versions.revisions(), "9000_later")
    monkeypatch.setattr(versions, "revisions", lambda: known)
    result = invoke("--store", url, "records", "list")
    assert result.exit_code == 1
    assert "`mailtrack db upgrade`" in result.output


def test_db_refuses_a_memory_store() -> None:
    result = invoke("--store", "memory://", "db", "current")
    assert result.exit_code == 1
    assert "memory://, which has no schema" in result.output


def test_upgrade_names_the_missing_folder_of_a_sqlite_store(tmp_path: Path) -> None:
    folder = tmp_path / "data"  # not made yet, as when the how-to's steps are taken out of order
    result = invoke("--store", f"sqlite:///{folder / 'mailtrack.db'}", "db", "upgrade")
    assert result.exit_code == 1
    assert f"the folder of the SQLite store does not exist: {folder}" in result.output
    assert "unable to open database file" not in result.output
    assert not folder.exists()
