"""Paths and files: relative paths follow the configuration file, reading never creates a
database, a missing folder is named, and a missing configuration file is said first."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("sqlalchemy")

from _cli import PASSWORD, interface_entry, invoke
from mailtrack import load_config
from mailtrack.stores import SQLRecordStore
from mailtrack.testing import POP3TestServer, build_message


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding mailtrack.toml with relative paths; the tests run in another folder."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return folder


def write_config(folder: Path, store: str, server: POP3TestServer | None = None) -> Path:
    text = f'store = "{store}"\n'
    if server is not None:
        text += interface_entry(server, 'password_file = "secrets/password.txt"')
    path = folder / "mailtrack.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_config_takes_relative_paths_relative_to_the_file(elsewhere: Path) -> None:
    path = elsewhere / "mailtrack.toml"
    path.write_text(
        'store = "sqlite:///data/mailtrack.db"\n[[interfaces]]\nname = "a"\nserver = "pop.example.com"\n'
        'login = "a"\npassword_file = "pw.txt"\nca_file = "/etc/ssl/ca.pem"\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.store == f"sqlite:///{elsewhere / 'data' / 'mailtrack.db'}"
    assert config.interfaces[0].password_file == str(elsewhere / "pw.txt")
    assert config.interfaces[0].ca_file == "/etc/ssl/ca.pem"  # absolute: unchanged
    # An absolute SQLite path, another database and a dict stay as they are.
    assert load_config({"store": "sqlite:///x.db"}).store == "sqlite:///x.db"
    path.write_text('store = "sqlite:////var/lib/x.db"\n', encoding="utf-8")
    assert load_config(path).store == "sqlite:////var/lib/x.db"
    path.write_text('store = "postgresql://db.example.com/mailtrack"\n', encoding="utf-8")
    assert load_config(path).store == "postgresql://db.example.com/mailtrack"


def test_run_with_config_elsewhere_uses_the_files_folder(elsewhere: Path) -> None:
    with POP3TestServer(
        [build_message(subject="Printer jammed")], user="support", password=PASSWORD
    ) as server:
        config = write_config(elsewhere, "sqlite:///mailtrack.db", server)
        (elsewhere / "secrets").mkdir()
        (elsewhere / "secrets" / "password.txt").write_text(PASSWORD + "\n", encoding="utf-8")
        result = invoke("--config", str(config), "run")
    assert result.exit_code == 0, result.output
    assert not Path("mailtrack.db").exists()  # nothing in the current directory
    with SQLRecordStore(f"sqlite:///{elsewhere / 'mailtrack.db'}") as store:
        assert [record.title for record in store.list_records()] == ["Printer jammed"]
    listed = invoke("--config", str(config), "records", "list")
    assert "Printer jammed" in listed.output


@pytest.mark.parametrize(
    "command",
    [("records", "list"), ("records", "show", "1"), ("quarantine", "list"), ("quarantine", "show", "1")],
)
def test_reading_commands_say_there_is_no_database_and_create_none(
    elsewhere: Path, command: tuple[str, ...]
) -> None:
    config = write_config(elsewhere, "sqlite:///mailtrack.db")
    result = invoke("--config", str(config), *command)
    assert result.exit_code == 1
    assert f"no database at {elsewhere / 'mailtrack.db'}" in result.output
    assert f"store in {config}" in result.output
    assert not (elsewhere / "mailtrack.db").exists()


def test_interfaces_list_and_check_work_without_creating_a_database(elsewhere: Path) -> None:
    with POP3TestServer([], user="support", password=PASSWORD) as server:
        config = write_config(elsewhere, "sqlite:///mailtrack.db", server)
        (elsewhere / "secrets").mkdir()
        (elsewhere / "secrets" / "password.txt").write_text(PASSWORD + "\n", encoding="utf-8")
        listed = invoke("--config", str(config), "interfaces", "list")
        checked = invoke("--config", str(config), "check")
    assert listed.exit_code == 0, listed.output
    assert "support" in listed.output
    assert "never ran" in listed.output
    assert checked.exit_code == 0, checked.output
    assert "OK" in checked.output
    for output in (listed.output, checked.output):
        assert f"no database at {elsewhere / 'mailtrack.db'}" in output
    assert not (elsewhere / "mailtrack.db").exists()


def test_a_store_in_a_missing_folder_names_the_folder(elsewhere: Path) -> None:
    config = write_config(elsewhere, "sqlite:///data/mailtrack.db")
    for command in (("run",), ("records", "list"), ("interfaces", "list")):
        result = invoke("--config", str(config), *command)
        assert result.exit_code == 1, result.output
        assert f"the folder of the SQLite store does not exist: {elsewhere / 'data'}" in result.output
    assert not (elsewhere / "data").exists()


def test_without_a_configuration_file_that_is_said_first(elsewhere: Path) -> None:
    for command in (("run",), ("check",)):
        result = invoke(*command)
        assert result.exit_code == 1
        message = " ".join(result.output.split())
        assert message.startswith("Error: no configuration file found (mailtrack.toml in this folder")
        assert message.index("no configuration file found") < message.index("no enabled mail interface")
    listed = invoke("interfaces", "list")
    assert listed.output.startswith("No configuration file found")
    assert not Path("mailtrack.db").exists()
