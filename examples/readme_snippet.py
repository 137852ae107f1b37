"""The README's Python snippet, run as written: it imports, and it fails loudly when it cannot.

The snippet and the ``mailtrack.toml`` are read from README.md itself, so this script checks
the text a new user copies. The configuration file is pointed at a POP3 test server on
127.0.0.1 (its ``server`` line is replaced, ``port`` and ``security`` are added); the snippet
runs unchanged, in a child process, in a temporary folder:

1. with the password in ``MAILTRACK_SUPPORT_PASSWORD``: it imports the two messages and exits 0;
2. without it: it says on stderr that the variable is not set and exits with an error
   (``report.raise_for_error()``), instead of printing "0 new records" and exiting 0.

Run it with (needs ``pip install 'mailtrack[sql,testing]'``)::

    python examples/readme_snippet.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from mailtrack.testing import POP3TestServer, build_message

README = Path(__file__).resolve().parent.parent / "README.md"
PASSWORD_VARIABLE = "MAILTRACK_SUPPORT_PASSWORD"
SERVER_LINE = 'server = "pop.example.com"'


def code_block(text: str, language: str) -> str:
    """The first fenced code block of *language* in *text*."""
    found = re.search(rf"^```{language}\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)
    if found is None:
        raise SystemExit(f"README.md has no ```{language} block")
    return found.group(1)


def run_snippet(snippet: str, folder: Path, password: str | None) -> subprocess.CompletedProcess[str]:
    """Run *snippet* with ``python -c`` in *folder*, the password variable set or not."""
    environment = {key: value for key, value in os.environ.items() if key != PASSWORD_VARIABLE}
    if password is not None:
        environment[PASSWORD_VARIABLE] = password
    return subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def main() -> None:
    readme = README.read_text(encoding="utf-8")
    toml, snippet = code_block(readme, "toml"), code_block(readme, "python")
    if SERVER_LINE not in toml:
        raise SystemExit(f"the README's mailtrack.toml no longer has the line {SERVER_LINE!r}")
    messages = [
        build_message(subject="Printer on fire", message_id="<1@customer.example>"),
        build_message(subject="VPN drops every hour", message_id="<2@customer.example>"),
    ]
    with POP3TestServer(messages, user="support@example.com", password="s3cret") as server:
        local = f'server = "{server.host}"\nport = {server.port}\nsecurity = "none"'
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "mailtrack.toml").write_text(toml.replace(SERVER_LINE, local), encoding="utf-8")

            unset = run_snippet(snippet, Path(folder), password=None)
            print(f"without {PASSWORD_VARIABLE}: exit status {unset.returncode}")
            print(unset.stderr.strip().splitlines()[-1] if unset.stderr.strip() else "(nothing on stderr)")
            if unset.returncode == 0 or PASSWORD_VARIABLE not in unset.stderr:
                raise SystemExit(
                    "the snippet hid the failure: it should exit with an error naming the variable"
                )

            worked = run_snippet(snippet, Path(folder), password="s3cret")
            print(f"with {PASSWORD_VARIABLE}: exit status {worked.returncode}")
            print(worked.stdout.strip())
            if worked.returncode != 0 or "support: 2 new records" not in worked.stdout:
                raise SystemExit(f"the snippet failed:\n{worked.stdout}{worked.stderr}")


if __name__ == "__main__":
    main()
