"""The CLI's matching: ``mailtrack explain FILE.eml --interface NAME`` (the decision in plain words
and as JSON, nothing written) and the subject tag that ``interfaces add`` offers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mailtrack import CreateRecord, outgoing_headers
from mailtrack.cli import cli
from mailtrack.stores import SQLRecordStore
from mailtrack.testing import build_message, make_incoming

KEY = "the key that signs reply tokens"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"}, catch_exceptions=True)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mailtrack.toml").write_text(
        f'store = "sqlite:///{tmp_path / "mailtrack.db"}"\n'
        "[[interfaces]]\n"
        'name = "support"\nserver = "pop.example.com"\nlogin = "support"\nproject = "helpdesk"\n'
        'tag = "[ACME #{id}]"\n'
        "[interfaces.policy]\n"
        f'reply_keys = ["{KEY}"]\nreply_address = "support@example.com"\n',
        encoding="utf-8",
    )
    with SQLRecordStore(f"sqlite:///{tmp_path / 'mailtrack.db'}") as store:
        store.commit(
            "support",
            "1",
            CreateRecord(
                message=make_incoming(sender="carol@c.example"), project="helpdesk", title="Printer"
            ),
        )
    return tmp_path


def counts(workdir: Path) -> tuple[int, int, int]:
    with SQLRecordStore(f"sqlite:///{workdir / 'mailtrack.db'}") as store:
        details = sum(len(record.details) for record in store.list_records())
        return len(store.list_records()), details, len(store.list_quarantined())


def test_explain_says_which_record_a_reply_joins_and_why(workdir: Path) -> None:
    from mailtrack import ImportPolicy, MailInterface

    interface = MailInterface(
        name="support", server="x", login="x",
        policy=ImportPolicy(reply_keys=[KEY], reply_address="support@example.com"),
    )  # fmt: skip
    reply_to = outgoing_headers(interface, record_id=1)["Reply-To"]
    (workdir / "reply.eml").write_bytes(
        build_message(subject="new phone", sender="carol@c.example", to=reply_to)
    )
    before = counts(workdir)
    result = invoke("explain", "reply.eml", "--interface", "support")
    assert result.exit_code == 0, result.output
    assert "the signed reply token names #1" in result.output
    assert "append to #1" in result.output
    told = json.loads(invoke("explain", "reply.eml", "--interface", "support", "--json").output)
    assert (told["action"], told["record_id"], told["message_class"]) == ("append", 1, "normal")
    assert counts(workdir) == before


def test_explain_of_a_tagless_order_number_says_new_record(workdir: Path) -> None:
    (workdir / "order.eml").write_bytes(build_message(subject="Question about order #1"))
    result = invoke("explain", "order.eml", "--interface", "support")
    assert result.exit_code == 0, result.output
    assert "new record" in result.output
    assert "no evidence names a record" in result.output


def test_explain_of_an_unknown_interface_or_missing_file_fails_in_plain_words(workdir: Path) -> None:
    (workdir / "m.eml").write_bytes(build_message())
    result = invoke("explain", "m.eml", "--interface", "sales")
    assert result.exit_code != 0
    assert "no mail interface named 'sales'" in result.output
    assert invoke("explain", "missing.eml", "--interface", "support").exit_code != 0


def test_interfaces_add_offers_the_subject_tag(workdir: Path) -> None:
    help_text = invoke("interfaces", "add", "--help").output
    assert "--tag" in help_text
    assert "[ACME #{id}]" in help_text
    args = ["interfaces", "add", "sales", "--server", "127.0.0.1", "--port", "9", "--login", "s"]
    args += ["--security", "none", "--password-env", "NOPE", "--timeout", "2", "--save-anyway"]
    result = invoke(*args, "--tag", "[SALES #{id}]")
    assert result.exit_code == 0, result.output
    with SQLRecordStore(f"sqlite:///{workdir / 'mailtrack.db'}") as store:
        assert store.get_interface("sales").tag == "[SALES #{id}]"
    refused = invoke(*[arg.replace("sales", "other") for arg in args], "--tag", "SALES")
    assert refused.exit_code != 0
    assert "tag: must contain {id} exactly once" in refused.output
