"""What only IMAP has of the OAuth 2.0 sign-in (AUTHENTICATE XOAUTH2 / OAUTHBEARER), against
the scripted IMAP server and a real authorization server on 127.0.0.1: the initial response with
and without SASL-IR, STARTTLS missing, ``security = "none"``, a server that repeats the command,
and an IDLE watcher's reconnection. What POP3 and IMAP share (the error challenge's answers,
refresh, rotation, revocation, outages, NO [UNAVAILABLE]) is in ``test_oauth_signin.py``; Dovecot's
oauth2 passdb checks real tokens over IMAP in ``tests/integration/test_dovecot_oauth.py``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _imapserver import ScriptedIMAPServer
from _oauth import seeded_settings
from mailtrack import (
    Importer,
    MailInterface,
    MemoryRecordStore,
    Security,
    SecurityError,
    ServerBusyError,
)
from mailtrack._importing.stopping import StopRequest
from mailtrack.fetching import IMAPFetcher
from mailtrack.fetching._imapidle import IdleWatcher
from mailtrack.testing import OAuthTestServer, build_message

USER = "support@example.com"
OAUTH = ("IMAP4rev1", "AUTH=XOAUTH2", "AUTH=OAUTHBEARER", "SASL-IR", "UIDPLUS", "IDLE")
#: Liveness bound for something expected within about a second.
BOUND = 10.0


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(sign_in_as=USER) as server:
        yield server


def serve(oauth: OAuthTestServer, **options: Any) -> ScriptedIMAPServer:
    options.setdefault("capabilities", OAUTH)
    return ScriptedIMAPServer(user=USER, check_token=oauth.check_token, greeting="OK ready", **options)


def oauth_interface(
    server: ScriptedIMAPServer, oauth: OAuthTestServer, tmp_path: Path, **settings: Any
) -> MailInterface:
    security = settings.pop("security", Security.NONE)
    return server.interface(
        password="", security=security, oauth=seeded_settings(oauth, tmp_path, **settings)
    )


@pytest.mark.parametrize("sasl_ir", [True, False], ids=["sasl-ir", "continuation"])
@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_a_fresh_token_signs_in_and_the_folder_is_imported(
    oauth: OAuthTestServer, tmp_path: Path, mechanism: str, sasl_ir: bool
) -> None:
    capabilities = ("IMAP4rev1", f"AUTH={mechanism}", "UIDPLUS") + (("SASL-IR",) if sasl_ir else ())
    with serve(oauth, capabilities=capabilities) as server:
        server.add(build_message(subject="first"))
        report = Importer(store=MemoryRecordStore()).run(oauth_interface(server, oauth, tmp_path))
        assert (report.error, report.imported) == (None, 1)
        assert server.raws() == []
        (login,) = server.sasl_logins
        assert (login.mechanism, login.user, login.accepted) == (mechanism, USER, True)
        assert server.challenge_answers == []
        command = next(line for line in server.commands if "AUTHENTICATE" in line)
        assert command.split(" ")[1:] == (
            ["AUTHENTICATE", mechanism, command.split(" ")[3]] if sasl_ir else ["AUTHENTICATE", mechanism]
        )


def test_a_token_never_crosses_plain_text_when_starttls_is_missing(
    oauth: OAuthTestServer, tmp_path: Path
) -> None:
    with serve(oauth) as server:
        interface = oauth_interface(server, oauth, tmp_path, security=Security.STARTTLS)
        with pytest.raises(SecurityError, match="nothing was sent"):
            IMAPFetcher(interface).open()
        assert not any("AUTHENTICATE" in line for line in server.commands)
        assert server.sasl_logins == []


def test_only_an_explicit_security_none_sends_a_token_in_clear_text(
    oauth: OAuthTestServer, tmp_path: Path
) -> None:
    with serve(oauth) as server:
        interface = oauth_interface(server, oauth, tmp_path)
        assert interface.security is Security.NONE
        check = IMAPFetcher(interface).check()
        assert check.ok, check.error
        assert any("access token is sent unencrypted" in warning for warning in check.warnings)
        assert check.account == USER
        assert check.token_expires_at is not None


def test_a_server_that_repeats_the_command_never_gets_the_token_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "echo-token-" + "x" * 40
    caplog.set_level(logging.DEBUG)
    with ScriptedIMAPServer(
        user=USER,
        capabilities=OAUTH,
        greeting="OK ready",
        check_token=lambda user, sent: sent == token,
        token_reply="NO [SERVERBUG] you sent: {command}",
    ) as server:
        with pytest.raises(ServerBusyError) as caught:
            IMAPFetcher(server.interface(password=""), token_source=lambda: token).open()
        encoded = next(line for line in server.commands if "AUTHENTICATE" in line).split(" ")[3]
        assert "you sent: AUTHENTICATE OAUTHBEARER [redacted])" in str(caught.value)  # the rest is kept
        for text in (str(caught.value), caplog.text):
            assert token not in text
            assert encoded not in text


def test_an_idle_reconnection_asks_for_a_fresh_token(oauth: OAuthTestServer, tmp_path: Path) -> None:
    """Access tokens that are stale a second after they are issued: the watcher's reconnection
    after a dropped connection signs in with a new one at the first attempt."""
    oauth.access_token_lifetime = 121.0  # mailtrack stops using a token 120 s before it expires
    with serve(oauth) as server:
        interface = oauth_interface(server, oauth, tmp_path)
        stop = StopRequest()
        watcher = IdleWatcher(interface, stop, lambda: None)
        watcher.start()
        try:
            assert _eventually(lambda: watcher.idling)
            (first,) = server.sasl_logins
            time.sleep(1.5)  # the token the connection signed in with is stale now
            with server._lock:
                for client in server._clients:
                    with contextlib.suppress(OSError):  # closed already
                        client.shutdown(socket.SHUT_RDWR)
            assert _eventually(lambda: len(server.sasl_logins) == 2 and watcher.idling)
            second = server.sasl_logins[1]
            assert (first.accepted, second.accepted) == (True, True)  # at once: no refusal, no retry
            assert second.token != first.token
        finally:
            stop.set()
            watcher.join(BOUND)
        refreshes = [
            request for request in oauth.requests if request.form.get("grant_type") == "refresh_token"
        ]
        assert len(refreshes) == 2


def _eventually(condition: Any, bound: float = BOUND) -> bool:
    end = time.monotonic() + bound
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())
