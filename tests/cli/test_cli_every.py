"""``mailtrack run --every``: durations, and a quiet pass in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("sqlalchemy")

from click.testing import CliRunner

from mailtrack.cli import cli
from mailtrack.testing import POP3TestServer, build_message

PASSWORD = "correct horse battery staple"


def write_config(folder: Path, server: POP3TestServer) -> None:
    (folder / "mailtrack.toml").write_text(
        f'store = "sqlite:///{folder / "mailtrack.db"}"\n\n'
        "[[interfaces]]\n"
        'name = "support"\n'
        f'server = "{server.host}"\nport = {server.port}\n'
        'login = "support"\npassword_env = "MAILTRACK_TEST_PASSWORD"\n'
        'security = "none"\nleave_copy = true\ntimeout = 10.0\n',
        encoding="utf-8",
    )


def test_every_takes_a_bare_number_as_seconds_and_says_so_in_its_help() -> None:
    result = CliRunner().invoke(cli, ["run", "--help"], env={"COLUMNS": "200"})
    assert "a bare number is seconds" in " ".join(result.output.split())


@pytest.mark.slow
def test_a_pass_that_imported_nothing_prints_one_short_line(tmp_path: Path) -> None:
    with POP3TestServer(
        [build_message(subject="Printer jammed")], user="support", password=PASSWORD
    ) as server:
        write_config(tmp_path, server)
        command = [sys.executable, "-c", "from mailtrack.cli import main; main()", "run", "--every", "1"]
        environment = {**os.environ, "MAILTRACK_TEST_PASSWORD": PASSWORD, "COLUMNS": "80"}
        with subprocess.Popen(
            command,
            cwd=tmp_path,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as process:
            assert process.stdout is not None
            seen: list[str] = []
            for line in process.stdout:  # the first pass imports, the second finds nothing new
                seen.append(line)
                if "nothing new" in line or sum("Run report" in seen_line for seen_line in seen) > 2:
                    break
            process.send_signal(signal.SIGINT)
            rest, _ = process.communicate(timeout=60)
    output = "".join(seen)
    assert process.returncode == 0, output + rest
    first, quiet = output.split("Run report", 1)[1].rsplit("\n", 2)[0], seen[-1]
    assert "Offered" in first  # the first pass imported: a table
    assert quiet.rstrip().endswith("nothing new (1 interface, 1 already imported)")
    assert len(quiet) < 80
    assert output.count("Offered") == 1  # the quiet pass printed no table
