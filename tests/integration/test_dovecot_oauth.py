"""Dovecot's oauth2 passdb checks real tokens from the local authorization server, over POP3 and
over IMAP (the same passdb serves both): XOAUTH2 and OAUTHBEARER, a token refreshed after Dovecot
refused it, a rotated refresh token, a revoked sign-in, a token endpoint that is down or slow, an
introspection endpoint that is down, and where a token may go (asserted from what Dovecot passed
on to the introspection endpoint: every token it received)."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from _dovecot import Mailbox
from _oauth import seeded_settings
from mailtrack import (
    AuthenticationError,
    Importer,
    MailInterface,
    MailProtocol,
    MemoryRecordStore,
    Security,
    SecurityError,
    TokenError,
)
from mailtrack.auth import FileTokenCache, TokenState
from mailtrack.fetching import fetcher_for
from mailtrack.testing import OAuthTestServer, build_message

pytestmark = pytest.mark.integration


@pytest.fixture(params=[MailProtocol.POP3, MailProtocol.IMAP], ids=["pop3", "imap"])
def protocol(request: pytest.FixtureRequest) -> MailProtocol:
    return request.param  # type: ignore[no-any-return]


def oauth_interface(
    mailbox: Mailbox,
    oauth: OAuthTestServer,
    tmp_path: Path,
    protocol: MailProtocol,
    security: Security = Security.SSL,
    **settings: object,
) -> MailInterface:
    settings_object = seeded_settings(oauth, tmp_path, user=mailbox.login, **settings)
    return mailbox.interface(security, protocol, password="", oauth=settings_object)


def introspected(oauth: OAuthTestServer, since: int = 0) -> list[str]:
    """The access tokens Dovecot received (and asked the introspection endpoint about)."""
    return [
        request.form.get("token", "") or request.form.get("access_token", "")
        for request in oauth.requests[since:]
        if request.path in ("/introspect", "/tokeninfo")
    ]


def refreshes(oauth: OAuthTestServer, since: int = 0) -> list[str]:
    """The refresh tokens mailtrack sent to the token endpoint."""
    return [
        request.form.get("refresh_token", "")
        for request in oauth.requests[since:]
        if request.path == "/token" and request.form.get("grant_type") == "refresh_token"
    ]


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_dovecot_accepts_a_fresh_token(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path, protocol: MailProtocol, mechanism: str
) -> None:
    mailbox.deliver(build_message(subject="over oauth"))
    interface = oauth_interface(mailbox, oauth, tmp_path, protocol, mechanism=mechanism)
    check = fetcher_for(interface).check()
    assert check.ok, check.error
    assert check.account == mailbox.login
    assert check.token_expires_at is not None
    report = Importer(store=MemoryRecordStore()).run(interface)
    assert (report.error, report.imported) == (None, 1)
    assert mailbox.files() == set()


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_a_token_dovecot_refuses_is_refreshed_and_the_login_retried(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path, protocol: MailProtocol, mechanism: str
) -> None:
    interface = oauth_interface(mailbox, oauth, tmp_path, protocol, mechanism=mechanism)
    assert fetcher_for(interface).check().ok
    oauth.expire_access_tokens()  # Dovecot now refuses the cached token (error challenge, then -ERR / NO)
    mailbox.deliver(build_message(subject="after expiry"))
    before = len(oauth.requests)
    report = Importer(store=MemoryRecordStore()).run(interface)
    assert (report.error, report.imported) == (None, 1)
    # Dovecot asked about the cached token (refused), mailtrack refreshed, Dovecot asked again (live).
    assert len(refreshes(oauth, before)) == 1
    assert [request.tls for request in oauth.requests[before:] if request.path == "/token"] == [True]
    assert len(set(introspected(oauth, before))) == 2


def test_a_rotated_refresh_token_is_saved_and_used_on_the_next_run(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path, protocol: MailProtocol
) -> None:
    oauth.rotate = True
    interface = oauth_interface(mailbox, oauth, tmp_path, protocol)
    seed = (tmp_path / "refresh-token").read_text()
    store = MemoryRecordStore()
    mailbox.deliver(build_message(subject="first"))
    assert Importer(store=store).run(interface).imported == 1
    cache = FileTokenCache(tmp_path / "tokens.json")
    state = cache.load()
    assert state is not None
    assert state.refresh_token is not None
    assert state.refresh_token != seed
    assert seed not in oauth.live_refresh_tokens  # the old one is dead: only the saved one works
    oauth.expire_access_tokens()
    cache.swap(state, TokenState(refresh_token=state.refresh_token))  # as if the access token had expired
    mailbox.deliver(build_message(subject="second"))
    before = len(oauth.requests)
    report = Importer(store=store).run(interface)
    assert (report.error, report.imported) == (None, 1)
    assert refreshes(oauth, before) == [state.refresh_token]


def test_a_revoked_sign_in_leaves_the_mailbox_untouched(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path, protocol: MailProtocol
) -> None:
    name = mailbox.deliver(build_message(subject="stays"))
    interface = oauth_interface(mailbox, oauth, tmp_path, protocol)
    assert fetcher_for(interface).check().ok
    oauth.revoke(user=mailbox.login)  # the refresh token and the cached access token both stop working
    store = MemoryRecordStore()
    report = Importer(store=store).run(interface)
    assert report.error is not None
    assert f"sign in again with `mailtrack oauth login {interface.name}`" in report.error
    assert "Traceback" not in report.error
    assert report.imported == 0
    assert store.list_records() == []
    assert mailbox.files() == {name}
    assert mailbox.flags() == {name: ""}  # not even marked read


def test_a_token_for_another_user_is_refused(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path, protocol: MailProtocol
) -> None:
    other = oauth.refresh_token("someone-else")
    interface = oauth_interface(mailbox, oauth, tmp_path, protocol)
    (tmp_path / "refresh-token").write_text(other)
    with pytest.raises(AuthenticationError, match="was refused"):
        fetcher_for(interface).open()


def test_starttls_then_oauth(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path, protocol: MailProtocol
) -> None:
    mailbox.deliver(build_message(subject="over starttls"))
    interface = oauth_interface(mailbox, oauth, tmp_path, protocol, security=Security.STARTTLS)
    report = Importer(store=MemoryRecordStore()).run(interface)
    assert (report.error, report.imported) == (None, 1)


def test_a_token_endpoint_that_is_down_or_slow_ends_the_run_before_connecting(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path, protocol: MailProtocol
) -> None:
    name = mailbox.deliver(build_message(subject="stays"))
    before = len(oauth.requests)
    oauth.down = True
    down = oauth_interface(mailbox, oauth, tmp_path, protocol)
    report = Importer(store=MemoryRecordStore()).run(down)
    assert report.error is not None
    assert "will retry next run" in report.error
    oauth.down = False
    oauth.delay = 20.0
    slow = oauth_interface(mailbox, oauth, tmp_path, protocol, timeout=0.5)
    with pytest.raises(TokenError, match=r"no answer within 0\.5 seconds"):
        fetcher_for(slow).open()
    assert introspected(oauth, before) == []  # Dovecot received no token: nothing connected
    assert mailbox.files() == {name}


def test_a_token_dovecot_cannot_check_now_is_not_refreshed(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path, protocol: MailProtocol
) -> None:
    """The introspection endpoint down: Dovecot says [SYS/TEMP] / NO [UNAVAILABLE]; that is no
    refused token: nothing is refreshed, the run is to be retried, the mailbox is untouched."""
    name = mailbox.deliver(build_message(subject="stays"))
    interface = oauth_interface(mailbox, oauth, tmp_path, protocol)
    assert fetcher_for(interface).check().ok  # a token in the cache
    oauth.down = True
    before = len(oauth.requests)
    report = Importer(store=MemoryRecordStore()).run(interface)
    assert report.error is not None
    assert "will retry next run" in report.error  # POP3: [SYS/TEMP]; IMAP: NO [UNAVAILABLE]
    assert refreshes(oauth, before) == []
    assert mailbox.files() == {name}


def test_a_token_never_crosses_an_unverified_connection(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path, protocol: MailProtocol
) -> None:
    """No ca_file: the test CA is not in the system's store, so TLS is not verified and the token
    is not sent; Dovecot never received one (it would have asked the introspection endpoint)."""
    mailbox.deliver(build_message(subject="stays"))
    for security in (Security.SSL, Security.STARTTLS):
        interface = oauth_interface(mailbox, oauth, tmp_path, protocol, security=security)
        before = len(oauth.requests)
        with pytest.raises(SecurityError):
            fetcher_for(attrs.evolve(interface, ca_file=None)).open()
        assert introspected(oauth, before) == []


def test_only_an_explicit_security_none_sends_a_token_in_clear_text(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path, protocol: MailProtocol
) -> None:
    interface = oauth_interface(mailbox, oauth, tmp_path, protocol, security=Security.NONE)
    before = len(oauth.requests)
    check = fetcher_for(interface).check()
    assert check.ok, check.error
    assert any("access token is sent unencrypted" in warning for warning in check.warnings)
    assert len(introspected(oauth, before)) == 1
