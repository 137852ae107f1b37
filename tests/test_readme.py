"""The README's Python snippet runs as written and fails loudly; ``RunReport.raise_for_error()``."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mailtrack import MailtrackError, RunFailedError, RunReport

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "readme_snippet.py"
NOW = datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc)


def test_the_readme_snippet_imports_and_exits_with_an_error_when_the_password_is_missing() -> None:
    pytest.importorskip("sqlalchemy")
    # The example runs the README's snippet twice, unchanged: it fails when the snippet exits 0
    # without the password variable or does not import with it.
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "without MAILTRACK_SUPPORT_PASSWORD: exit status 1" in result.stdout
    assert "MAILTRACK_SUPPORT_PASSWORD (password_env) is not set" in result.stdout
    assert "support: 2 new records, 0 follow-ups" in result.stdout


def test_raise_for_error_does_nothing_for_a_run_that_worked() -> None:
    RunReport(interface="support", started_at=NOW, finished_at=NOW, created=3).raise_for_error()
    stopped = RunReport(interface="support", started_at=NOW, finished_at=NOW, stopped=True)
    stopped.raise_for_error()  # stopped on request is not an error


def test_raise_for_error_raises_with_the_interface_and_the_reason() -> None:
    report = RunReport(
        interface="support",
        started_at=NOW,
        finished_at=NOW,
        error="the server is unreachable",
    )
    with pytest.raises(RunFailedError) as raised:
        report.raise_for_error()
    assert str(raised.value) == "interface 'support': the server is unreachable"
    assert raised.value.report is report
    assert isinstance(raised.value, MailtrackError)


def test_raise_for_error_does_not_name_the_interface_twice() -> None:
    report = RunReport(
        interface="support",
        started_at=NOW,
        finished_at=NOW,
        error="support: environment variable X (password_env) is not set",
    )
    with pytest.raises(
        RunFailedError, match=r"^support: environment variable X \(password_env\) is not set$"
    ):
        report.raise_for_error()
