"""POP3 sign-in with OAuth 2.0 (AUTH XOAUTH2 / OAUTHBEARER) against POP3TestServer and a real
authorization server on 127.0.0.1: fresh, expired, rotated and revoked tokens, outages, and where
tokens may go."""

from __future__ import annotations

import base64
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailtrack import (
    AuthenticationError,
    FetchError,
    Importer,
    MailInterface,
    MemoryRecordStore,
    Security,
    SecurityError,
    ServerBusyError,
    TokenError,
)
from mailtrack.auth import AccessToken, FileTokenCache, TokenState
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
    seed = tmp_path / "refresh-token"
    if not seed.exists():
        seed.write_text(oauth.refresh_token() + "\n")
    settings.setdefault("refresh_token_file", str(seed))
    settings.setdefault("token_file", str(tmp_path / "tokens.json"))
    return pop.interface(oauth=oauth.oauth_settings(**settings))


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_a_fresh_token_signs_in_and_the_mailbox_is_imported(
    oauth: OAuthTestServer, tmp_path: Path, mechanism: str
) -> None:
    with serve(oauth, sasl_mechanisms=(mechanism,)) as pop:
        report = Importer(store=MemoryRecordStore()).run(oauth_interface(pop, oauth, tmp_path))
        assert (report.error, report.imported) == (None, 2)
        assert pop.mailbox == []
        (login,) = pop.sasl_logins
        assert (login.mechanism, login.user, login.accepted, login.trusted) == (mechanism, USER, True, True)
        assert not pop.password_exposed


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


def test_an_expired_access_token_is_refreshed_silently(oauth: OAuthTestServer, tmp_path: Path) -> None:
    with serve(oauth) as pop:
        interface = oauth_interface(pop, oauth, tmp_path)
        assert POP3Fetcher(interface).check().ok
        oauth.expire_access_tokens()  # the provider ends it early; the cache still thinks it good
        pop.add_message(build_message(subject="third"))
        report = Importer(store=MemoryRecordStore()).run(interface)
        assert (report.error, report.imported) == (None, 3)
        assert [login.accepted for login in pop.sasl_logins] == [True, False, True]
        # The refusal's error challenge was answered (RFC 7628), then the login retried on the same link.
        session = pop.transcripts[-1]
        assert session.commands.count("AUTH") == 2
        auth = session.commands.index("AUTH")
        assert session.lines[auth + 1].text == "AQ=="  # OAUTHBEARER's empty response: base64 of ^A


def test_a_rotated_refresh_token_is_saved_and_used_on_the_next_run(
    oauth: OAuthTestServer, tmp_path: Path
) -> None:
    oauth.rotate = True
    with serve(oauth) as pop:
        interface = oauth_interface(pop, oauth, tmp_path)
        seed = (tmp_path / "refresh-token").read_text().strip()
        store = MemoryRecordStore()
        assert Importer(store=store).run(interface).error is None
        cache = FileTokenCache(tmp_path / "tokens.json")
        state = cache.load()
        assert state is not None
        assert state.refresh_token in oauth.live_refresh_tokens
        assert seed not in oauth.live_refresh_tokens
        oauth.expire_access_tokens()
        cache.swap(state, TokenState(refresh_token=state.refresh_token))  # as if it had expired too
        pop.add_message(build_message(subject="later"))
        report = Importer(store=store).run(interface)
        assert (report.error, report.imported) == (None, 1)


def test_a_revoked_refresh_token_ends_the_run_in_plain_words_and_touches_nothing(
    oauth: OAuthTestServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with serve(oauth) as pop:
        interface = oauth_interface(pop, oauth, tmp_path)
        seed = (tmp_path / "refresh-token").read_text().strip()
        oauth.revoke(user=USER)
        store = MemoryRecordStore()
        report = Importer(store=store).run(interface)
        assert report.error is not None
        assert "sign in again with `mailtrack oauth login pop3-test`" in report.error
        assert "Traceback" not in report.error
        assert report.imported == 0
        assert store.list_records() == []
        assert len(pop.mailbox) == 2
        assert pop.transcripts == []  # no token, no connection
        for text in (report.error, caplog.text):
            assert seed not in text
            assert oauth.client_secret not in text


def test_a_token_refused_twice_is_an_authentication_error_naming_the_fix(
    oauth: OAuthTestServer, tmp_path: Path
) -> None:
    with serve(oauth, check_token=lambda user, token: False) as pop:
        interface = oauth_interface(pop, oauth, tmp_path)
        fetcher = POP3Fetcher(interface)
        with pytest.raises(
            AuthenticationError,
            match=r"the token for support@example.com was refused.*"
            r"sign in again with `mailtrack oauth login pop3-test`",
        ):
            fetcher.open()
        assert [login.accepted for login in pop.sasl_logins] == [False, False]
        assert len(pop.mailbox) == 2


def test_a_token_endpoint_that_is_down_ends_the_run_before_connecting(
    oauth: OAuthTestServer, tmp_path: Path
) -> None:
    oauth.down = True
    with serve(oauth) as pop:
        with pytest.raises(TokenError, match="will retry next run") as caught:
            POP3Fetcher(oauth_interface(pop, oauth, tmp_path)).open()
        assert caught.value.retry_later
        assert pop.transcripts == []


def test_a_slow_token_endpoint_times_out(oauth: OAuthTestServer, tmp_path: Path) -> None:
    oauth.delay = 30.0
    with serve(oauth) as pop:
        report = Importer(store=MemoryRecordStore()).run(oauth_interface(pop, oauth, tmp_path, timeout=0.5))
        assert report.error is not None
        assert "no answer within 0.5 seconds" in report.error
        assert len(pop.mailbox) == 2


def test_a_server_that_cannot_check_tokens_now_is_busy_not_a_refusal(
    oauth: OAuthTestServer, tmp_path: Path
) -> None:
    with serve(oauth, faults=Faults(login_error="[SYS/TEMP] Temporary authentication failure.")) as pop:
        with pytest.raises(ServerBusyError):
            POP3Fetcher(oauth_interface(pop, oauth, tmp_path)).open()
        token_requests = [request for request in oauth.requests if request.path == "/token"]
        assert len(token_requests) == 1  # no refresh for a server-side failure


def test_a_server_without_oauth_mechanisms_says_so(oauth: OAuthTestServer, tmp_path: Path) -> None:
    with serve(oauth, sasl_mechanisms=("PLAIN",)) as pop:
        with pytest.raises(AuthenticationError, match=r"offers no OAuth 2\.0 sign-in"):
            POP3Fetcher(oauth_interface(pop, oauth, tmp_path)).open()
        assert pop.sasl_logins == []


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


def test_check_reports_the_account_and_the_expiry_of_the_token(
    oauth: OAuthTestServer, tmp_path: Path
) -> None:
    with serve(oauth) as pop:
        check = POP3Fetcher(oauth_interface(pop, oauth, tmp_path)).check()
        assert check.ok, check.error
        assert check.account == USER
        assert check.token_expires_at is not None
        assert check.message_count == 2


def test_check_reports_a_revoked_token_in_plain_words(oauth: OAuthTestServer, tmp_path: Path) -> None:
    with serve(oauth) as pop:
        interface = oauth_interface(pop, oauth, tmp_path)
        oauth.revoke(user=USER)
        check = POP3Fetcher(interface).check()
        assert not check.ok
        assert check.error is not None
        assert "mailtrack oauth login pop3-test" in check.error


def test_a_host_application_can_pass_its_own_tokens() -> None:
    tokens = {"host-token-1"}
    with POP3TestServer(
        [build_message()], tls="implicit", check_token=lambda user, token: token in tokens
    ) as pop:
        fetcher = POP3Fetcher(
            pop.interface(password=""), token_source=lambda: AccessToken(value="host-token-1")
        )
        assert len(fetcher.open()) == 1
        fetcher.close(commit=False)


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
