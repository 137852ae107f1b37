"""What the command says about settings: as they are written, and where to change them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("sqlalchemy")

from _cli import PASSWORD, interface_entry, invoke
from mailtrack.testing import POP3TestServer, build_message


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[POP3TestServer]:
    monkeypatch.chdir(tmp_path)
    with POP3TestServer([build_message()], user="support", password=PASSWORD) as running:
        (tmp_path / "mailtrack.toml").write_text(
            'store = "sqlite:///mailtrack.db"\n' + interface_entry(running), encoding="utf-8"
        )
        yield running


def test_check_names_the_security_setting_as_it_is_written(server: POP3TestServer) -> None:
    result = invoke("check")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert 'security = "none"' in text
    assert 'use security = "ssl" or "starttls"' in text
    assert "NONE" not in result.output
    assert "SSL or STARTTLS" not in result.output


def test_interfaces_add_of_a_name_in_the_file_says_where_and_how_to_edit_it(server: POP3TestServer) -> None:
    result = invoke("interfaces", "add", "support", "--server", server.host, "--login", "support")
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert "a mail interface named 'support' is defined in mailtrack.toml, not in the store" in text
    assert "edit its [[interfaces]] entry with name = 'support' there" in text
    assert "mailtrack check support" in text
    assert "or add one under another name" in text
