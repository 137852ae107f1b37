"""POP3Fetcher against a real Dovecot: plain POP3, POP3S and STLS with a private CA, APOP, long
lines, refusals, and what the server keeps or deletes."""

from __future__ import annotations

import pytest

from _dovecot import Mailbox
from mailtrack import AuthenticationError, Security, SecurityError
from mailtrack.fetching import POP3Fetcher
from mailtrack.testing import build_message

pytestmark = pytest.mark.integration

LONG_LINE = b"".join(b"%04d " % n for n in range(2000))  # 10,000 bytes, no break
LONG = (
    b"From: Alice <alice@example.com>\nTo: support@example.com\nSubject: a very long line\n"
    b"Message-ID: <long-line@example.com>\n\n" + LONG_LINE + b"\n.a line starting with a dot\n..and two\n"
)


def crlf(raw: bytes) -> bytes:
    """*raw* with CRLF line ends, as POP3 delivers it."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.mark.parametrize("security", [Security.NONE, Security.STARTTLS, Security.SSL])
def test_each_security_mode_retrieves_the_messages_intact(mailbox: Mailbox, security: Security) -> None:
    short = build_message(subject="Printer jammed")
    mailbox.deliver(LONG, "long")
    mailbox.deliver(short, "short")
    fetcher = POP3Fetcher(mailbox.interface(security))
    listing = fetcher.open()
    retrieved = list(fetcher.retrieve_many(listing))
    fetcher.close(commit=False)
    assert [raw for _, raw in retrieved] == [crlf(LONG), crlf(short)]
    assert LONG_LINE + b"\r\n" in retrieved[0][1]
    assert all(info.uid for info in listing)
    assert len({info.uid for info in listing}) == 2
    assert mailbox.files() != set()


@pytest.mark.parametrize("security", [Security.NONE, Security.STARTTLS, Security.SSL])
def test_check_reports_the_mailbox(mailbox: Mailbox, security: Security) -> None:
    mailbox.deliver(LONG, "long")
    result = POP3Fetcher(mailbox.interface(security)).check()
    assert result.ok, result.error
    assert result.message_count == 1
    assert result.mailbox_bytes is not None
    assert result.mailbox_bytes >= len(LONG)
    assert result.uidl
    assert (result.tls_version is None) is (security is Security.NONE)


def test_apop_logs_in(mailbox: Mailbox) -> None:
    mailbox.deliver(LONG, "long")
    fetcher = POP3Fetcher(mailbox.interface(Security.STARTTLS, apop=True))
    assert len(fetcher.open()) == 1
    fetcher.close(commit=False)


def test_a_wrong_password_is_refused_in_plain_words(mailbox: Mailbox) -> None:
    with pytest.raises(AuthenticationError, match=f"refused the login for user '{mailbox.login}'") as caught:
        POP3Fetcher(mailbox.interface(password="not-the-password")).open()
    assert "not-the-password" not in str(caught.value)


def test_the_system_trust_store_does_not_trust_the_private_ca(mailbox: Mailbox) -> None:
    with pytest.raises(SecurityError, match="not trusted"):
        POP3Fetcher(mailbox.interface(ca_file=None)).open()


@pytest.mark.parametrize("security", [Security.STARTTLS, Security.SSL])
def test_a_name_the_certificate_does_not_carry_is_refused(mailbox: Mailbox, security: Security) -> None:
    # The certificate names 127.0.0.1 and mailtrack-dovecot.test, not localhost.
    with pytest.raises(SecurityError, match="host name mismatch"):
        POP3Fetcher(mailbox.interface(security, server="localhost")).open()


def test_close_without_commit_keeps_and_with_commit_deletes(mailbox: Mailbox) -> None:
    first = mailbox.deliver(build_message(subject="one"), "one")
    second = mailbox.deliver(build_message(subject="two"), "two")
    fetcher = POP3Fetcher(mailbox.interface())
    for info in fetcher.open():
        fetcher.delete(info)
    fetcher.close(commit=False)
    assert mailbox.files() == {first, second}

    fetcher = POP3Fetcher(mailbox.interface())
    listing = fetcher.open()
    assert len(listing) == 2
    fetcher.delete(listing[0])
    fetcher.close(commit=True)
    assert mailbox.files() == {second}


@pytest.mark.parametrize("security", [Security.NONE, Security.STARTTLS])
def test_a_plain_setting_on_dovecots_pop3s_port_says_to_use_ssl(mailbox: Mailbox, security: Security) -> None:
    interface = mailbox.interface(security, port=mailbox.dovecot.pop3s_port)
    with pytest.raises(SecurityError, match="this port expects TLS from the first byte") as caught:
        POP3Fetcher(interface).open()
    assert 'Set security = "ssl" for this port' in str(caught.value)


def test_the_ssl_setting_on_dovecots_plain_port_says_to_use_starttls(mailbox: Mailbox) -> None:
    interface = mailbox.interface(Security.SSL, port=mailbox.dovecot.pop3_port)
    with pytest.raises(SecurityError, match="this port speaks plain POP3") as caught:
        POP3Fetcher(interface).open()
    assert 'Set security = "starttls"' in str(caught.value)
    assert "WRONG_VERSION_NUMBER" not in str(caught.value)
