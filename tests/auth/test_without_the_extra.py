"""Without the ``oauth`` extra, ``import mailtrack`` works and an OAuth 2.0 run ends in plain words."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import os, sys
os.environ["A_REFRESH_TOKEN"] = "rt-1"
os.environ["XDG_STATE_HOME"] = sys.argv[1]
sys.modules["oauthlib"] = None  # as if not installed
sys.modules["jwt"] = None
import mailtrack, mailtrack.auth, mailtrack.fetching
from mailtrack import Importer, MailInterface, MemoryRecordStore, OAuthSettings
interface = MailInterface(
    name="support", server="127.0.0.1", port=1, login="support@example.com",
    oauth=OAuthSettings(provider="microsoft", client_id="app", refresh_token_env="A_REFRESH_TOKEN"),
)
report = Importer(store=MemoryRecordStore()).run(interface)
print(report.error)
"""


def test_import_works_and_a_run_says_which_extra_is_missing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'mailtrack[oauth]'" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
