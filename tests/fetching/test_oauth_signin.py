"""OAuth 2.0 sign-in, the same over POP3 (``AUTH``, POP3TestServer) and IMAP (``AUTHENTICATE``,
the scripted IMAP server), with a real authorization server on 127.0.0.1: fresh, expired,
rotated and revoked tokens, a token refused twice, token endpoint outages, a server that cannot
check tokens now, a server without OAuth, ``check``, and the host's own tokens.

What only one protocol has is in ``test_pop3_oauth.py`` and ``test_imap_oauth.py``; Dovecot's
oauth2 passdb checks real tokens over both in ``tests/integration/test_dovecot_oauth.py``.
"""

from __future__ import annotations

import base64
import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from _imapserver import ScriptedIMAPServer
from _oauth import seeded_settings
from mailtrack import (
    AuthenticationError,
    Importer,
    MailInterface,
    MailProtocol,
    MemoryRecordStore,
    ServerBusyError,
    TokenError,
)
from mailtrack.auth import AccessToken, FileTokenCache, TokenState
from mailtrack.fetching import IMAPFetcher, POP3Fetcher
from mailtrack.testing import Faults, OAuthTestServer, POP3TestServer, SASLLogin, build_message

USER = "support@example.com"
NAME = "helpdesk"


@attrs.define
class Served:
    """A POP3 or IMAP test server holding two messages, seen the same way by the tests."""

    protocol: MailProtocol
    server: POP3TestServer | ScriptedIMAPServer

    def interface(self, **overrides: Any) -> MailInterface:
        overrides = {"name": NAME, "password": "", **overrides}
        return self.server.interface(**overrides)

    def fetcher(self, interface: MailInterface, **options: Any) -> POP3Fetcher | IMAPFetcher:
        return (IMAPFetcher if self.protocol is MailProtocol.IMAP else POP3Fetcher)(interface, **options)

    def add(self, raw: bytes) -> None:
        if isinstance(self.server, POP3TestServer):
            self.server.add_message(raw)
        else:
            self.server.add(raw)

    def left(self) -> int:
        """Messages still on the server."""
        if isinstance(self.server, POP3TestServer):
            return len(self.server.mailbox)
        return len(self.server.raws())

    @property
    def logins(self) -> list[SASLLogin]:
        return list(self.server.sasl_logins)

    def connections(self) -> int:
        if isinstance(self.server, POP3TestServer):
            return len(self.server.transcripts)
        return len(self.server._clients)

    def challenge_answers(self) -> list[bytes]:
        """The client's answers to the error challenges, decoded (RFC 7628: ``b""`` for
        XOAUTH2, ``b"\\x01"`` for OAUTHBEARER)."""
        if isinstance(self.server, ScriptedIMAPServer):
            return list(self.server.challenge_answers)
        answers = []
        for session in self.server.transcripts:  # the line after a refused AUTH is the answer
            for line, after in zip(session.lines, session.lines[1:], strict=False):
                if line.command == "AUTH" and after.command not in _POP3_COMMANDS:
                    answers.append(base64.b64decode(after.text))
        return answers


_POP3_COMMANDS = {"CAPA", "AUTH", "STAT", "UIDL", "LIST", "RETR", "DELE", "QUIT", "NOOP", "RSET", "TOP"}


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(sign_in_as=USER) as server:
        yield server


@pytest.fixture(params=[MailProtocol.POP3, MailProtocol.IMAP], ids=["pop3", "imap"])
def serve(request: pytest.FixtureRequest, oauth: OAuthTestServer) -> Iterator[Callable[..., Served]]:
    """``serve(mechanisms=..., busy=..., check_token=...)``: the server of the test's protocol."""
    protocol: MailProtocol = request.param
    with contextlib.ExitStack() as stack:

        def start(
            *,
            mechanisms: tuple[str, ...] = ("OAUTHBEARER", "XOAUTH2"),
            busy: bool = False,
            check_token: Callable[[str, str], bool] | None = None,
        ) -> Served:
            check = check_token or oauth.check_token
            messages = [build_message(subject="first"), build_message(subject="second")]
            if protocol is MailProtocol.POP3:
                faults = (
                    Faults(login_error="[SYS/TEMP] Temporary authentication failure.") if busy else Faults()
                )
                pop = POP3TestServer(
                    messages,
                    user=USER,
                    tls="implicit",
                    check_token=check,
                    sasl_mechanisms=mechanisms,
                    faults=faults,
                )
                return Served(protocol, stack.enter_context(pop))
            imap = ScriptedIMAPServer(
                user=USER,
                greeting="OK ready",
                capabilities=("IMAP4rev1", *(f"AUTH={name}" for name in mechanisms), "SASL-IR", "UIDPLUS"),
                check_token=check,
                token_reply="NO [UNAVAILABLE] Temporary authentication failure." if busy else None,
            )
            served = Served(protocol, stack.enter_context(imap))
            for raw in messages:
                served.add(raw)
            return served

        yield start


def oauth_interface(served: Served, oauth: OAuthTestServer, tmp_path: Path, **settings: Any) -> MailInterface:
    return served.interface(oauth=seeded_settings(oauth, tmp_path, **settings))


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_a_fresh_token_signs_in_and_the_mailbox_is_imported(
    serve: Callable[..., Served], oauth: OAuthTestServer, tmp_path: Path, mechanism: str
) -> None:
    served = serve(mechanisms=(mechanism,))
    report = Importer(store=MemoryRecordStore()).run(oauth_interface(served, oauth, tmp_path))
    assert (report.error, report.imported) == (None, 2)
    assert served.left() == 0
    (login,) = served.logins
    assert (login.mechanism, login.user, login.accepted) == (mechanism, USER, True)


@pytest.mark.parametrize(("mechanism", "answer"), [("XOAUTH2", b""), ("OAUTHBEARER", b"\x01")])
def test_an_expired_access_token_is_refreshed_silently(
    serve: Callable[..., Served], oauth: OAuthTestServer, tmp_path: Path, mechanism: str, answer: bytes
) -> None:
    served = serve(mechanisms=(mechanism,))
    interface = oauth_interface(served, oauth, tmp_path)
    assert served.fetcher(interface).check().ok
    oauth.expire_access_tokens()  # the provider ends it early; the cache still thinks it good
    served.add(build_message(subject="third"))
    report = Importer(store=MemoryRecordStore()).run(interface)
    assert (report.error, report.imported) == (None, 3)
    first, refused, retried = served.logins
    assert [first.accepted, refused.accepted, retried.accepted] == [True, False, True]
    assert refused.token == first.token  # the cached token first, a new one after the refusal
    assert retried.token != refused.token
    # The refusal's error challenge was answered as RFC 7628 says, then the login retried on the
    # same connection.
    assert served.challenge_answers() == [answer]


def test_a_rotated_refresh_token_is_saved_and_used_on_the_next_run(
    serve: Callable[..., Served], oauth: OAuthTestServer, tmp_path: Path
) -> None:
    oauth.rotate = True
    served = serve()
    interface = oauth_interface(served, oauth, tmp_path)
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
    served.add(build_message(subject="later"))
    report = Importer(store=store).run(interface)
    assert (report.error, report.imported) == (None, 1)
    refreshed = [request.form.get("refresh_token") for request in oauth.requests if request.path == "/token"]
    assert refreshed[-1] == state.refresh_token


def test_a_revoked_refresh_token_ends_the_run_in_plain_words_and_touches_nothing(
    serve: Callable[..., Served], oauth: OAuthTestServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    served = serve()
    interface = oauth_interface(served, oauth, tmp_path)
    seed = (tmp_path / "refresh-token").read_text().strip()
    oauth.revoke(user=USER)
    store = MemoryRecordStore()
    report = Importer(store=store).run(interface)
    assert report.error is not None
    assert f"sign in again with `mailtrack oauth login {NAME}`" in report.error
    assert "Traceback" not in report.error
    assert report.imported == 0
    assert store.list_records() == []
    assert served.left() == 2
    assert served.connections() == 0  # no token, no connection
    for text in (report.error, caplog.text):
        assert seed not in text
        assert oauth.client_secret not in text


def test_a_token_refused_twice_is_an_authentication_error_naming_the_fix(
    serve: Callable[..., Served], oauth: OAuthTestServer, tmp_path: Path
) -> None:
    served = serve(check_token=lambda user, token: False)
    with pytest.raises(
        AuthenticationError,
        match=rf"the token for {USER} was refused.*sign in again with `mailtrack oauth login {NAME}`",
    ):
        served.fetcher(oauth_interface(served, oauth, tmp_path)).open()
    assert [login.accepted for login in served.logins] == [False, False]
    assert served.left() == 2


def test_a_token_endpoint_that_is_down_ends_the_run_before_connecting(
    serve: Callable[..., Served], oauth: OAuthTestServer, tmp_path: Path
) -> None:
    oauth.down = True
    served = serve()
    with pytest.raises(TokenError, match="will retry next run") as caught:
        served.fetcher(oauth_interface(served, oauth, tmp_path)).open()
    assert caught.value.retry_later
    assert served.connections() == 0


def test_a_slow_token_endpoint_times_out(
    serve: Callable[..., Served], oauth: OAuthTestServer, tmp_path: Path
) -> None:
    oauth.delay = 30.0
    served = serve()
    report = Importer(store=MemoryRecordStore()).run(oauth_interface(served, oauth, tmp_path, timeout=0.5))
    assert report.error is not None
    assert "no answer within 0.5 seconds" in report.error
    assert served.left() == 2
    assert served.connections() == 0


def test_a_server_that_cannot_check_tokens_now_is_busy_not_a_refusal(
    serve: Callable[..., Served], oauth: OAuthTestServer, tmp_path: Path
) -> None:
    served = serve(busy=True)
    with pytest.raises(ServerBusyError, match="will retry next run"):
        served.fetcher(oauth_interface(served, oauth, tmp_path)).open()
    token_requests = [request for request in oauth.requests if request.path == "/token"]
    assert len(token_requests) == 1  # no refresh for a server-side failure
    assert len(served.logins) == 1
    assert served.left() == 2


def test_a_server_without_oauth_mechanisms_says_so(
    serve: Callable[..., Served], oauth: OAuthTestServer, tmp_path: Path
) -> None:
    served = serve(mechanisms=("PLAIN",))
    with pytest.raises(AuthenticationError, match=r"offers no OAuth 2\.0 sign-in"):
        served.fetcher(oauth_interface(served, oauth, tmp_path)).open()
    assert served.logins == []


def test_check_reports_the_account_and_the_expiry_of_the_token(
    serve: Callable[..., Served], oauth: OAuthTestServer, tmp_path: Path
) -> None:
    served = serve()
    check = served.fetcher(oauth_interface(served, oauth, tmp_path)).check()
    assert check.ok, check.error
    assert check.account == USER
    assert check.token_expires_at is not None
    assert check.message_count == 2


def test_check_reports_a_revoked_token_in_plain_words(
    serve: Callable[..., Served], oauth: OAuthTestServer, tmp_path: Path
) -> None:
    served = serve()
    interface = oauth_interface(served, oauth, tmp_path)
    oauth.revoke(user=USER)
    check = served.fetcher(interface).check()
    assert not check.ok
    assert f"mailtrack oauth login {NAME}" in str(check.error)


def test_a_host_application_can_pass_its_own_tokens(serve: Callable[..., Served]) -> None:
    served = serve(check_token=lambda user, token: token == "host-token-1")
    fetcher = served.fetcher(served.interface(), token_source=lambda: AccessToken(value="host-token-1"))
    assert len(fetcher.open()) == 2
    fetcher.close(commit=False)
    assert served.left() == 2
