"""``mailtrack demo`` at 80 columns: short enough to read, and still showing what it is for."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("sqlalchemy")

from click.testing import CliRunner

from mailtrack.cli import cli


def demo(folder: Path) -> str:
    result = CliRunner().invoke(cli, ["demo", "--db", str(folder / "demo.db")], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.output


def test_the_first_demo_fits_about_120_lines_and_shows_everything(tmp_path: Path) -> None:
    output = demo(tmp_path)
    lines = output.splitlines()
    assert len(lines) <= 120, len(lines)
    assert max(len(line.rstrip()) for line in lines) <= 80
    text = " ".join(output.split())
    # Records, one in full with its details, the quarantine and the run's numbers.
    assert "new record #1: Printer on the 3rd floor keeps jamming" in text
    assert "Record #3, as `records show 3` prints it" in text
    assert "Detail 2" in text
    assert "order-100262.log" in text
    assert "Quarantine" in text
    assert "nests MIME parts more than 50 deep" in text
    assert "Offered" in text
    assert "This run" in text
    # Which sample was the auto-reply, and which the broken one, and what became of them.
    assert "auto-reply skipped by policy: an auto-reply naming no record opens none" in text
    assert "broken new record #6: Scan job 8812 [# (broken:" in text
    # A detail's box is as wide as its text, not the terminal.
    assert any(line.startswith("╭─ Detail") and len(line) < 79 for line in lines)


def test_a_long_body_is_folded_not_printed_whole() -> None:
    from mailtrack.cli._render import _shortened

    text = "Scan job 8812 finished with warnings.\n" + "All work and no play. " * 150
    short = _shortened(text, 6)
    assert len(short) < 6 * 80 + 100
    assert short.endswith("more lines)")


def test_the_second_demo_is_short_and_says_nothing_was_imported_twice(tmp_path: Path) -> None:
    demo(tmp_path)
    output = demo(tmp_path)
    assert len(output.splitlines()) <= 60
    assert "Nothing new: all 10 messages were handled by an earlier run" in " ".join(output.split())
