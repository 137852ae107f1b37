"""The quarantine you can act on: parse limits in mailtrack.toml, a retry that says what would let a
message through, ``quarantine discard`` and ``quarantine export``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("sqlalchemy")

from _cli import PASSWORD, interface_entry, invoke, ok
from mailtrack._demo import demo_messages
from mailtrack.stores import SQLRecordStore
from mailtrack.testing import POP3TestServer, build_message

NESTED = dict(demo_messages())["10-nested-too-deep.eml"]  # 60 multiparts deep; max_depth is 50


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[POP3TestServer]:
    """A mailbox with a good message and one nested too deep, imported once (leave_copy)."""
    monkeypatch.chdir(tmp_path)
    good = build_message(subject="Printer jammed")
    with POP3TestServer([good, NESTED], user="support", password=PASSWORD) as running:
        write_config(tmp_path, running)
        ok(invoke("run"))
        yield running


def write_config(folder: Path, server: POP3TestServer, extra: str = "") -> None:
    (folder / "mailtrack.toml").write_text(
        'store = "sqlite:///mailtrack.db"\n' + extra + "\n" + interface_entry(server),
        encoding="utf-8",
    )


def quarantine_ids(folder: Path) -> list[int]:
    with SQLRecordStore(f"sqlite:///{folder / 'mailtrack.db'}") as store:
        return [item.id for item in store.list_quarantined()]


def test_retry_prints_the_reason_and_the_setting_that_would_let_it_through(
    tmp_path: Path, server: POP3TestServer
) -> None:
    result = invoke("quarantine", "retry", "1")
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "1: still failing: message nests MIME parts more than 50 deep (limit max_depth)" in output
    assert f"raise max_depth (now 50) in the [limits] table of {Path('mailtrack.toml')}" in output


def test_limits_set_in_mailtrack_toml_let_the_message_through(tmp_path: Path, server: POP3TestServer) -> None:
    write_config(tmp_path, server, "\n[limits]\nmax_depth = 100\n")
    output = ok(invoke("quarantine", "retry", "1"))
    assert "1: imported (created record #2)" in output
    assert quarantine_ids(tmp_path) == []


def test_limits_in_mailtrack_toml_apply_to_run(tmp_path: Path, server: POP3TestServer) -> None:
    write_config(tmp_path, server, "\n[limits]\nmax_depth = 100\nmax_parts = 1000\ntime_budget = 60\n")
    with POP3TestServer(
        [NESTED.replace(b"Message-ID: <", b"Message-ID: <again-")], user="support", password=PASSWORD
    ) as other:
        write_config(tmp_path, other, "\n[limits]\nmax_depth = 100\n")
        output = ok(invoke("run"))
    assert "quarantined" not in output.lower().replace("quaran-", "")
    assert quarantine_ids(tmp_path) == [1]  # only the one from the first run


def test_an_unknown_limit_is_refused_by_name(tmp_path: Path, server: POP3TestServer) -> None:
    write_config(tmp_path, server, "\n[limits]\nmax_dept = 100\n")
    result = invoke("quarantine", "retry", "1")
    assert result.exit_code == 1
    assert "limits: unknown field(s): max_dept" in result.output


def test_a_reason_no_setting_fixes_says_what_else_can_be_done(tmp_path: Path) -> None:
    from mailtrack.cli._quarantine import remedy
    from mailtrack.config import ParseLimits

    text = remedy("message is an Outlook .msg file, not an RFC 5322 message", ParseLimits(), None)
    assert "quarantine export" in text
    assert "quarantine discard" in text


def test_discard_asks_first_and_then_the_next_run_deletes_the_message(
    tmp_path: Path, server: POP3TestServer
) -> None:
    refused = invoke("quarantine", "discard", "1", input="n\n")
    assert refused.exit_code == 1
    assert "Discard 1 (support," in refused.output
    assert quarantine_ids(tmp_path) == [1]

    output = ok(invoke("quarantine", "discard", "1", input="y\n"))
    assert "1: discarded" in output
    assert quarantine_ids(tmp_path) == []

    ok(invoke("run"))
    assert server.mailbox == []  # deleted on the server, not imported again
    with SQLRecordStore(f"sqlite:///{tmp_path / 'mailtrack.db'}") as store:
        assert [record.title for record in store.list_records()] == ["Printer jammed"]
        assert store.list_quarantined() == []


def test_discard_yes_does_not_ask(tmp_path: Path, server: POP3TestServer) -> None:
    output = ok(invoke("quarantine", "discard", "--yes", "1"))
    assert "Discard" not in output
    assert quarantine_ids(tmp_path) == []


def test_discard_of_a_missing_entry_is_a_plain_error(tmp_path: Path, server: POP3TestServer) -> None:
    result = invoke("quarantine", "discard", "--yes", "7")
    assert result.exit_code == 1
    assert "quarantined message 7 does not exist" in result.output


def test_export_writes_the_raw_bytes_exactly(tmp_path: Path, server: POP3TestServer) -> None:
    target = tmp_path / "nested.eml"
    output = ok(invoke("quarantine", "export", "1", str(target)))
    assert f"{len(NESTED)} bytes written" in output
    assert target.read_bytes() == NESTED
    assert quarantine_ids(tmp_path) == [1]  # still in the quarantine

    refused = invoke("quarantine", "export", "1", str(target))
    assert refused.exit_code == 1
    assert "exists already" in refused.output
    target.write_bytes(b"other")
    ok(invoke("quarantine", "export", "1", str(target), "--force"))
    assert target.read_bytes() == NESTED
