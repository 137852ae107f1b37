"""``mailtrack deliver`` through a real pipe: a process fed on stdin, as a mail server runs it,
answered with sysexits codes (0 imported, 64 wrong interface, 75 store locked or gone)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mailtrack import Importer, MailInterface, MailProtocol
from mailtrack.cli._pipe import EX_CONFIG, EX_OK, EX_TEMPFAIL, EX_USAGE
from mailtrack.stores.sql import SQLRecordStore
from mailtrack.testing import build_message

#: Seconds a deliver may take before the test calls it hung (a locked store waits ~10 s).
LIMIT = 120


def deliver(folder: Path, raw: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``mailtrack ARGS`` with *raw* on stdin, in *folder* (whose mailtrack.toml it reads)."""
    command = [sys.executable, "-c", "from mailtrack.cli import main; main()", *args]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ""}
    return subprocess.run(
        command, input=raw, capture_output=True, cwd=folder, timeout=LIMIT, env=env, check=False
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    SQLRecordStore(f"sqlite:///{tmp_path / 'mailtrack.db'}").close()
    (tmp_path / "mailtrack.toml").write_text(
        f'store = "sqlite:///{tmp_path / "mailtrack.db"}?timeout=1"\n\n'
        '[[interfaces]]\nname = "support"\nprotocol = "deliver"\nproject = "helpdesk"\n',
        encoding="utf-8",
    )
    return tmp_path


def records(folder: Path) -> list[tuple[str, str]]:
    store = SQLRecordStore(f"sqlite:///{folder / 'mailtrack.db'}")
    try:
        return [(record.project, record.title) for record in store.list_records()]
    finally:
        store.close()


def test_a_piped_message_is_imported_and_exits_0(folder: Path) -> None:
    raw = build_message(subject="Printer on fire").replace(b"\r\n", b"\n")
    done = deliver(folder, raw, "deliver", "--interface", "support")
    assert (done.returncode, done.stdout, done.stderr) == (EX_OK, b"", b"")
    assert records(folder) == [("helpdesk", "Printer on fire")]


def test_the_same_message_twice_makes_one_record(folder: Path) -> None:
    raw = build_message(subject="Retried").replace(b"\r\n", b"\n")
    assert deliver(folder, raw, "deliver", "--interface", "support").returncode == EX_OK
    assert deliver(folder, raw, "deliver", "--interface", "support").returncode == EX_OK
    assert records(folder) == [("helpdesk", "Retried")]


def test_malformed_mail_exits_0_never_65(folder: Path) -> None:
    done = deliver(folder, b"\x00\xff\x1b[31m no headers, no mail \x00", "deliver", "--interface", "support")
    assert done.returncode == EX_OK, done.stderr
    assert len(records(folder)) == 1


def test_a_wrong_interface_exits_64_with_one_clear_line(folder: Path) -> None:
    done = deliver(folder, build_message(), "deliver", "--interface", "nobody\x1b]52;c;x\x07")
    assert done.returncode == EX_USAGE
    (line,) = done.stderr.decode().splitlines()
    assert line.startswith("mailtrack deliver: no mail interface named")
    assert "known: support" in line
    assert "\x1b" not in line  # the name is shown escaped (it could be anything a caller passed)
    assert records(folder) == []


def test_a_missing_interface_option_exits_64(folder: Path) -> None:
    done = deliver(folder, build_message(), "deliver")
    assert done.returncode == EX_USAGE
    assert b"--interface" in done.stderr


def test_a_locked_store_exits_75_and_writes_nothing(folder: Path) -> None:
    holder = sqlite3.connect(folder / "mailtrack.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process writing, and not letting go
        done = deliver(folder, build_message(subject="Locked out"), "deliver", "--interface", "support")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == EX_TEMPFAIL
    assert b"locked" in done.stderr
    assert b"tries again" in done.stderr
    assert records(folder) == []
    # The mail server tries again later, and then it works.
    again = deliver(folder, build_message(subject="Locked out"), "deliver", "--interface", "support")
    assert again.returncode == EX_OK


def test_a_store_that_is_gone_exits_75_and_is_not_created(folder: Path) -> None:
    (folder / "mailtrack.db").unlink()
    done = deliver(folder, build_message(), "deliver", "--interface", "support")
    assert done.returncode == EX_TEMPFAIL
    assert b"no database at" in done.stderr
    assert not (folder / "mailtrack.db").exists()


def test_a_store_without_tables_exits_75(folder: Path) -> None:
    (folder / "mailtrack.db").unlink()
    sqlite3.connect(folder / "mailtrack.db").close()  # an empty file: the tables are gone
    done = deliver(folder, build_message(), "deliver", "--interface", "support")
    assert done.returncode == EX_TEMPFAIL
    assert b"tables do not exist" in done.stderr


def test_the_recipient_option_routes_the_message(folder: Path) -> None:
    config = folder / "mailtrack.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + '\n[[interfaces.routes]]\naddress = "billing@example.com"\nproject = "billing"\n',
        encoding="utf-8",
    )
    raw = build_message(subject="Invoice", to="support@example.com")
    done = deliver(folder, raw, "deliver", "--interface", "support", "--recipient", "billing@example.com")
    assert done.returncode == EX_OK, done.stderr
    assert records(folder) == [("billing", "Invoice")]


@pytest.mark.parametrize("where", ["mailtrack.toml", "store"])
def test_a_disabled_interface_exits_75_naming_it_and_imports_nothing(folder: Path, where: str) -> None:
    raw = build_message(subject="Kept by the mail server").replace(b"\r\n", b"\n")
    url = f"sqlite:///{folder / 'mailtrack.db'}"
    if where == "store":
        store = SQLRecordStore(url)
        store.save_interface(MailInterface(name="saved", protocol=MailProtocol.DELIVER, enabled=False))
        store.close()
        args: tuple[str, ...] = ("--store", url, "deliver", "--interface", "saved")
    else:
        config = folder / "mailtrack.toml"
        config.write_text(config.read_text() + "enabled = false\n", encoding="utf-8")
        args = ("deliver", "--interface", "support")
    done = deliver(folder, raw, *args)
    assert done.returncode == EX_TEMPFAIL  # the mail server keeps the message and retries
    (line,) = done.stderr.decode().splitlines()
    name = args[-1]
    assert line.startswith(f"mailtrack deliver: interface '{name}' is disabled"), line
    assert "tries again" in line
    assert records(folder) == []
    with SQLRecordStore(url) as store:
        assert store.list_quarantined() == []


def test_an_interface_saved_in_the_store_and_global_options(folder: Path) -> None:
    url = f"sqlite:///{folder / 'mailtrack.db'}"
    store = SQLRecordStore(url)
    store.save_interface(MailInterface(name="saved", server="pop.example.com", login="x", project="stored"))
    store.close()
    (folder / "mailtrack.toml").unlink()
    done = deliver(folder, build_message(subject="Hi"), "--store", url, "deliver", "--interface", "saved")
    assert done.returncode == EX_OK, done.stderr
    assert records(folder) == [("stored", "Hi")]


def test_no_configuration_file_found_exits_78_not_64(folder: Path) -> None:
    """A missing configuration is the host's to fix: the mail server keeps the mail (78), it
    does not bounce it (64) as it would for an interface the configuration does not define."""
    url = f"sqlite:///{folder / 'mailtrack.db'}"
    (folder / "mailtrack.toml").unlink()
    with_store = deliver(folder, build_message(), "--store", url, "deliver", "--interface", "support")
    without = deliver(folder, build_message(), "deliver", "--interface", "support")
    for done in (with_store, without):
        assert done.returncode == EX_CONFIG, done.stderr
        (line,) = done.stderr.decode().splitlines()
        assert line.startswith("mailtrack deliver: configuration: no configuration file found")
        assert "nothing was imported" in line
    assert records(folder) == []


def test_a_configuration_file_that_cannot_be_read_exits_78(folder: Path) -> None:
    done = deliver(
        folder, build_message(), "--config", str(folder / "gone.toml"), "deliver", "--interface", "x"
    )
    assert done.returncode == EX_CONFIG, done.stderr
    (line,) = done.stderr.decode().splitlines()
    assert "gone.toml" in line
    assert records(folder) == []


def test_an_empty_message_is_quarantined_with_a_line_and_exits_0(folder: Path) -> None:
    done = deliver(folder, b"", "deliver", "--interface", "support")
    assert done.returncode == EX_OK
    (line,) = done.stderr.decode().splitlines()
    assert line == (
        "mailtrack deliver: the message on standard input is empty: quarantined in interface 'support' "
        "(see `mailtrack quarantine list`)"
    )
    with SQLRecordStore(f"sqlite:///{folder / 'mailtrack.db'}") as store:
        (kept,) = store.list_quarantined()
    assert (kept.interface, kept.error) == ("support", "message is empty")
    assert records(folder) == []


def test_the_deliver_path_loads_neither_click_nor_rich(folder: Path) -> None:
    probe = (
        "import sys\n"
        "sys.argv = ['mailtrack', 'deliver', '--interface', 'support']\n"
        "from mailtrack.cli import main\n"
        "try:\n    main()\n"
        "except SystemExit as exit:\n"
        "    loaded = sorted(name for name in sys.modules if name.split('.')[0] in ('click', 'rich'))\n"
        "    loaded += [name for name in sys.modules if name.startswith('sqlalchemy.dialects.postgresql')]\n"
        "    print(exit.code, loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        input=build_message(),
        capture_output=True,
        cwd=folder,
        timeout=LIMIT,
        check=False,
    )
    assert done.stdout.decode().strip() == "0 []", done.stderr


def test_importer_deliver_and_the_command_agree(folder: Path) -> None:
    """The command is Importer.deliver: a message delivered by the API is known to the command."""
    raw = build_message(subject="Both")
    store = SQLRecordStore(f"sqlite:///{folder / 'mailtrack.db'}")
    Importer(store=store).deliver(MailInterface(name="support", server="x", login="y"), raw)
    store.close()
    assert deliver(folder, raw, "deliver", "--interface", "support").returncode == EX_OK
    assert len(records(folder)) == 1


def test_check_and_interfaces_list_say_a_deliver_interface_has_no_mailbox(folder: Path) -> None:
    command = [sys.executable, "-c", "from mailtrack.cli import main; main()"]
    check = subprocess.run(
        [*command, "check", "support"], capture_output=True, cwd=folder, timeout=LIMIT, check=False
    )
    assert check.returncode == 0, check.stderr
    assert b"support: OK" in check.stdout
    assert b"no mailbox to connect to" in check.stdout
    listed = subprocess.run(
        [*command, "interfaces", "list"], capture_output=True, cwd=folder, timeout=LIMIT, check=False
    )
    assert b"delivered" in listed.stdout
