"""The ``mailtrack`` command, driven through click's test runner against a real POP3TestServer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")
pytest.importorskip("sqlalchemy")

from click.testing import CliRunner, Result

from mailtrack._demo import demo_messages
from mailtrack.cli import cli
from mailtrack.cli._app import parse_duration
from mailtrack.exceptions import ConfigError
from mailtrack.stores import SQLRecordStore
from mailtrack.testing import POP3TestServer, build_message

PASSWORD_VARIABLE = "MAILTRACK_TEST_PASSWORD"
PASSWORD = "correct horse battery staple"


def invoke(*args: str, input: str | None = None, env: dict[str, str | None] | None = None) -> Result:
    """Run ``mailtrack ARGS`` in-process; wide enough that table cells are not wrapped."""
    environment: dict[str, str | None] = {"COLUMNS": "220", PASSWORD_VARIABLE: PASSWORD, **(env or {})}
    return CliRunner().invoke(cli, list(args), input=input, env=environment, catch_exceptions=True)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def mail() -> list[bytes]:
    return [
        build_message(subject="Printer on the second floor is jammed", message_id="<one@example.com>"),
        build_message(
            subject="VPN drops every hour",
            sender="Bob Example <bob@example.com>",
            message_id="<two@example.com>",
            attachments=[("vpn.log", "text/plain", b"12:00 disconnected\n")],
        ),
    ]


@pytest.fixture
def server(mail: list[bytes]) -> Iterator[POP3TestServer]:
    with POP3TestServer(mail, user="support", password=PASSWORD) as running:
        yield running


def write_config(workdir: Path, server: POP3TestServer, **extra: Any) -> Path:
    """A mailtrack.toml with a SQLite store and one interface for *server*."""
    lines = [
        f'store = "sqlite:///{workdir / "mailtrack.db"}"',
        "",
        "[[interfaces]]",
        'name = "support"',
        f'server = "{server.host}"',
        f"port = {server.port}",
        'login = "support"',
        f'password_env = "{PASSWORD_VARIABLE}"',
        'security = "none"',
        'project = "helpdesk"',
        "timeout = 10.0",
    ]
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    path = workdir / "mailtrack.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def open_store(workdir: Path) -> SQLRecordStore:
    return SQLRecordStore(f"sqlite:///{workdir / 'mailtrack.db'}")


# -- demo ------------------------------------------------------------------------------------------


def test_demo_imports_the_samples_and_a_second_run_imports_nothing(workdir: Path) -> None:
    first = ok(invoke("demo", "--db", "demo.db"))
    assert "Printer on the 3rd floor keeps jamming" in first
    # Subjects are shown as they are (rich markup such as "[#3]" must not be swallowed).
    assert "RE: [#3] Invoices missing for orders 100231 and 100245" in first
    assert "Straßenname in der Lieferadresse wird falsch gedruckt" in first  # ISO-8859-1, decoded
    assert "invoice-2024-0117.pdf" in first
    # The inline image, kept with its Content-ID (the demo shows one record; this is another).
    assert "cid:ii_lw5k2x0a0" in ok(invoke("--store", "sqlite:///demo.db", "records", "show", "4"))
    assert "nests MIME parts more than 50 deep" in first  # the quarantined message, with its reason
    assert "Nothing new" not in first

    second = ok(invoke("demo", "--db", "demo.db"))
    assert "Nothing new" in second
    assert "nothing was imported twice" in second

    with SQLRecordStore(f"sqlite:///{workdir / 'demo.db'}") as store:
        records = store.list_records()
        assert len(records) == 6
        assert sum(len(record.details) for record in records) == 8
        assert len(store.list_quarantined()) == 1
        last = store.last_run("demo")
        assert last is not None
        assert (last.imported, last.already_imported, last.left_on_server) == (0, len(demo_messages()) - 1, 1)
        # The interface is saved for `interfaces list`, without the run's password, disabled.
        saved = store.get_interface("demo")
        assert (saved.password, saved.enabled) == ("", False)


def test_demo_messages_are_bundled_as_raw_crlf_mail() -> None:
    messages = demo_messages()
    assert [name for name, _ in messages] == sorted(name for name, _ in messages)
    assert len(messages) == 10
    for name, raw in messages:
        assert b"\r\n\r\n" in raw, name
        assert b"\n" not in raw.replace(b"\r\n", b""), f"{name} has a bare LF"


# -- check -----------------------------------------------------------------------------------------


def test_check_says_in_plain_words_that_the_connection_works(workdir: Path, server: POP3TestServer) -> None:
    write_config(workdir, server)
    output = ok(invoke("check"))
    assert "support: OK" in output
    assert "2 messages waiting" in output
    assert "without encryption" in output


def test_check_fails_with_exit_status_1_and_the_reason(workdir: Path, server: POP3TestServer) -> None:
    write_config(workdir, server)
    result = invoke("check", env={PASSWORD_VARIABLE: "wrong"})
    assert result.exit_code == 1
    assert "support: FAILED" in result.output
    assert "Traceback" not in result.output


def test_check_names_the_interface_once_in_an_error(workdir: Path, server: POP3TestServer) -> None:
    write_config(workdir, server)
    result = CliRunner().invoke(cli, ["check"], env={"COLUMNS": "220", PASSWORD_VARIABLE: None})
    assert result.exit_code == 1
    assert f"support: FAILED — environment variable {PASSWORD_VARIABLE}" in result.output
    assert "support: FAILED — support:" not in result.output


def narrow(*args: str, env: dict[str, str] | None = None) -> tuple[Result, str]:
    """``mailtrack ARGS`` in 80 columns, the width of a log file or a default terminal.

    Returns the result and its output with all white space made single spaces, so that text
    wrapped over several lines can be looked for as one sentence.
    """
    result = invoke(*args, env={"COLUMNS": "80", **(env or {})})
    return result, " ".join(result.output.split())


def test_run_prints_a_failed_interfaces_error_whole_in_80_columns(
    workdir: Path, server: POP3TestServer
) -> None:
    write_config(workdir, server)
    result, text = narrow("run", env={PASSWORD_VARIABLE: "wrong"})
    assert result.exit_code == 1
    # The whole sentence, not a column of word pieces, and the name once.
    assert "support failed: 127.0.0.1 port" in text
    assert "the server refused the login for user 'support': check the login name and password" in text
    assert all(len(line) <= 80 for line in result.output.splitlines())


def test_interfaces_list_prints_the_last_error_whole_in_80_columns(
    workdir: Path, server: POP3TestServer
) -> None:
    write_config(workdir, server)
    invoke("run", env={PASSWORD_VARIABLE: None})
    result, text = narrow("interfaces", "list")
    assert result.exit_code == 0, result.output
    assert "failed (see below)" in text
    message = (
        f"support: the last run failed: environment variable {PASSWORD_VARIABLE} (password_env) is not set"
    )
    assert message in text
    assert f"support @ 127.0.0.1:{server.port}" in result.output  # the mailbox on one line
    assert all(len(line) <= 80 for line in result.output.splitlines())


def test_check_json_gives_each_result(workdir: Path, server: POP3TestServer) -> None:
    write_config(workdir, server)
    [check] = json.loads(ok(invoke("check", "--json")))
    assert check["interface"] == "support"
    assert check["ok"] is True
    assert check["message_count"] == 2


def test_check_of_an_unknown_interface_names_the_known_ones(workdir: Path, server: POP3TestServer) -> None:
    write_config(workdir, server)
    result = invoke("check", "sales")
    assert result.exit_code == 1
    assert "no mail interface named 'sales'" in result.output
    assert "known: support" in result.output


# -- run -------------------------------------------------------------------------------------------


def test_run_imports_and_shows_a_summary(workdir: Path, server: POP3TestServer) -> None:
    write_config(workdir, server)
    output = ok(invoke("run"))
    assert "Run report" in output
    assert "support" in output
    with open_store(workdir) as store:
        titles = sorted(record.title for record in store.list_records("helpdesk"))
    assert titles == ["Printer on the second floor is jammed", "VPN drops every hour"]
    assert server.mailbox == []  # committed, then deleted on the server


def test_run_twice_imports_nothing_the_second_time(workdir: Path, mail: list[bytes]) -> None:
    with POP3TestServer(mail, user="support", password=PASSWORD) as server:
        write_config(workdir, server, leave_copy=True)
        ok(invoke("run"))
        [report] = json.loads(ok(invoke("run", "--json")))
    assert (report["imported"], report["already_imported"]) == (0, 2)
    with open_store(workdir) as store:
        assert len(store.list_records()) == 2


def test_run_exits_1_when_an_interface_failed(workdir: Path, server: POP3TestServer) -> None:
    write_config(workdir, server)
    result = invoke("run", env={PASSWORD_VARIABLE: "wrong"})
    assert result.exit_code == 1
    assert "failed:" in result.output
    assert len(server.mailbox) == 2  # nothing deleted


def test_run_skips_a_mailbox_another_worker_is_importing_without_failing(
    workdir: Path, server: POP3TestServer
) -> None:
    write_config(workdir, server)
    with open_store(workdir) as store:
        assert store.acquire_lease("support", "worker-elsewhere", 300)
    result = invoke("run")
    assert result.exit_code == 0, result.output
    assert "support skipped: another worker is importing this mailbox" in result.output
    assert "busy" in result.output
    assert len(server.mailbox) == 2  # left to the worker that holds the lease
    with open_store(workdir) as store:
        assert store.last_run("support") is None


def test_run_reports_a_missing_password_variable_in_plain_words(
    workdir: Path, server: POP3TestServer
) -> None:
    write_config(workdir, server)
    result = CliRunner().invoke(cli, ["run"], env={"COLUMNS": "220", PASSWORD_VARIABLE: None})
    assert result.exit_code == 1
    assert f"environment variable {PASSWORD_VARIABLE} (password_env) is not set" in result.output
    assert PASSWORD not in result.output


def test_run_json_prints_the_reports(workdir: Path, server: POP3TestServer) -> None:
    write_config(workdir, server)
    [report] = json.loads(ok(invoke("run", "--json")))
    assert report["interface"] == "support"
    assert (report["imported"], report["created"], report["error"]) == (2, 2, None)


def test_run_without_any_interface_says_how_to_add_one(workdir: Path) -> None:
    result = invoke("--store", f"sqlite:///{workdir / 'empty.db'}", "run")
    assert result.exit_code == 1
    assert "no enabled mail interface" in result.output
    assert "mailtrack interfaces add" in result.output


def test_run_every_refuses_a_malformed_duration(workdir: Path) -> None:
    result = invoke("run", "--every", "soon")
    assert result.exit_code == 2
    assert "is not a duration" in result.output


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("1d", 86400.0)]
)
def test_durations_are_read_in_plain_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "5x", "m", "-5m"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration(text)


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_run_every_stops_cleanly_on_ctrl_c_or_sigterm(
    workdir: Path, server: POP3TestServer, signal_number: int
) -> None:
    write_config(workdir, server)
    command = [sys.executable, "-c", "from mailtrack.cli import main; main()", "run", "--every", "1h"]
    environment = {**os.environ, PASSWORD_VARIABLE: PASSWORD, "COLUMNS": "220"}
    with subprocess.Popen(
        command, cwd=workdir, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:  # wait until the first pass printed its summary
            seen.append(line)
            if line.strip().startswith("support"):
                break
        process.send_signal(signal_number)
        rest, _ = process.communicate(timeout=60)
    output = "".join(seen) + rest
    assert process.returncode == 0, output
    assert "Stopping after the message in hand" in output
    assert "Stopped." in output
    assert "Traceback" not in output
    assert server.mailbox == []


# -- interfaces ------------------------------------------------------------------------------------


def add_args(server: POP3TestServer, name: str = "sales", *extra: str) -> list[str]:
    return [
        "interfaces",
        "add",
        name,
        "--server",
        server.host,
        "--port",
        str(server.port),
        "--login",
        "support",
        "--security",
        "none",
        "--password-env",
        PASSWORD_VARIABLE,
        "--project",
        "sales",
        *extra,
    ]


@pytest.fixture
def store_option(workdir: Path) -> list[str]:
    return ["--store", f"sqlite:///{workdir / 'mailtrack.db'}"]


def test_interfaces_add_tests_the_connection_and_saves(
    workdir: Path, server: POP3TestServer, store_option: list[str]
) -> None:
    output = ok(invoke(*store_option, *add_args(server, "sales", "--default", "priority=high")))
    assert "sales: OK" in output
    assert "Mail interface 'sales' added." in output
    with open_store(workdir) as store:
        saved = store.get_interface("sales")
    assert (saved.project, saved.password_env, saved.password) == ("sales", PASSWORD_VARIABLE, "")
    assert dict(saved.defaults) == {"priority": "high"}


def test_interfaces_add_does_not_save_when_the_connection_fails(
    workdir: Path, server: POP3TestServer, store_option: list[str]
) -> None:
    result = invoke(*store_option, *add_args(server), env={PASSWORD_VARIABLE: "wrong"})
    assert result.exit_code == 1
    assert "sales: FAILED" in result.output
    assert "'sales' was not added" in result.output
    assert "--save-anyway" in result.output
    with open_store(workdir) as store:
        assert store.list_interfaces() == []


def test_interfaces_add_save_anyway_saves_a_failing_interface(
    workdir: Path, server: POP3TestServer, store_option: list[str]
) -> None:
    output = ok(
        invoke(*store_option, *add_args(server, "sales", "--save-anyway"), env={PASSWORD_VARIABLE: "x"})
    )
    assert "FAILED" in output
    assert "added" in output
    with open_store(workdir) as store:
        assert [interface.name for interface in store.list_interfaces()] == ["sales"]


def test_interfaces_add_asks_for_the_password_when_told_to(
    workdir: Path, server: POP3TestServer, store_option: list[str]
) -> None:
    args = [arg for arg in add_args(server) if arg not in {"--password-env", PASSWORD_VARIABLE}]
    output = ok(invoke(*store_option, *args, "--ask-password", input=f"{PASSWORD}\n"))
    assert "sales: OK" in output
    assert PASSWORD not in output
    with open_store(workdir) as store:
        assert store.get_interface("sales").password == PASSWORD


def test_interfaces_add_reads_the_password_from_a_file(
    workdir: Path, server: POP3TestServer, store_option: list[str]
) -> None:
    secret = workdir / "sales.password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    args = [arg for arg in add_args(server) if arg not in {"--password-env", PASSWORD_VARIABLE}]
    output = ok(invoke(*store_option, *args, "--password-file", str(secret), env={PASSWORD_VARIABLE: ""}))
    assert "sales: OK" in output
    with open_store(workdir) as store:
        saved = store.get_interface("sales")
    assert (saved.password_file, saved.password) == (str(secret), "")


def test_interfaces_add_needs_a_password_source(
    workdir: Path, server: POP3TestServer, store_option: list[str]
) -> None:
    args = [arg for arg in add_args(server) if arg not in {"--password-env", PASSWORD_VARIABLE}]
    result = invoke(*store_option, *args)
    assert result.exit_code == 1
    assert "--password-env VAR, --password-file PATH or --ask-password" in result.output


def test_interfaces_add_refuses_a_name_in_use(
    workdir: Path, server: POP3TestServer, store_option: list[str]
) -> None:
    ok(invoke(*store_option, *add_args(server)))
    result = invoke(*store_option, *add_args(server))
    assert result.exit_code == 1
    assert "exists already" in result.output


def test_interfaces_list_shows_the_last_run_of_each(
    workdir: Path, server: POP3TestServer, store_option: list[str]
) -> None:
    ok(invoke(*store_option, *add_args(server)))
    listed = ok(invoke(*store_option, "interfaces", "list"))
    assert "sales" in listed
    assert "never ran" in listed

    ok(invoke(*store_option, "run", "sales"))
    listed = ok(invoke(*store_option, "interfaces", "list"))
    assert "2 imported" in listed

    invoke(*store_option, "run", "sales", env={PASSWORD_VARIABLE: "wrong"})
    listed = ok(invoke(*store_option, "interfaces", "list"))
    assert "sales: the last run failed:" in listed
    assert "the server refused the login" in listed


def test_interfaces_list_json_never_holds_a_password(
    workdir: Path, server: POP3TestServer, store_option: list[str]
) -> None:
    args = [arg for arg in add_args(server) if arg not in {"--password-env", PASSWORD_VARIABLE}]
    ok(invoke(*store_option, *args, "--ask-password", input=f"{PASSWORD}\n"))
    output = ok(invoke(*store_option, "interfaces", "list", "--json"))
    assert PASSWORD not in output
    [entry] = json.loads(output)
    assert entry["interface"]["name"] == "sales"
    assert entry["source"] == "store"
    assert "password" not in entry["interface"]


def test_interfaces_list_includes_the_configuration_file(workdir: Path, server: POP3TestServer) -> None:
    write_config(workdir, server)
    [entry] = json.loads(ok(invoke("interfaces", "list", "--json")))
    assert (entry["interface"]["name"], entry["source"]) == ("support", "file")


def test_interfaces_edit_changes_a_setting_after_testing_it(
    workdir: Path, server: POP3TestServer, store_option: list[str]
) -> None:
    ok(invoke(*store_option, *add_args(server)))
    output = ok(invoke(*store_option, "interfaces", "edit", "sales", "--project", "presales", "--disable"))
    assert "sales: OK" in output
    with open_store(workdir) as store:
        saved = store.get_interface("sales")
    assert (saved.project, saved.enabled) == ("presales", False)


def test_interfaces_edit_of_an_unknown_interface_fails_in_plain_words(store_option: list[str]) -> None:
    result = invoke(*store_option, "interfaces", "edit", "nope", "--project", "x")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert "Traceback" not in result.output


def test_interfaces_edit_refuses_an_interface_of_the_configuration_file(
    workdir: Path, server: POP3TestServer
) -> None:
    write_config(workdir, server)
    result = invoke("interfaces", "edit", "support", "--project", "x")
    assert result.exit_code == 1
    assert "is defined in" in result.output


def test_interfaces_remove_asks_first(workdir: Path, server: POP3TestServer, store_option: list[str]) -> None:
    ok(invoke(*store_option, *add_args(server)))
    kept = invoke(*store_option, "interfaces", "remove", "sales", input="n\n")
    assert kept.exit_code == 1
    with open_store(workdir) as store:
        assert [interface.name for interface in store.list_interfaces()] == ["sales"]

    output = ok(invoke(*store_option, "interfaces", "remove", "sales", input="y\n"))
    assert "removed" in output
    with open_store(workdir) as store:
        assert store.list_interfaces() == []


def test_interfaces_remove_yes_does_not_ask(
    workdir: Path, server: POP3TestServer, store_option: list[str]
) -> None:
    ok(invoke(*store_option, *add_args(server)))
    ok(invoke(*store_option, "interfaces", "remove", "sales", "--yes"))
    with open_store(workdir) as store:
        assert store.list_interfaces() == []


# -- records ---------------------------------------------------------------------------------------


@pytest.fixture
def imported(workdir: Path, server: POP3TestServer) -> Path:
    write_config(workdir, server)
    ok(invoke("run"))
    return workdir


def test_records_list_shows_the_records_newest_first(imported: Path) -> None:
    output = ok(invoke("records", "list"))
    assert output.index("VPN drops every hour") < output.index("Printer on the second floor is jammed")
    assert "Bob Example" in output


def test_records_list_json_and_paging(imported: Path) -> None:
    records = json.loads(ok(invoke("records", "list", "--json")))
    assert [record["title"] for record in records] == [
        "VPN drops every hour",
        "Printer on the second floor is jammed",
    ]
    assert records[0]["details"][0]["attachments"][0]["filename"] == "vpn.log"
    assert "content" not in records[0]["details"][0]["attachments"][0]
    second_page = json.loads(ok(invoke("records", "list", "--json", "--limit", "1", "--offset", "1")))
    assert [record["title"] for record in second_page] == ["Printer on the second floor is jammed"]


def test_records_list_when_empty(workdir: Path, store_option: list[str]) -> None:
    open_store(workdir).close()
    assert "No records yet." in ok(invoke(*store_option, "records", "list"))


def test_records_list_of_a_project_without_records_says_so(imported: Path) -> None:
    output = ok(invoke("records", "list", "--project", "sales"))
    assert "No records in project 'sales'." in output
    assert "No records yet." not in output


def test_records_show_gives_details_and_attachments(imported: Path) -> None:
    output = ok(invoke("records", "show", "2"))
    assert "VPN drops every hour" in output
    assert "Bob Example <bob@example.com>" in output
    assert "vpn.log" in output
    assert "Message-ID:" not in output  # the raw header only on request


def test_records_show_headers_adds_the_raw_header(imported: Path) -> None:
    output = ok(invoke("records", "show", "2", "--headers"))
    assert "Message-ID: <two@example.com>" in output


def test_records_show_json(imported: Path) -> None:
    record = json.loads(ok(invoke("records", "show", "1", "--json")))
    assert record["id"] == 1
    assert record["details"][0]["message_id"] == "one@example.com"


def test_records_show_saves_attachments(imported: Path) -> None:
    ok(invoke("records", "show", "2", "--save-attachments", "files"))
    [saved] = list((imported / "files").iterdir())
    assert saved.name.endswith("vpn.log")
    assert saved.read_bytes() == b"12:00 disconnected\n"


def test_records_show_of_a_missing_record_is_a_plain_error(imported: Path) -> None:
    result = invoke("records", "show", "99")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert "99" in result.output
    assert "Traceback" not in result.output


# -- quarantine ------------------------------------------------------------------------------------


@pytest.fixture
def quarantined(workdir: Path) -> Iterator[POP3TestServer]:
    """One message quarantined by policy (auto-replies → quarantine), one broken beyond repair."""
    auto_reply = build_message(subject="Out of office", headers={"Auto-Submitted": "auto-replied"})
    broken = dict(demo_messages())["10-nested-too-deep.eml"]
    with POP3TestServer([auto_reply, broken], user="support", password=PASSWORD) as server:
        path = write_config(workdir, server)
        with path.open("a", encoding="utf-8") as stream:
            stream.write('\n[interfaces.policy]\non_auto_reply = "quarantine"\n')
        ok(invoke("run"))
        yield server


def test_quarantine_list_gives_the_reasons(quarantined: POP3TestServer) -> None:
    output = ok(invoke("quarantine", "list"))
    assert "auto-reply quarantined by policy" in output
    assert "nests MIME parts more than 50 deep" in output


def test_quarantine_list_json_leaves_the_raw_bytes_out(quarantined: POP3TestServer) -> None:
    items = json.loads(ok(invoke("quarantine", "list", "--json")))
    assert [item["interface"] for item in items] == ["support", "support"]
    assert all("raw" not in item for item in items)


def test_quarantine_show_gives_the_header_and_raw_gives_the_bytes(quarantined: POP3TestServer) -> None:
    output = ok(invoke("quarantine", "show", "1"))
    assert "Subject: Out of office" in output
    assert "auto-reply quarantined by policy" in output
    raw = CliRunner().invoke(cli, ["quarantine", "show", "1", "--raw"]).stdout_bytes
    assert raw == quarantined.mailbox[0][1]  # unchanged, and still on the server


def test_quarantine_show_json_gives_the_facts_without_the_bytes(quarantined: POP3TestServer) -> None:
    item = json.loads(ok(invoke("quarantine", "show", "2", "--json")))
    assert (item["id"], item["interface"], item["attempts"]) == (2, "support", 1)
    assert "max_depth" in item["error"]
    assert "raw" not in item


def test_quarantine_show_of_a_missing_message_is_a_plain_error(quarantined: POP3TestServer) -> None:
    result = invoke("quarantine", "show", "42")
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")


def test_quarantine_retry_imports_what_now_works_and_reports_what_does_not(
    workdir: Path, quarantined: POP3TestServer
) -> None:
    result = invoke("quarantine", "retry", "--all")
    assert result.exit_code == 1
    assert "1: imported (created record #1)" in result.output
    assert "2: still failing" in result.output
    with open_store(workdir) as store:
        assert [item.id for item in store.list_quarantined()] == [2]
        assert store.get_record(1).title == "Out of office"


def test_quarantine_retry_needs_ids_or_all(quarantined: POP3TestServer) -> None:
    result = invoke("quarantine", "retry")
    assert result.exit_code == 1
    assert "give the IDs" in result.output


# -- configuration and errors ----------------------------------------------------------------------


def test_a_broken_configuration_file_is_reported_without_a_traceback(workdir: Path) -> None:
    (workdir / "mailtrack.toml").write_text(
        '[[interfaces]]\nname = "x"\nserver = "pop"\nlogin = "l"\nport = 0\n'
    )
    result = invoke("interfaces", "list")
    assert result.exit_code == 1
    assert "interfaces[0].port" in result.output
    assert "Traceback" not in result.output


def test_debug_lets_the_exception_through(workdir: Path) -> None:
    (workdir / "mailtrack.toml").write_text("store = 12\n")
    result = invoke("--debug", "records", "list")
    assert isinstance(result.exception, ConfigError)


def test_config_option_names_another_file(workdir: Path, server: POP3TestServer) -> None:
    path = write_config(workdir, server)
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    moved = path.rename(elsewhere / "custom.toml")
    assert "support: OK" in ok(invoke("--config", str(moved), "check"))


def test_a_missing_config_file_is_a_plain_error(workdir: Path) -> None:
    result = invoke("--config", "nowhere.toml", "check")
    assert result.exit_code == 1
    assert "cannot read configuration file" in result.output


def test_version() -> None:
    assert "mailtrack" in ok(invoke("--version"))


# -- what the converter noticed, refused attachments (issue #18.8, #18.10) --------------------------


def test_records_show_explains_damaged_input_and_refused_files(workdir: Path) -> None:
    damaged = (
        b"From: =?x-unknown?q?Bj=F6rn?= <bjorn@example.org>\r\nTo: support@example.com\r\n"
        b"Subject: Scan job 8812\r\nDate: sometime last week\r\n"
        b"Message-ID: <scan@example.org>\r\n\r\nscan\r\n"
    )
    with_exe = build_message(
        subject="Invoice",
        message_id="<invoice@example.com>",
        attachments=[
            ("invoice.pdf", "application/pdf", b"%PDF"),
            ("setup.exe", "application/x-msdownload", b"MZ"),
        ],
    )
    with POP3TestServer([damaged, with_exe], user="support", password=PASSWORD) as running:
        config = write_config(workdir, running)
        with config.open("a", encoding="utf-8") as stream:
            stream.write('\n[interfaces.attachments]\nrefuse_extensions = ["exe"]\n')
        run_output = ok(invoke("run"))
    assert "damaged input" in run_output  # the run's notes mention it
    output = ok(invoke("records", "show", "1"))
    assert "Bj\ufffdrn <bjorn@example.org>" in output
    assert "=?x-unknown" not in output
    assert "Noticed while reading the mail" in output
    assert "the From header uses the unknown charset 'x-unknown'" in output
    assert "the Date header 'sometime last week' could not be read" in output
    invoice = ok(invoke("records", "show", "2"))
    assert "invoice.pdf" in invoice
    assert "setup.exe" in invoice
    assert "its name ends in .exe (attachments.refuse_extensions)" in invoice
    record = json.loads(ok(invoke("records", "show", "1", "--json")))
    assert any("unknown charset" in defect for defect in record["details"][0]["defects"])
