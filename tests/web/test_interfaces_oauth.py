"""The interface form's OAuth 2.0 settings, and "sign in again" after a refused token, against a
real POP3 server (POP3TestServer with XOAUTH2) and the local authorization server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from _webpages import csrf, make_app
from mailtrack import MemoryRecordStore, OAuthFlow
from mailtrack.testing import OAuthTestServer, POP3TestServer, build_message

USER = "support@example.com"


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(sign_in_as=USER) as server:
        yield server


def _draft(page: str) -> str:
    match = re.search(r'name="draft" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def test_the_form_offers_oauth_and_saves_its_settings_instead_of_a_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))  # where a token file would be looked for
    store = MemoryRecordStore()
    with TestClient(make_app(store)) as client:
        form = client.get("/interfaces/new").text
        assert 'fieldset class="oauth-slot"' in form
        assert 'name="oauth"' in form
        assert 'name="oauth_client_id"' in form
        token = csrf(form)
        data = {
            "csrf_token": token,
            "original": "",
            "name": "m365",
            "server": "127.0.0.1",
            "port": "1",
            "security": "ssl",
            "login": USER,
            "password": "typed-but-replaced",
            "enabled": "on",
            "oauth": "on",
            "oauth_provider": "microsoft",
            "oauth_flow": "refresh_token",
            "oauth_client_id": "the-app-id",
            "oauth_tenant": "example.com",
        }
        step_two = client.post("/interfaces/test", data=data)
        assert step_two.status_code == 200
        assert "The connection test failed" in step_two.text  # nobody signed in yet
        assert "mailtrack oauth login m365" in step_two.text
        client.post(
            "/interfaces/save",
            data={"csrf_token": token, "draft": _draft(step_two.text), "project": "x", "save_anyway": "on"},
        )
    saved = store.get_interface("m365")
    assert saved.oauth is not None
    assert (saved.oauth.provider, saved.oauth.flow, saved.oauth.client_id, saved.oauth.tenant) == (
        "microsoft",
        OAuthFlow.REFRESH_TOKEN,
        "the-app-id",
        "example.com",
    )
    assert (saved.password, saved.password_env, saved.password_file) == ("", None, None)
    with TestClient(make_app(store)) as client:
        edit = client.get("/interfaces/m365/edit").text
    assert re.search(r'name="oauth" checked', edit)
    assert 'value="the-app-id"' in edit


def test_a_bad_oauth_setting_is_named_on_the_first_step(tmp_path: Path) -> None:
    with TestClient(make_app(MemoryRecordStore())) as client:
        token = csrf(client.get("/interfaces/new").text)
        data = {
            "csrf_token": token,
            "name": "g",
            "server": "imap.gmail.com",
            "security": "ssl",
            "login": USER,
            "oauth": "on",
            "oauth_provider": "google",
            "oauth_flow": "refresh_token",
        }
        page = client.post("/interfaces/test", data=data)
    assert page.status_code == 400
    assert "oauth.client_id: required" in page.text


def test_a_refused_token_shows_sign_in_again_in_the_list_and_the_form(
    oauth: OAuthTestServer, tmp_path: Path
) -> None:
    seed = tmp_path / "refresh-token"
    seed.write_text(oauth.refresh_token())
    settings = oauth.oauth_settings(refresh_token_file=str(seed), token_file=str(tmp_path / "tokens.json"))
    with POP3TestServer([build_message()], user=USER, tls="implicit", check_token=oauth.check_token) as pop:
        store = MemoryRecordStore()
        store.save_interface(pop.interface(name="helpdesk", password="", oauth=settings))
        with TestClient(make_app(store)) as client:
            token = csrf(client.get("/").text)
            page = client.post("/interfaces/helpdesk/run", data={"csrf_token": token}).text
            assert "helpdesk ran" in page
            assert "Sign in again" not in page
            oauth.revoke(user=USER)
            pop.add_message(build_message(subject="waiting"))
            page = client.post("/interfaces/helpdesk/run", data={"csrf_token": token}).text
            assert "The run of helpdesk failed" in page
            row = page[page.index('data-interface="helpdesk"') :]
            assert "Sign in again:" in row
            assert "mailtrack oauth login helpdesk" in row
            edit = client.get("/interfaces/helpdesk/edit").text
            assert "token was refused: sign in again" in edit
        assert len(pop.mailbox) == 1  # the waiting message stays on the server
