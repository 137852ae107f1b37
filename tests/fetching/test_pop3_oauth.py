"""What only POP3 has of the OAuth 2.0 sign-in (AUTH XOAUTH2 / OAUTHBEARER), against
POP3TestServer and a real authorization server on 127.0.0.1: a token too long for the AUTH line,
where tokens may go over TLS, STLS and plain text, and a server that repeats the command. What
POP3 and IMAP share (fresh, expired, rotated and revoked tokens, outages, [SYS/TEMP]) is in
``test_oauth_signin.py``."""

from __future__ import annotations

import base64
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _oauth import seeded_settings
from mailtrack import (
    FetchError,
    Importer,
    MailInterface,
    MemoryRecordStore,
    Security,
    SecurityError,
)
from mailtrack.fetching import POP3Fetcher
from mailtrack.testing import Faults, OAuthTestServer, POP3TestServer, build_message

USER = "support@example.com"


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(sign_in_as=USER) as server:
        yield server


def serve(oauth: OAuthTestServer, **options: Any) -> POP3TestServer:
    options.setdefault("tls", "implicit")
    options.setdefault("check_token", oauth.check_token)
    messages = [build_message(subject="first"), build_message(subject="second")]
    return POP3TestServer(messages, user=USER, **options)


def oauth_interface(
    pop: POP3TestServer, oauth: OAuthTestServer, tmp_path: Path, **settings: Any
) -> MailInterface:
    return pop.interface(oauth=seeded_settings(oauth, tmp_path, **settings))


def test_a_token_too_long_for_one_line_goes_in_a_continuation(tmp_path: Path) -> None:
    long_token = "t" * 2000
    with POP3TestServer([], tls="implicit", check_token=lambda user, token: token == long_token) as pop:
        interface = pop.interface(password="", oauth=None)
        fetcher = POP3Fetcher(interface, token_source=lambda: long_token)
        assert fetcher.open() == []
        fetcher.close(commit=True)
        lines = pop.transcripts[0].lines
        auth = [index for index, line in enumerate(lines) if line.command == "AUTH"]
        assert lines[auth[0]].text == "AUTH OAUTHBEARER"
        assert lines[auth[0] + 1].secret
        assert len(lines[auth[0] + 1].text) > 2000
        assert pop.sasl_logins[0].accepted


@pytest.mark.parametrize("certificate", ["untrusted", "wrong-host", "expired"])
def test_a_token_never_crosses_an_unverified_tls_connection(
    oauth: OAuthTestServer, tmp_path: Path, certificate: str
) -> None:
    with serve(oauth, certificate=certificate) as pop:
        with pytest.raises(SecurityError):
            POP3Fetcher(oauth_interface(pop, oauth, tmp_path)).open()
        assert pop.sasl_logins == []
        assert not pop.password_exposed


def test_a_token_never_crosses_plain_text_when_starttls_is_missing(
    oauth: OAuthTestServer, tmp_path: Path
) -> None:
    with serve(oauth, tls="stls", faults=Faults(hide_stls=True)) as pop:
        with pytest.raises(SecurityError):
            POP3Fetcher(oauth_interface(pop, oauth, tmp_path)).open()
        assert pop.sasl_logins == []
        assert "AUTH" not in pop.transcripts[0].commands


def test_over_starttls_the_token_goes_only_after_tls(oauth: OAuthTestServer, tmp_path: Path) -> None:
    with serve(oauth, tls="stls") as pop:
        assert Importer(store=MemoryRecordStore()).run(oauth_interface(pop, oauth, tmp_path)).imported == 2
        assert [login.trusted for login in pop.sasl_logins] == [True]
        assert not pop.password_exposed


def test_only_an_explicit_security_none_sends_a_token_in_clear_text(
    oauth: OAuthTestServer, tmp_path: Path
) -> None:
    with serve(oauth, tls=None) as pop:
        interface = oauth_interface(pop, oauth, tmp_path)
        assert interface.security is Security.NONE
        check = POP3Fetcher(interface).check()
        assert check.ok
        assert any("access token is sent unencrypted" in warning for warning in check.warnings)
        assert [login.tls for login in pop.sasl_logins] == [False]


def test_a_server_that_repeats_the_auth_command_never_gets_the_token_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server echoing what it did not understand (the whole AUTH line, base64 token included)."""
    caplog.set_level(logging.DEBUG)
    token = "echo-token-" + "x" * 40
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_one() -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rwb") as stream:
            stream.write(b"+OK ready\r\n")
            stream.flush()
            for line in stream:
                if line.upper().startswith(b"CAPA"):
                    stream.write(b"+OK\r\nSASL XOAUTH2\r\n.\r\n")
                elif line.upper().startswith(b"AUTH"):
                    stream.write(b"-ERR [SYS/PERM] cannot parse: " + line.strip()[:150] + b"\r\n")
                else:
                    stream.write(b"-ERR no\r\n")
                stream.flush()

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        interface = MailInterface(
            name="echo",
            server="127.0.0.1",
            port=listener.getsockname()[1],
            login=USER,
            security=Security.NONE,
            timeout=10,
        )
        with pytest.raises(FetchError) as caught:
            POP3Fetcher(interface, token_source=lambda: token).open()
    finally:
        listener.close()
        thread.join(timeout=10)
    encoded = base64.b64encode(f"user={USER}\x01auth=Bearer {token}\x01\x01".encode()).decode()
    for text in (str(caught.value), caplog.text):
        assert token not in text
        assert encoded[:40] not in text
        assert encoded[20:60] not in text
    assert "[SYS/PERM]" in str(caught.value) or "not shown" in str(caught.value)
