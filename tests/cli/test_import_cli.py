"""``mailtrack import PATH... --interface NAME``: the report, the dry run, the options."""

from __future__ import annotations

import json
import mailbox
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailtrack.cli import cli
from mailtrack.stores.sql import SQLRecordStore
from mailtrack.testing import build_message


def invoke(folder: Path, *args: str) -> Result:
    env = {"COLUMNS": "200", "MAILTRACK_CONFIG": str(folder / "mailtrack.toml"), "MAILTRACK_STORE": None}
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "mailtrack.toml").write_text(
        f'store = "sqlite:///{tmp_path / "mailtrack.db"}"\n\n'
        '[[interfaces]]\nname = "archive"\nprotocol = "deliver"\nproject = "old"\n',
        encoding="utf-8",
    )
    box = mailbox.mbox(tmp_path / "old.mbox")
    for number in range(3):
        box.add(build_message(subject=f"archived {number}", message_id=f"a{number}@example.com"))
    box.close()
    (tmp_path / "evil\x1b]52;c;x\x07.bin").write_bytes(b"\x00\x01 not mail")
    return tmp_path


def test_import_prints_the_report_and_names_what_it_skipped(folder: Path) -> None:
    result = invoke(folder, "import", str(folder), "--interface", "archive")
    assert result.exit_code == 0, result.output
    assert "Import report" in result.output
    assert "Left in" in result.output  # the column of what stays in the archive
    assert "server" not in result.output  # an archive import has none
    assert "no mail" in result.output
    assert "\x1b" not in result.output  # the file name is shown escaped
    with SQLRecordStore(f"sqlite:///{folder / 'mailtrack.db'}") as store:
        assert sorted(record.title for record in store.list_records()) == [f"archived {n}" for n in range(3)]
    again = invoke(folder, "import", str(folder), "--interface", "archive", "--json")
    assert again.exit_code == 0, again.output
    (report,) = json.loads(again.output)
    assert (report["created"], report["already_imported"]) == (0, 3)


def test_the_dry_run_says_what_would_happen_and_writes_nothing(folder: Path) -> None:
    result = invoke(folder, "import", str(folder / "old.mbox"), "--interface", "archive", "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"mbox:{folder / 'old.mbox'}@0: new record" in result.output
    assert "Dry run, nothing was written: 3 messages (3 new record)." in result.output
    assert not (folder / "mailtrack.db").exists()
    as_json = invoke(folder, "import", str(folder), "--interface", "archive", "--dry-run", "--json")
    data = json.loads(as_json.output)
    assert [message["summary"] for message in data["messages"]] == ["new record"] * 3
    assert all("no mail" in note for note in data["notes"])  # the .bin file and mailtrack.toml


def test_dry_run_and_delete_after_do_not_go_together(folder: Path) -> None:
    result = invoke(folder, "import", str(folder), "--interface", "archive", "--dry-run", "--delete-after")
    assert result.exit_code == 2
    assert "leave out --delete-after" in result.output


def test_an_unknown_interface_is_an_error(folder: Path) -> None:
    result = invoke(folder, "import", str(folder), "--interface", "nobody")
    assert result.exit_code == 1
    assert "no mail interface named 'nobody'" in result.output


def test_delete_after_and_history(folder: Path) -> None:
    result = invoke(
        folder, "import", str(folder / "old.mbox"), "--interface", "archive", "--delete-after", "--history"
    )
    assert result.exit_code == 0, result.output
    assert not (folder / "old.mbox").exists()
    with SQLRecordStore(f"sqlite:///{folder / 'mailtrack.db'}") as store:
        assert {record.history for record in store.list_records()} == {True}


@pytest.mark.parametrize("dry_run", [(), ("--dry-run",)])
def test_a_path_that_does_not_exist_is_an_error_before_anything_is_imported(
    folder: Path, dry_run: tuple[str, ...]
) -> None:
    missing = folder / "old-mail"
    result = invoke(
        folder, "import", str(folder / "old.mbox"), str(missing), "--interface", "archive", *dry_run
    )
    assert result.exit_code == 1
    assert f"no such file or folder: {missing}; nothing was imported" in result.output
    assert not (folder / "mailtrack.db").exists()  # the store was not even opened
