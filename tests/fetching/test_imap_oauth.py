"""IMAP sign-in with OAuth 2.0 (AUTHENTICATE XOAUTH2 / OAUTHBEARER) against the scripted IMAP
server and a real authorization server on 127.0.0.1: the paths Dovecot does not show (the
initial response without SASL-IR, the error challenge and its answers, NO [UNAVAILABLE], a
server that repeats the command), where a token may go, and an IDLE watcher's reconnection.
(Dovecot's oauth2 passdb checks real tokens over IMAP in tests/integration/test_dovecot_oauth.py.)
"""

from __future__ import annotations

import base64
import contextlib
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _imapserver import ScriptedIMAPServer
from mailtrack import (
    AuthenticationError,
    Importer,
    MailInterface,
    MemoryRecordStore,
    Security,
    SecurityError,
    ServerBusyError,
)
from mailtrack._importing.stopping import StopRequest
from mailtrack.auth import AccessToken
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
    seed = tmp_path / "refresh-token"
    if not seed.exists():
        seed.write_text(oauth.refresh_token() + "\n")
    settings.setdefault("refresh_token_file", str(seed))
    settings.setdefault("token_file", str(tmp_path / "tokens.json"))
    security = settings.pop("security", Security.NONE)
    return server.interface(password="", security=security, oauth=oauth.oauth_settings(**settings))


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
        ((used, user, _token, accepted, answer),) = server.sasl_logins
        assert (used, user, accepted, answer) == (mechanism, USER, True, None)
        command = next(line for line in server.commands if "AUTHENTICATE" in line)
        assert command.split(" ")[1:] == (
            ["AUTHENTICATE", mechanism, command.split(" ")[3]] if sasl_ir else ["AUTHENTICATE", mechanism]
        )


@pytest.mark.parametrize(("mechanism", "answer"), [("XOAUTH2", b""), ("OAUTHBEARER", b"\x01")])
def test_a_refused_token_gets_the_rfc_7628_answer_then_is_refreshed_and_retried(
    oauth: OAuthTestServer, tmp_path: Path, mechanism: str, answer: bytes
) -> None:
    with serve(oauth) as server:
        interface = oauth_interface(server, oauth, tmp_path, mechanism=mechanism)
        assert IMAPFetcher(interface).check().ok
        oauth.expire_access_tokens()  # the cached token is refused by the server from now on
        server.add(build_message(subject="after expiry"))
        report = Importer(store=MemoryRecordStore()).run(interface)
        assert (report.error, report.imported) == (None, 1)
        first, refused, retried = server.sasl_logins
        assert (first[3], refused[3], retried[3]) == (True, False, True)
        assert refused[2] == first[2]  # the cached token was tried first …
        assert retried[2] != refused[2]  # … and a new one after the refusal
        assert refused[4] == answer  # XOAUTH2: the empty response; OAUTHBEARER: ^A (AQ==)
        assert base64.b64encode(answer).decode() in server.commands


def test_a_token_refused_twice_is_an_authentication_error_naming_the_fix(
    oauth: OAuthTestServer, tmp_path: Path
) -> None:
    with serve(oauth) as server:
        server.check_token = lambda user, token: False
        server.add(build_message())
        with pytest.raises(AuthenticationError) as caught:
            IMAPFetcher(oauth_interface(server, oauth, tmp_path)).open()
        message = str(caught.value)
        assert f"the token for {USER} was refused" in message
        assert "sign in again with `mailtrack oauth login scripted`" in message
        assert len(server.sasl_logins) == 2
        assert len(server.raws()) == 1


def test_a_server_that_cannot_check_tokens_now_is_busy_not_a_refusal(
    oauth: OAuthTestServer, tmp_path: Path
) -> None:
    with serve(oauth, token_reply="NO [UNAVAILABLE] Temporary authentication failure.") as server:
        server.add(build_message())
        with pytest.raises(ServerBusyError, match="will retry next run"):
            IMAPFetcher(oauth_interface(server, oauth, tmp_path)).open()
        assert len([request for request in oauth.requests if request.path == "/token"]) == 1  # no refresh
        assert len(server.sasl_logins) == 1
        assert len(server.raws()) == 1


def test_a_server_without_oauth_mechanisms_says_so(oauth: OAuthTestServer, tmp_path: Path) -> None:
    with serve(oauth, capabilities=("IMAP4rev1", "AUTH=PLAIN", "SASL-IR")) as server:
        with pytest.raises(AuthenticationError, match=r"offers no OAuth 2\.0 sign-in"):
            IMAPFetcher(oauth_interface(server, oauth, tmp_path)).open()
        assert not any("AUTHENTICATE" in line for line in server.commands)


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


def test_check_reports_a_revoked_token_in_plain_words(oauth: OAuthTestServer, tmp_path: Path) -> None:
    with serve(oauth) as server:
        interface = oauth_interface(server, oauth, tmp_path)
        oauth.revoke(user=USER)
        check = IMAPFetcher(interface).check()
        assert not check.ok
        assert "mailtrack oauth login scripted" in str(check.error)
        assert server.commands == []  # the token endpoint refused: the mail server was not even asked


def test_a_host_application_can_pass_its_own_tokens() -> None:
    with ScriptedIMAPServer(
        user=USER,
        capabilities=OAUTH,
        greeting="OK ready",
        check_token=lambda user, token: token == "host-token-1",
    ) as server:
        server.add(build_message())
        fetcher = IMAPFetcher(
            server.interface(password=""), token_source=lambda: AccessToken(value="host-token-1")
        )
        assert len(fetcher.open()) == 1
        fetcher.close(commit=False)
        assert len(server.raws()) == 1


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
            assert (first[3], second[3]) == (True, True)  # accepted at once: no refusal, no retry
            assert second[2] != first[2]
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
