"""Dovecot's oauth2 passdb checks real tokens from the local authorization server over POP3:
XOAUTH2 and OAUTHBEARER, a token refreshed after Dovecot refused it, a revoked sign-in, and a
token endpoint that is down. (IMAP: #11 extends the same Dovecot with imapd; the oauth2 passdb
serves both protocols.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from _dovecot import Mailbox
from mailtrack import AuthenticationError, Importer, MailInterface, MemoryRecordStore, Security
from mailtrack.fetching import POP3Fetcher
from mailtrack.testing import OAuthTestServer, build_message

pytestmark = pytest.mark.integration


def oauth_interface(
    mailbox: Mailbox,
    oauth: OAuthTestServer,
    tmp_path: Path,
    security: Security = Security.SSL,
    **settings: object,
) -> MailInterface:
    seed = tmp_path / "refresh-token"
    seed.write_text(oauth.refresh_token(mailbox.login))
    values: dict[str, object] = {"refresh_token_file": str(seed), "token_file": str(tmp_path / "tokens.json")}
    values.update(settings)
    return mailbox.interface(security, password="", oauth=oauth.oauth_settings(**values))


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_dovecot_accepts_a_fresh_token(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path, mechanism: str
) -> None:
    mailbox.deliver(build_message(subject="over oauth"))
    interface = oauth_interface(mailbox, oauth, tmp_path, mechanism=mechanism)
    check = POP3Fetcher(interface).check()
    assert check.ok, check.error
    assert check.account == mailbox.login
    report = Importer(store=MemoryRecordStore()).run(interface)
    assert (report.error, report.imported) == (None, 1)
    assert mailbox.files() == set()


@pytest.mark.parametrize("mechanism", ["XOAUTH2", "OAUTHBEARER"])
def test_a_token_dovecot_refuses_is_refreshed_and_the_login_retried(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path, mechanism: str
) -> None:
    interface = oauth_interface(mailbox, oauth, tmp_path, mechanism=mechanism)
    assert POP3Fetcher(interface).check().ok
    oauth.expire_access_tokens()  # Dovecot now refuses the cached token (error challenge, then -ERR)
    mailbox.deliver(build_message(subject="after expiry"))
    before = len(oauth.requests)
    report = Importer(store=MemoryRecordStore()).run(interface)
    assert (report.error, report.imported) == (None, 1)
    asked = [(request.path, request.form.get("grant_type")) for request in oauth.requests[before:]]
    # Dovecot asked about the cached token (refused), mailtrack refreshed, Dovecot asked again (live).
    assert asked.count(("/token", "refresh_token")) == 1
    assert [request.tls for request in oauth.requests[before:] if request.path == "/token"] == [True]


def test_a_revoked_sign_in_leaves_the_mailbox_untouched(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path
) -> None:
    name = mailbox.deliver(build_message(subject="stays"))
    interface = oauth_interface(mailbox, oauth, tmp_path)
    assert POP3Fetcher(interface).check().ok
    oauth.revoke(user=mailbox.login)  # the refresh token and the cached access token both stop working
    store = MemoryRecordStore()
    report = Importer(store=store).run(interface)
    assert report.error is not None
    assert f"mailtrack oauth login {interface.name}" in report.error
    assert report.imported == 0
    assert store.list_records() == []
    assert mailbox.files() == {name}


def test_a_token_for_another_user_is_refused(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path
) -> None:
    other = oauth.refresh_token("someone-else")
    interface = oauth_interface(mailbox, oauth, tmp_path)
    (tmp_path / "refresh-token").write_text(other)
    with pytest.raises(AuthenticationError, match="was refused"):
        POP3Fetcher(interface).open()


def test_starttls_then_oauth(mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path) -> None:
    mailbox.deliver(build_message(subject="over stls"))
    interface = oauth_interface(mailbox, oauth, tmp_path, security=Security.STARTTLS)
    report = Importer(store=MemoryRecordStore()).run(interface)
    assert (report.error, report.imported) == (None, 1)


def test_a_token_dovecot_cannot_check_now_is_not_refreshed(
    mailbox: Mailbox, oauth: OAuthTestServer, tmp_path: Path
) -> None:
    """The introspection endpoint down: Dovecot says [SYS/TEMP]; that is no refused token."""
    name = mailbox.deliver(build_message(subject="stays"))
    interface = oauth_interface(mailbox, oauth, tmp_path)
    assert POP3Fetcher(interface).check().ok  # a token in the cache
    oauth.down = True
    before = len(oauth.requests)
    report = Importer(store=MemoryRecordStore()).run(interface)
    assert report.error is not None
    assert "temporary problem" in report.error
    assert [request.path for request in oauth.requests[before:] if request.path == "/token"] == []
    assert mailbox.files() == {name}
