"""``mailtrack oauth login`` end to end against the local authorization server (device code and
browser + PKCE), then ``mailtrack check`` and ``run`` signing in with XOAUTH2/OAUTHBEARER."""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("click")
pytest.importorskip("rich")
pytest.importorskip("sqlalchemy")

from click.testing import CliRunner, Result

from mailtrack.cli import cli
from mailtrack.testing import OAuthTestServer, POP3TestServer, build_message

USER = "support@example.com"
SECRET_VARIABLE = "MAILTRACK_TEST_CLIENT_SECRET"


def invoke(*args: str, secret: str) -> Result:
    return CliRunner().invoke(
        cli, list(args), env={"COLUMNS": "220", SECRET_VARIABLE: secret}, catch_exceptions=True
    )


@pytest.fixture
def oauth() -> Iterator[OAuthTestServer]:
    with OAuthTestServer(sign_in_as=USER) as server:
        yield server


@pytest.fixture
def pop(oauth: OAuthTestServer) -> Iterator[POP3TestServer]:
    with POP3TestServer(
        [build_message(subject="hello")], user=USER, tls="implicit", check_token=oauth.check_token
    ) as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_config(workdir: Path, pop: POP3TestServer, oauth: OAuthTestServer, *, device: bool = True) -> None:
    lines = [
        f'store = "sqlite:///{workdir / "mailtrack.db"}"',
        "[[interfaces]]",
        'name = "support"',
        f'server = "{pop.host}"',
        f"port = {pop.port}",
        f'login = "{USER}"',
        f'ca_file = "{pop.ca_file}"',
        "[interfaces.oauth]",
        f'client_id = "{oauth.client_id}"',
        f'client_secret_env = "{SECRET_VARIABLE}"',
        f'token_url = "{oauth.token_url}"',
        f'authorization_url = "{oauth.url("authorize")}"',
        f'token_file = "{workdir / "support-token.json"}"',
        f'ca_file = "{oauth.ca_file}"',
    ]
    if device:
        lines.append(f'device_authorization_url = "{oauth.url("devicecode")}"')
    (workdir / "mailtrack.toml").write_text("\n".join(lines) + "\n")


def test_device_login_then_check_then_run(workdir: Path, pop: POP3TestServer, oauth: OAuthTestServer) -> None:
    write_config(workdir, pop, oauth)
    before = invoke("check", "support", secret=oauth.client_secret)
    assert before.exit_code == 1
    assert "mailtrack oauth login support" in before.output
    result = invoke("oauth", "login", "support", secret=oauth.client_secret)
    assert result.exit_code == 0, result.output
    assert "enter the code" in result.output
    assert f"Signed in as {USER}" in result.output
    token_file = workdir / "support-token.json"
    assert token_file.stat().st_mode & 0o777 == 0o600
    saved = json.loads(token_file.read_text())["refresh_token"]
    assert saved in oauth.live_refresh_tokens
    grants = [request.form.get("grant_type") for request in oauth.requests if request.path == "/token"]
    assert grants[-1] == "urn:ietf:params:oauth:grant-type:device_code"
    checked = invoke("check", "support", secret=oauth.client_secret)
    assert checked.exit_code == 0, checked.output
    assert f"signed in as {USER}; the access token expires" in checked.output
    as_json = invoke("check", "support", "--json", secret=oauth.client_secret)
    assert json.loads(as_json.output)[0]["account"] == USER
    ran = invoke("run", "support", secret=oauth.client_secret)
    assert ran.exit_code == 0, ran.output
    assert pop.mailbox == []
    for output in (result.output, checked.output, as_json.output, ran.output):
        assert oauth.client_secret not in output
        assert saved not in output


def test_browser_login_with_pkce(
    workdir: Path, pop: POP3TestServer, oauth: OAuthTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(workdir, pop, oauth, device=False)
    visited: list[str] = []

    def browser(url: str) -> bool:
        """The user's browser: the authorization server signs in at once and redirects back."""
        visited.append(url)
        context = ssl.create_default_context(cafile=oauth.ca_file)

        class Stop(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), Stop)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(url, timeout=10)
        assert redirect.value.code == 302
        back = redirect.value.headers["Location"]
        assert back.startswith("http://127.0.0.1:")
        urllib.request.urlopen(back, timeout=10).read()  # noqa: S310 - back to the loopback listener
        return True

    monkeypatch.setattr("webbrowser.open", browser)
    result = invoke("oauth", "login", "support", secret=oauth.client_secret)
    assert result.exit_code == 0, result.output
    assert "code_challenge_method=S256" in visited[0]
    assert "redirect_uri=http%3A%2F%2F127.0.0.1" in visited[0]
    (exchange,) = [
        request for request in oauth.requests if request.form.get("grant_type") == "authorization_code"
    ]
    assert exchange.form["code_verifier"]
    assert exchange.tls
    assert invoke("check", "support", secret=oauth.client_secret).exit_code == 0


def test_login_is_refused_for_an_app_only_interface(
    workdir: Path, pop: POP3TestServer, oauth: OAuthTestServer
) -> None:
    write_config(workdir, pop, oauth)
    text = (workdir / "mailtrack.toml").read_text() + 'flow = "client_credentials"\n'
    (workdir / "mailtrack.toml").write_text(text)
    result = invoke("oauth", "login", "support", secret=oauth.client_secret)
    assert result.exit_code == 1
    assert "there is no user sign-in to do" in result.output
    checked = invoke("check", "support", secret=oauth.client_secret)
    assert checked.exit_code == 0, checked.output


def test_a_configuration_with_both_password_and_oauth_is_refused(
    workdir: Path, pop: POP3TestServer, oauth: OAuthTestServer
) -> None:
    write_config(workdir, pop, oauth)
    text = (
        (workdir / "mailtrack.toml")
        .read_text()
        .replace("[interfaces.oauth]", 'password_env = "X"\n[interfaces.oauth]')
    )
    (workdir / "mailtrack.toml").write_text(text)
    result = invoke("check", "support", secret=oauth.client_secret)
    assert result.exit_code == 1
    assert "oauth and a password" in result.output


def test_login_for_an_interface_saved_in_the_store_keeps_the_tokens_in_the_store(
    workdir: Path, pop: POP3TestServer, oauth: OAuthTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mailtrack.stores import SQLRecordStore

    monkeypatch.setenv("XDG_STATE_HOME", str(workdir / "state"))
    url = f"sqlite:///{workdir / 'mailtrack.db'}"
    interface = pop.interface(
        name="saved",
        oauth=oauth.oauth_settings(client_secret_env=SECRET_VARIABLE),
    )
    with SQLRecordStore(url) as store:
        store.save_interface(interface)
    result = invoke("--store", url, "oauth", "login", "saved", secret=oauth.client_secret)
    assert result.exit_code == 0, result.output
    assert "kept in the store" in result.output
    assert not (workdir / "state").exists()
    with SQLRecordStore(url) as store:
        state = store.token_cache("saved").load()
    assert state is not None
    assert state.refresh_token in oauth.live_refresh_tokens
    checked = invoke("--store", url, "check", "saved", secret=oauth.client_secret)
    assert checked.exit_code == 0, checked.output
    assert f"signed in as {USER}" in checked.output
