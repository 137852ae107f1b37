"""IMAP faults against a scripted server (tests/support/_imapserver.py): connections dropped
mid-FETCH, after STORE \\Deleted and before EXPUNGE, during MOVE; UIDVALIDITY changed between
runs; a message expunged by another client while we fetch; [ALERT], BYE at login,
NO [OVERQUOTA], [UNAVAILABLE]; a literal announced larger than it is, or larger than allowed.

After every fault the same holds: 0 lost, 0 duplicated; every message ends as a record, a
quarantined item, or still on the server.
"""

from __future__ import annotations

import base64
import logging

import pytest

from _imapserver import ScriptedIMAPServer
from mailtrack import (
    AuthenticationError,
    FetchError,
    Importer,
    MemoryRecordStore,
    Security,
    SecurityError,
    ServerBusyError,
)
from mailtrack.fetching import IMAPFetcher
from mailtrack.testing import build_message

COUNT = 12


def fill(server: ScriptedIMAPServer, count: int = COUNT, start: int = 0) -> list[str]:
    """*count* messages with Message-IDs; returns the IDs."""
    ids = []
    for n in range(start, start + count):
        message_id = f"m{n:03d}@imap.test"
        server.add(build_message(subject=f"message {n}", text=f"body {n}\n" * 30, message_id=message_id))
        ids.append(message_id)
    return ids


def message_ids(store: MemoryRecordStore) -> list[str]:
    return sorted(detail.message_id for record in store.list_records() for detail in record.details)


def test_dropped_mid_fetch_loses_nothing_and_the_next_run_imports_everything_once() -> None:
    store = MemoryRecordStore()
    with ScriptedIMAPServer(drop_after_bodies=5) as server:
        ids = fill(server)
        first = Importer(store=store).run(server.interface())
        assert first.error is not None
        assert "connection" in first.error
        assert len(server.raws()) == COUNT  # nothing deleted
        server.drop_after_bodies = None
        second = Importer(store=store).run(server.interface())
        assert second.error is None, second.error
        assert message_ids(store) == ids
        assert server.raws() == []


def test_dropped_after_store_deleted_before_expunge() -> None:
    store = MemoryRecordStore()
    with ScriptedIMAPServer(drop_on="UID EXPUNGE") as server:
        ids = fill(server)
        first = Importer(store=store).run(server.interface())
        assert first.created == COUNT
        assert first.error is not None
        assert "did not confirm the deletions" in first.error
        assert len(server.raws()) == COUNT  # flagged \Deleted, still there
        server.drop_on = None
        second = Importer(store=store).run(server.interface())
        assert second.error is None, second.error
        assert (second.created, second.imported) == (0, 0)
        assert message_ids(store) == ids
        assert server.raws() == []


def test_dropped_during_move_and_refused_move_leave_the_messages_in_place() -> None:
    store = MemoryRecordStore()
    with ScriptedIMAPServer(drop_on="UID MOVE") as server:
        server.folders["Done"] = []
        ids = fill(server)
        interface = server.interface(after_import="move:Done")
        first = Importer(store=store).run(interface)
        assert first.created == COUNT
        assert first.error is not None
        assert (len(server.raws()), server.raws("Done")) == (COUNT, [])

        server.drop_on = None
        server.refuse = {"UID MOVE": "NO [OVERQUOTA] Quota exceeded (mailbox for user is full)"}
        second = Importer(store=store).run(interface)
        assert second.error is not None
        assert (len(server.raws()), server.raws("Done")) == (COUNT, [])

        server.refuse = {}
        third = Importer(store=store).run(interface)
        assert third.error is None, third.error
        assert message_ids(store) == ids
        assert server.raws() == []
        assert len(server.raws("Done")) == COUNT


def test_uidvalidity_changed_between_runs_imports_nothing_twice_and_skips_nothing() -> None:
    store = MemoryRecordStore()
    with ScriptedIMAPServer() as server:
        ids = fill(server)
        interface = server.interface(after_import="keep")
        first = Importer(store=store).run(interface)
        assert first.created == COUNT
        server.rebuild()
        ids += fill(server, 2, start=COUNT)
        second = Importer(store=store).run(interface)
        assert second.error is None, second.error
        assert second.created == 2  # the new ones
        assert message_ids(store) == ids  # the old ones matched by Message-ID, not doubled
        third = Importer(store=store).run(interface)
        assert (third.imported, third.already_imported) == (0, COUNT + 2)
        assert len(server.raws()) == COUNT + 2


def test_uidvalidity_changed_content_skipped_before_is_not_imported_now() -> None:
    """An auto-reply naming a record that did not exist was skipped; after the rebuild its
    record exists, and the policy alone would now append it: the ledger's content digest
    (revision 0008) finds it under its old key, so it is not imported a second time."""
    store = MemoryRecordStore()
    with ScriptedIMAPServer() as server:
        server.add(
            build_message(
                subject="Automatic reply: Re: [#1] message 0",
                text="I am out of the office.\n",
                message_id="auto@imap.test",
                headers={"Auto-Submitted": "auto-replied"},
            )
        )
        ids = fill(server, 2)
        interface = server.interface(after_import="keep")
        first = Importer(store=store).run(interface)
        assert (first.created, first.skipped) == (2, 1), first.notes
        server.rebuild()
        second = Importer(store=store).run(interface)
        assert second.error is None, second.error
        # Skipped again (counted as skipped, as it was), the other two found as imported.
        counts = (second.created, second.updated, second.skipped, second.already_imported)
        assert counts == (0, 0, 1, 2), second.notes
        assert message_ids(store) == ids  # the auto-reply is no detail of record 1


def test_a_message_expunged_by_another_client_while_we_fetch() -> None:
    store = MemoryRecordStore()
    with ScriptedIMAPServer() as server:
        ids = fill(server)
        server.expunged_meanwhile = {3}
        report = Importer(store=store).run(server.interface())
        assert report.error is None, report.error
        assert report.created == COUNT - 1
        assert message_ids(store) == [i for i in ids if i != "m002@imap.test"]
        assert server.raws() == []


def test_alert_is_logged_without_control_characters_and_shown_by_check(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with ScriptedIMAPServer(login_reply="OK [ALERT] Maintenance \x1b[31mtonight\x07") as server:
        fill(server, 1)
        with caplog.at_level(logging.WARNING, logger="mailtrack.fetching.imap"):
            report = Importer().run(server.interface())
        assert report.error is None, report.error
        assert "Maintenance" in caplog.text
        assert "\x1b" not in caplog.text
        result = Importer().check(server.interface())
        assert result.ok, result.error
        assert any("Maintenance" in warning and "\x1b" not in warning for warning in result.warnings)


def test_bye_at_login_and_unavailable_are_busy_not_wrong_passwords() -> None:
    with (
        ScriptedIMAPServer(greeting="BYE Too many connections, try later") as server,
        pytest.raises(ServerBusyError, match="retry next run"),
    ):
        IMAPFetcher(server.interface()).open()
    with (
        ScriptedIMAPServer(login_reply="NO [UNAVAILABLE] Backend down") as server,
        pytest.raises(ServerBusyError, match="Backend down"),
    ):
        IMAPFetcher(server.interface()).open()
    with ScriptedIMAPServer() as server:
        with pytest.raises(AuthenticationError, match="refused the login") as caught:
            IMAPFetcher(server.interface(password="wrong-secret")).open()
        assert "wrong-secret" not in str(caught.value)


def test_a_literal_announced_larger_than_it_is_ends_the_session_and_deletes_nothing() -> None:
    store = MemoryRecordStore()
    with ScriptedIMAPServer(overannounce=100) as server:
        fill(server, 3)
        report = Importer(store=store).run(server.interface(timeout=0.5))
        assert report.error is not None
        assert report.imported == 0
        assert len(server.raws()) == 3


def test_a_literal_beyond_the_limit_is_refused_before_it_is_read() -> None:
    with ScriptedIMAPServer(overannounce=10**12) as server:
        fill(server, 1)
        fetcher = IMAPFetcher(server.interface())
        listing = fetcher.open()
        with pytest.raises(FetchError, match="larger than announced"):
            list(fetcher.retrieve_many(listing))
        fetcher.close(commit=True)
        assert len(server.raws()) == 1


def test_starttls_not_offered_fails_before_the_login_is_sent() -> None:
    with ScriptedIMAPServer() as server:
        with pytest.raises(SecurityError, match="does not offer STARTTLS"):
            IMAPFetcher(server.interface(security=Security.STARTTLS)).open()
        assert not any("AUTHENTICATE" in line or "LOGIN" in line for line in server.commands)
        assert not any(server.password in line for line in server.commands)


def test_login_without_auth_plain_uses_login_and_leave_copy_keeps() -> None:
    capabilities = ("IMAP4rev1", "UIDPLUS", "IDLE")
    with ScriptedIMAPServer(capabilities=capabilities, greeting="OK ready") as server:
        fill(server, 2)
        store = MemoryRecordStore()
        interface = server.interface(leave_copy=True)
        assert Importer(store=store).run(interface).created == 2
        assert Importer(store=store).run(interface).already_imported == 2
        assert len(server.raws()) == 2
        assert any(line.split(" ")[1] == "LOGIN" for line in server.commands)
        assert any(line.split(" ")[1] == "EXAMINE" for line in server.commands)  # keep: read-only


def test_a_server_trickling_a_body_under_the_read_timeout_is_ended_by_the_deadline() -> None:
    # Each byte comes well within the timeout of a read (1 s), so without the step's deadline
    # (the timeout plus the body's size at 16 KB/s) the run would succeed after about 4 s.
    store = MemoryRecordStore()
    with ScriptedIMAPServer(trickle=0.01) as server:
        fill(server, 1)
        report = Importer(store=store).run(server.interface(timeout=1.0))
        assert report.error is not None
        assert "took too long" in report.error
        assert report.imported == 0
        assert len(server.raws()) == 1


@pytest.mark.parametrize(
    "capabilities", [("IMAP4rev1", "AUTH=PLAIN", "SASL-IR"), ("IMAP4rev1",)], ids=["plain", "login"]
)
def test_a_server_repeating_the_login_command_never_gets_the_password_quoted(
    capabilities: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    token = base64.b64encode(b"\0support\0secret-pw").decode("ascii")
    replies = ["NO [UNAVAILABLE] you sent: {command}", "OK [ALERT] you sent: {command}"]
    for reply in replies:
        with ScriptedIMAPServer(capabilities=capabilities, greeting="OK ready", login_reply=reply) as server:
            with caplog.at_level(logging.DEBUG):
                result = Importer().check(server.interface())
            said = f"{result.error} {result.warnings} {caplog.text}"
            assert "you sent" in said  # the server's words are there, the secret is not
            assert "secret-pw" not in said
            assert token not in said
            caplog.clear()


def test_a_tagged_answer_to_a_command_never_sent_ends_the_session() -> None:
    with ScriptedIMAPServer(login_reply="OK logged in\r\nX99 OK [ALERT] forged") as server:
        result = Importer().check(server.interface())
        assert not result.ok
        assert "not sent" in str(result.error)
