"""IMAPFetcher against a real Dovecot: plain IMAP, IMAPS and STARTTLS with a private CA, long
lines, refusals, the ledger keys, and what after_import does on the server."""

from __future__ import annotations

import re
import time

import pytest

from _dovecot import LONG, LONG_LINE, Mailbox, crlf
from mailtrack import AuthenticationError, FetchError, MailProtocol, Security, SecurityError
from mailtrack.fetching import IMAPFetcher
from mailtrack.testing import build_message

pytestmark = pytest.mark.integration

IMAP = MailProtocol.IMAP


@pytest.mark.parametrize("security", [Security.NONE, Security.STARTTLS, Security.SSL])
def test_each_security_mode_retrieves_the_messages_intact(mailbox: Mailbox, security: Security) -> None:
    short = build_message(subject="Printer jammed")
    mailbox.deliver(LONG, "long")
    mailbox.deliver(short, "short")
    fetcher = IMAPFetcher(mailbox.interface(security, IMAP))
    listing = fetcher.open()
    retrieved = list(fetcher.retrieve_many(listing))
    fetcher.close(commit=False)
    assert [raw for _, raw in retrieved] == [crlf(LONG), crlf(short)]
    assert LONG_LINE + b"\r\n" in retrieved[0][1]
    assert [info.size for info in listing] == [len(crlf(LONG)), len(crlf(short))]
    # FOLDER/UIDVALIDITY:UID, the same UIDVALIDITY for both
    uidvalidity = listing[0].uid.split("/")[1].split(":")[0] if listing[0].uid else "?"
    assert uidvalidity.isdigit()
    assert [info.uid for info in listing] == [f"INBOX/{uidvalidity}:1", f"INBOX/{uidvalidity}:2"]
    # BODY.PEEK: reading marked nothing as seen
    assert set(mailbox.flags().values()) <= {""}


def test_many_messages_come_in_order_across_chunks(mailbox: Mailbox) -> None:
    raws = [build_message(subject=f"message {n}", text=f"body {n}\n" * (n * 50)) for n in range(80)]
    for n, raw in enumerate(raws):
        mailbox.deliver(raw, f"m{n}")
    fetcher = IMAPFetcher(mailbox.interface(Security.SSL, IMAP))
    listing = fetcher.open()
    retrieved = list(fetcher.retrieve_many(listing))
    fetcher.close(commit=False)
    assert [raw for _, raw in retrieved] == [crlf(raw) for raw in raws]
    assert [info for info, _ in retrieved] == list(listing)


@pytest.mark.parametrize("security", [Security.NONE, Security.STARTTLS, Security.SSL])
def test_check_reports_the_folder_and_capabilities(mailbox: Mailbox, security: Security) -> None:
    mailbox.deliver(LONG, "long")
    result = IMAPFetcher(mailbox.interface(security, IMAP)).check()
    assert result.ok, result.error
    assert result.message_count == 1
    assert {"IDLE", "UIDPLUS", "MOVE"} <= set(result.capabilities)
    assert (result.tls_version is None) is (security is Security.NONE)


def test_check_names_a_missing_folder_and_a_missing_move_target(mailbox: Mailbox) -> None:
    result = IMAPFetcher(mailbox.interface(Security.SSL, IMAP, folder="Nowhere")).check()
    assert not result.ok
    assert "Nowhere" in str(result.error)
    result = IMAPFetcher(mailbox.interface(Security.SSL, IMAP, after_import="move:Done")).check()
    assert not result.ok
    assert "'Done'" in str(result.error)
    assert "does not exist" in str(result.error)
    mailbox.folder("Done")
    result = IMAPFetcher(mailbox.interface(Security.SSL, IMAP, after_import="move:Done")).check()
    assert result.ok, result.error


def test_a_wrong_password_is_refused_in_plain_words(mailbox: Mailbox) -> None:
    fetcher = IMAPFetcher(mailbox.interface(Security.SSL, IMAP, password="not-the-password"))
    with pytest.raises(AuthenticationError, match=f"refused the login for user '{mailbox.login}'") as caught:
        fetcher.open()
    assert "not-the-password" not in str(caught.value)


def test_the_system_trust_store_does_not_trust_the_private_ca(mailbox: Mailbox) -> None:
    with pytest.raises(SecurityError, match="not trusted"):
        IMAPFetcher(mailbox.interface(Security.SSL, IMAP, ca_file=None)).open()


@pytest.mark.parametrize("security", [Security.STARTTLS, Security.SSL])
def test_a_name_the_certificate_does_not_carry_is_refused(mailbox: Mailbox, security: Security) -> None:
    with pytest.raises(SecurityError, match="host name mismatch"):
        IMAPFetcher(mailbox.interface(security, IMAP, server="localhost")).open()


def test_close_without_commit_keeps_and_with_commit_deletes(mailbox: Mailbox) -> None:
    first = mailbox.deliver(build_message(subject="one"), "one")
    second = mailbox.deliver(build_message(subject="two"), "two")
    fetcher = IMAPFetcher(mailbox.interface(Security.SSL, IMAP))
    for info in fetcher.open():
        fetcher.delete(info)
    fetcher.close(commit=False)
    assert mailbox.files() == {first, second}
    assert "T" not in "".join(mailbox.flags().values())

    fetcher = IMAPFetcher(mailbox.interface(Security.SSL, IMAP))
    listing = fetcher.open()
    assert len(listing) == 2
    fetcher.delete(listing[0])
    fetcher.close(commit=True)
    assert mailbox.files() == {second}


def test_after_import_move_and_flag(mailbox: Mailbox) -> None:
    done = mailbox.folder("Done")
    first = mailbox.deliver(build_message(subject="one"), "one")
    second = mailbox.deliver(build_message(subject="two"), "two")
    fetcher = IMAPFetcher(mailbox.interface(Security.SSL, IMAP, after_import="move:Done"))
    fetcher.delete(fetcher.open()[0])
    fetcher.close(commit=True)
    assert mailbox.files() == {second}
    assert len(mailbox.files_in(done)) == 1

    fetcher = IMAPFetcher(mailbox.interface(Security.SSL, IMAP, after_import="flag"))
    fetcher.delete(fetcher.open()[0])
    fetcher.close(commit=True)
    assert mailbox.files() == {second}
    assert "S" in mailbox.flags()[second]
    assert first not in mailbox.files()


def test_a_folder_that_does_not_exist_is_named(mailbox: Mailbox) -> None:
    with pytest.raises(FetchError, match="'Nowhere'"):
        IMAPFetcher(mailbox.interface(Security.SSL, IMAP, folder="Nowhere")).open()


@pytest.mark.parametrize("security", [Security.STARTTLS, Security.SSL])
def test_a_certificate_not_trusted_is_refused_before_the_login_is_sent(
    mailbox: Mailbox, security: Security
) -> None:
    """Dovecot's own log shows that the client never tried to log in."""
    log = mailbox.dovecot.directory / "log" / "dovecot.info.log"
    with pytest.raises(SecurityError, match="nothing was sent"):
        IMAPFetcher(mailbox.interface(security, IMAP, ca_file=None)).open()
    fetcher = IMAPFetcher(mailbox.interface(security, IMAP))  # the same mailbox, trusted: logs in
    fetcher.open()
    fetcher.close(commit=False)

    def logged() -> tuple[list[str], list[str]]:
        lines = log.read_text(errors="replace").splitlines()
        logins = [line for line in lines if "imap-login" in line and f"Login: user=<{mailbox.login}>" in line]
        refused = [line for line in lines if "imap-login" in line and "unknown ca" in line]
        return logins, refused

    # Dovecot's log process writes a moment later: wait for both lines (a liveness bound).
    deadline = time.monotonic() + 30
    while not all(logged()) and time.monotonic() < deadline:
        time.sleep(0.05)
    logins, refused = logged()
    assert len(logins) == 1  # only the trusted connection logged in
    assert refused
    # Dovecot's words for a client that never tried (login-common's disconnect reasons): under
    # load its auth process may not have been ready yet, which it says instead.
    never_tried = (
        "(no auth attempts",
        "(disconnected before auth was ready",
        "(disconnected before greeting",
    )
    assert all(any(words in line for words in never_tried) for line in refused), refused
    assert not any(re.search(r"user=<[^>]", line) for line in refused)  # Dovecot logs user=<> then
