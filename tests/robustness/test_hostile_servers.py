"""Issue 14.2: a server that repeats the password cannot make mailtrack repeat it.

Servers echo the secret the fetcher sent (the password, the APOP digest) in their replies:
plainly, in another case, base64 encoded, and split across lines. Nowhere mailtrack keeps or
shows server text may the secret appear: the exception, the run report and the saved run, the
connection check, the log, and the CLI's ``check``, ``run`` and ``interfaces list --json``.
Every password source is tried.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import attrs
import pytest

from _scripted_pop3 import ScriptedPOP3
from _tally import record
from mailtrack import AuthenticationError, Importer, MailInterface, MemoryRecordStore, RunReport, Security
from mailtrack._redaction import REDACTED, Redactor, redact
from mailtrack.fetching import POP3Fetcher
from mailtrack.stores import SQLRecordStore

PASSWORD = "Tr0ub4dor&3-horse"
VARIABLE = "MAILTRACK_HOSTILE_PASSWORD"

#: How a server may say the password back.
ECHOES: dict[str, Callable[[str], bytes]] = {
    "plain": lambda secret: b"-ERR [AUTH] you said " + secret.encode(),
    "other case": lambda secret: b"-ERR [AUTH] YOU SAID " + secret.upper().encode(),
    "base64": lambda secret: b"-ERR [AUTH] you said " + base64.b64encode(secret.encode()),
    "base64 inside": lambda secret: b"-ERR [AUTH] " + base64.b64encode(b"\0support\0" + secret.encode()),
    "no response code": lambda secret: b"-ERR wrong password " + secret.encode(),
}


def _forms(secret: str) -> list[str]:
    """The forms of *secret* that must not appear anywhere (base64 without its padding)."""
    return [secret, secret.upper(), secret.lower(), base64.b64encode(secret.encode()).decode().rstrip("=")]


def assert_clean(text: str, secret: str = PASSWORD) -> None:
    folded = " ".join(text.split())
    for form in _forms(secret):
        assert form not in text, (form, text)
        assert form not in folded.replace(" ", ""), (form, text)


@pytest.fixture(params=["password", "password_env", "password_file"])
def source(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The interface settings of each password source."""
    monkeypatch.setenv(VARIABLE, PASSWORD)
    if request.param == "password":
        return {"password": PASSWORD}
    if request.param == "password_env":
        return {"password_env": VARIABLE}
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n", encoding="utf-8")
    return {"password_file": str(path)}


def interface_for(server: ScriptedPOP3, **settings: object) -> MailInterface:
    return MailInterface(
        name="support",
        server="127.0.0.1",
        port=server.port,
        login="support",
        security=Security.NONE,
        **{"timeout": 10, **settings},  # type: ignore[arg-type]
    )


@pytest.fixture(params=sorted(ECHOES))
def echoing(request: pytest.FixtureRequest) -> Iterator[ScriptedPOP3]:
    echo = ECHOES[request.param]
    with ScriptedPOP3([(b"u1", b"Subject: hi\r\n\r\nhi\r\n")]) as server:
        server.answers["PASS"] = lambda _args: echo(PASSWORD) + b"\r\n"
        yield server


def test_an_echoed_password_appears_in_no_exception_report_check_or_log(
    echoing: ScriptedPOP3, source: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    interface = interface_for(echoing, **source)
    with pytest.raises(AuthenticationError) as raised:
        POP3Fetcher(interface).open()
    assert REDACTED in str(raised.value)
    assert_clean(str(raised.value))
    assert_clean(repr(raised.value))
    with SQLRecordStore(f"sqlite:///{tmp_path / 'runs.db'}") as store, caplog.at_level(logging.DEBUG):
        importer = Importer(store=store)
        report = importer.run(interface)
        check = importer.check(interface)
        saved = store.last_run("support")
    assert report.error is not None
    assert REDACTED in report.error
    assert check.error is not None
    assert saved is not None
    assert saved.error is not None
    for text in (report.error, check.error, saved.error, caplog.text, repr(report), repr(check)):
        assert_clean(text)
    record(faults=1)


def test_a_password_split_across_lines_of_a_capa_reply_is_redacted(source: dict[str, str]) -> None:
    with ScriptedPOP3([(b"u1", b"Subject: hi\r\n\r\nhi\r\n")]) as server:
        half = len(PASSWORD) // 2
        server.capabilities += [b"X-ECHO " + PASSWORD[:half].encode(), PASSWORD[half:].encode()]
        server.capabilities += [b"EXPIRE " + PASSWORD.encode()]
        check = Importer().check(interface_for(server, leave_copy=True, **source))
    assert check.ok
    texts = [*check.capabilities, *(check.expire or ""), *check.warnings, repr(check)]
    assert_clean(" ".join(texts))
    assert_clean("".join(check.capabilities))
    record(faults=1)


def test_an_echoed_apop_digest_and_password_are_redacted() -> None:
    with ScriptedPOP3([(b"u1", b"Subject: hi\r\n\r\nhi\r\n")]) as server:
        timestamp = b"<1.2@example.org>"
        digest = hashlib.md5(timestamp + PASSWORD.encode(), usedforsecurity=False).hexdigest()
        server.answers["APOP"] = lambda args: (
            b"-ERR [AUTH] got " + args + b" for " + PASSWORD.encode() + b"\r\n"
        )
        interface = interface_for(server, password=PASSWORD, apop=True)
        report = Importer().run(interface)
    assert report.error is not None
    assert digest not in report.error
    assert_clean(report.error)
    record(faults=1)


def test_a_password_as_a_uid_is_neither_kept_nor_shown(caplog: pytest.LogCaptureFixture) -> None:
    raw = b"Subject: hi\r\nMessage-ID: <hi@example.org>\r\n\r\nhi\r\n"
    with (
        ScriptedPOP3([(b"x-" + PASSWORD.encode(), raw)]) as server,
        MemoryRecordStore() as store,
        caplog.at_level(logging.DEBUG),
    ):
        interface = interface_for(server, password=PASSWORD, leave_copy=True)
        assert Importer(store=store).run(interface).created == 1
        assert Importer(store=store).run(interface).already_imported == 1  # the same key next run
    assert_clean(caplog.text)
    assert not store.is_imported("support", "x-" + PASSWORD)
    digest = hashlib.sha256(b"x-" + PASSWORD.encode()).hexdigest()
    assert store.is_imported("support", f"uidl-sha256:{digest}")
    record(faults=1)


def test_a_password_in_a_reply_that_breaks_the_protocol_is_redacted() -> None:
    with ScriptedPOP3([(b"u1", b"Subject: hi\r\n\r\nhi\r\n")]) as server:
        server.answers["UIDL"] = lambda _args: b"garbage " + PASSWORD.encode() + b"\r\n"
        report = Importer().run(interface_for(server, password=PASSWORD))
    assert report.error is not None
    assert "not a POP3 reply" in report.error
    assert_clean(report.error)


def test_the_cli_repeats_no_echoed_password(
    echoing: ScriptedPOP3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("click")
    from click.testing import CliRunner

    from mailtrack.cli import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(VARIABLE, PASSWORD)
    (tmp_path / "mailtrack.toml").write_text(
        f'store = "sqlite:///{tmp_path / "mailtrack.db"}"\n\n[[interfaces]]\nname = "support"\n'
        f'server = "127.0.0.1"\nport = {echoing.port}\nlogin = "support"\n'
        f'password_env = "{VARIABLE}"\nsecurity = "none"\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    for args in (
        ["check"],
        ["check", "--json"],
        ["run"],
        ["run", "--json"],
        ["interfaces", "list", "--json"],
        ["interfaces", "list"],
    ):
        result = runner.invoke(cli, args, env={"COLUMNS": "200"})
        assert (
            "refused the login" in result.output or "last_run" in result.output or "failed" in result.output
        )
        assert_clean(result.output)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("said hunter2!", "said [redacted]!"),
        ("said HUNTER2", "said [redacted]"),
        ("said hun\r\nter2", "said [redacted]"),
        ("b64 aHVudGVyMg== end", "b64 [redacted]g== end"),
        ("hex 68756e74657232", "hex [redacted]"),
        ("nothing here", "nothing here"),
    ],
)
def test_redact_finds_each_form_of_a_secret(text: str, expected: str) -> None:
    assert redact(text, ["hunter2"]) == expected


def test_a_redactor_without_secrets_changes_nothing() -> None:
    assert Redactor().text("hunter2") == "hunter2"
    assert Redactor(["", "x" * 0]).bytes(b"abc") == b"abc"


# -- issue 14.3: deadlines, not only timeouts ------------------------------------------------------


def _run_in_thread(importer: Importer, interface: MailInterface, bound: float) -> RunReport:
    """Run the import in a thread; fail when it has not ended within *bound* seconds (liveness)."""
    reports: list[RunReport] = []
    thread = threading.Thread(target=lambda: reports.append(importer.run(interface)), daemon=True)
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"the run did not end within {bound} seconds"
    return reports[0]


def _dripping(raw: bytes, pause: float) -> Callable[[bytes], Iterator[bytes]]:
    def answer(_args: bytes) -> Iterator[bytes]:
        yield b"+OK\r\n"
        for byte in raw:
            time.sleep(pause)
            yield bytes([byte])
        yield b".\r\n"

    return answer


def test_a_server_dripping_a_message_cannot_hold_the_run() -> None:
    """One byte every 0.5 s never lets a 2 s read timeout expire; the reply's deadline does."""
    raw = b"Subject: slow\r\nMessage-ID: <slow@example.org>\r\n\r\n" + b"x" * 1000 + b"\r\n"
    with ScriptedPOP3([(b"slow", raw)]) as server, MemoryRecordStore() as store:
        server.answers["RETR"] = _dripping(raw, 0.5)
        interface = interface_for(server, password=PASSWORD, timeout=2)
        importer = Importer(store=store)
        # Expected end: ~4 s (twice timeout + 1 KB at 64 KB/s); at least 5x that is allowed.
        report = _run_in_thread(importer, interface, bound=20)
        assert report.error is not None
        assert "too slow" in report.error, report.error
        assert server.deleted == set()
        assert store.list_records() == []
        del server.answers["RETR"]
        assert importer.run(interface).created == 1
    assert server.deleted == {1}
    record(faults=1, messages=1)


def test_run_timeout_ends_the_session_without_quit_and_loses_nothing() -> None:
    mailbox = [
        (b"u%d" % n, b"Subject: m%d\r\nMessage-ID: <m%d@example.org>\r\n\r\nbody\r\n" % (n, n))
        for n in range(8)
    ]
    with ScriptedPOP3(mailbox) as server, MemoryRecordStore() as store:

        def slow(args: bytes) -> bytes | Iterable[bytes]:
            time.sleep(0.5)
            return server.default("RETR", args)

        server.answers["RETR"] = slow
        interface = interface_for(server, password=PASSWORD, timeout=5, run_timeout=1.2)
        importer = Importer(store=store)
        report = _run_in_thread(importer, interface, bound=20)
        assert report.error is not None
        assert "run_timeout 1.2 s" in report.error, report.error
        assert 0 < report.imported < len(mailbox)
        assert not any(line == b"QUIT" for line in server.commands)
        assert server.deleted == set()  # no QUIT: the server deleted nothing
        del server.answers["RETR"]
        second = importer.run(attrs.evolve(interface, run_timeout=None))
        assert second.ok, second.error
        assert report.imported + second.imported == len(mailbox)
    assert len(server.deleted) == len(mailbox)
    assert sorted(len(r.details) for r in store.list_records()) == [1] * len(mailbox)
    record(faults=1, messages=len(mailbox))
