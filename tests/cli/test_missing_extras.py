"""A command whose extra is not installed says which one to install, in one line: ``mailtrack
deliver`` without the SQL extra exits 78 (``EX_CONFIG``: the mail server keeps the message), any
other command without click exits 1 without a traceback. The missing package is hidden from a
real ``mailtrack`` process (``sys.modules[name] = None`` makes its import fail as if absent)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from mailtrack.cli._app import ErrorHandlingGroup
from mailtrack.cli._pipe import EX_CONFIG
from mailtrack.stores.sql import SQLRecordStore
from mailtrack.testing import build_message

LIMIT = 120


def mailtrack_without(
    module: str, folder: Path, *args: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[str]:
    code = f"import sys; sys.modules[{module!r}] = None; from mailtrack.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        input=stdin.decode("ascii"),
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=LIMIT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""},
        check=False,
    )


def test_deliver_without_sqlalchemy_names_the_sql_extra_and_keeps_the_mail(tmp_path: Path) -> None:
    SQLRecordStore(f"sqlite:///{tmp_path / 'mailtrack.db'}").close()
    (tmp_path / "mailtrack.toml").write_text(
        f'store = "sqlite:///{tmp_path / "mailtrack.db"}"\n\n'
        '[[interfaces]]\nname = "support"\nprotocol = "deliver"\n',
        encoding="utf-8",
    )
    raw = build_message(subject="Kept by the mail server")
    done = mailtrack_without("sqlalchemy", tmp_path, "deliver", "--interface", "support", stdin=raw)
    assert done.returncode == EX_CONFIG
    assert "pip install 'mailtrack[sql]'" in done.stderr
    assert "bug" not in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_a_command_without_click_names_the_cli_extra(tmp_path: Path) -> None:
    done = mailtrack_without("click", tmp_path, "--store", f"sqlite:///{tmp_path / 'm.db'}", "db", "upgrade")
    assert done.returncode == 1
    assert (
        done.stderr
        == "mailtrack: the cli extra is not installed (no module click): pip install 'mailtrack[cli]'\n"
    )
    assert not (tmp_path / "m.db").exists()


def test_an_extra_imported_inside_a_command_is_named_not_called_a_bug() -> None:
    # A module a command imports on first use (the inbound routes' python_multipart, say).
    @click.group(cls=ErrorHandlingGroup)
    def group() -> None:
        pass

    @group.command()
    def lazy() -> None:
        raise ModuleNotFoundError("No module named 'nh3'", name="nh3")

    @group.command()
    def broken() -> None:
        raise ModuleNotFoundError("No module named 'nosuchthing'", name="nosuchthing")

    named = CliRunner().invoke(group, ["lazy"])
    assert named.exit_code == 1
    assert "pip install 'mailtrack[html]'" in named.output
    assert "bug" not in named.output
    unknown = CliRunner().invoke(group, ["broken"])
    assert "This is a bug in mailtrack" in unknown.output
