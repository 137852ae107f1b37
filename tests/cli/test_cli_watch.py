"""``mailtrack run --watch`` in a process of its own: mail arriving over IMAP IDLE is imported
while it runs, an interface added to the configuration file meanwhile is taken up, and SIGTERM
ends it cleanly (exit status 0)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from _imapserver import ScriptedIMAPServer
from mailtrack.testing import build_message

pytest.importorskip("click", reason="the CLI needs click and rich (pip install 'mailtrack[cli]')")
pytest.importorskip("sqlalchemy", reason="the CLI's store here is SQLite (pip install 'mailtrack[sql]')")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is POSIX only")

#: Liveness bound (the expected times are about a second).
BOUND = 20.0


def eventually(condition: Callable[[], bool]) -> bool:
    end = time.monotonic() + BOUND
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def interface_table(name: str, server: ScriptedIMAPServer, folder: str) -> str:
    port = server.interface().effective_port
    return (
        f'[[interfaces]]\nname = "{name}"\nprotocol = "imap"\nserver = "127.0.0.1"\nport = {port}\n'
        f'login = "{server.user}"\npassword = "{server.password}"\nsecurity = "none"\nfolder = "{folder}"\n'
    )


def titles(database: Path) -> set[str]:
    if not database.exists():
        return set()
    try:
        with sqlite3.connect(database) as connection:
            return {row[0] for row in connection.execute("SELECT title FROM mailtrack_records")}
    except sqlite3.Error:
        return set()


def test_run_watch_imports_over_idle_takes_up_new_interfaces_and_stops_on_sigterm(tmp_path: Path) -> None:
    database = tmp_path / "mailtrack.db"
    config = tmp_path / "mailtrack.toml"
    with ScriptedIMAPServer() as server:
        server.folders["Sales"] = []
        server.add(build_message(subject="waiting at the start"))
        config.write_text(f'store = "sqlite:///{database}"\n\n' + interface_table("support", server, "INBOX"))
        process = subprocess.Popen(
            [sys.executable, "-c", "from mailtrack.cli import main; main()", "run", "--watch"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            assert eventually(lambda: titles(database) == {"waiting at the start"})
            assert eventually(lambda: any(line.endswith(" IDLE") for line in server.commands))
            server.add(build_message(subject="arrived while watching"))
            assert eventually(lambda: "arrived while watching" in titles(database))
            with config.open("a") as stream:  # added while it runs
                stream.write("\n" + interface_table("sales", server, "Sales"))
            server.add(build_message(subject="for sales"), folder="Sales")
            assert eventually(lambda: "for sales" in titles(database))
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=BOUND)
        assert process.returncode == 0, output
        assert "Stopped." in output
        assert server.raws() == []
