"""Token sources against a real authorization server on 127.0.0.1: caching, refresh, rotation,
revocation, outages, TLS, and the three grants."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from mailtrack import ConfigError, MailInterface, TokenError
from mailtrack.auth import (
    EXPIRY_MARGIN,
    AccessToken,
    CallableTokenSource,
    ClientCredentialsSource,
    Endpoint,
    FileTokenCache,
    MemoryTokenCache,
    RefreshTokenSource,
    ServiceAccountSource,
    TokenState,
    token_source,
)
from mailtrack.testing import OAuthTestServer


def refresh_source(
    oauth: OAuthTestServer, cache: object | None = None, **options: object
) -> RefreshTokenSource:
    return RefreshTokenSource(
        Endpoint(url=oauth.token_url, ca_file=oauth.ca_file, timeout=options.pop("timeout", 10.0)),  # type: ignore[arg-type]
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        refresh_token=options.pop("refresh_token", None) or oauth.refresh_token(),  # type: ignore[arg-type]
        cache=cache or MemoryTokenCache(),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )


def grants(oauth: OAuthTestServer) -> list[str]:
    return [request.form.get("grant_type", "") for request in oauth.requests if request.path == "/token"]


def test_a_fresh_token_is_cached_until_shortly_before_it_expires(oauth: OAuthTestServer) -> None:
    source = refresh_source(oauth)
    first = source.access_token()
    assert oauth.introspect(first.value) == "support@example.com"
    assert first.account == "support@example.com"
    assert first.expires_at is not None
    assert source.access_token() == first
    assert grants(oauth) == ["refresh_token"]


def test_a_token_within_the_margin_of_its_expiry_is_refreshed(oauth: OAuthTestServer) -> None:
    oauth.access_token_lifetime = EXPIRY_MARGIN - 1
    source = refresh_source(oauth)
    first = source.access_token()
    second = source.access_token()
    assert first.value != second.value
    assert grants(oauth) == ["refresh_token", "refresh_token"]


def test_a_refused_token_is_never_handed_back(oauth: OAuthTestServer) -> None:
    source = refresh_source(oauth)
    first = source.access_token()
    second = source.access_token(refused=first)
    assert second.value != first.value
    assert oauth.introspect(second.value) == "support@example.com"


def test_a_rotated_refresh_token_is_saved_and_used_on_the_next_run(
    oauth: OAuthTestServer, tmp_path: Path
) -> None:
    oauth.rotate = True
    seed = oauth.refresh_token()
    path = tmp_path / "tokens.json"
    refresh_source(oauth, FileTokenCache(path), refresh_token=seed).access_token()
    assert seed not in oauth.live_refresh_tokens
    saved = json.loads(path.read_text())["refresh_token"]
    assert saved in oauth.live_refresh_tokens
    oauth.expire_access_tokens()
    # The next run: a new source (a new process), the same seed in the configuration, which is spent.
    again = refresh_source(oauth, FileTokenCache(path), refresh_token=seed)
    # The cached access token has expired by now: only the rotated refresh token can help.
    state = FileTokenCache(path).load()
    assert state is not None
    FileTokenCache(path).swap(state, TokenState(refresh_token=state.refresh_token, account=state.account))
    token = again.access_token()
    assert oauth.introspect(token.value) == "support@example.com"
    assert json.loads(path.read_text())["refresh_token"] in oauth.live_refresh_tokens


def test_a_revoked_refresh_token_is_an_error_in_plain_words(oauth: OAuthTestServer) -> None:
    seed = oauth.refresh_token()
    oauth.revoke(seed)
    with pytest.raises(TokenError, match=r"refused the refresh token.*invalid_grant") as caught:
        refresh_source(oauth, refresh_token=seed).access_token()
    assert caught.value.retry_later is False
    assert seed not in str(caught.value)
    assert oauth.client_secret not in str(caught.value)


def test_a_token_endpoint_that_is_down_is_retried_later(oauth: OAuthTestServer) -> None:
    oauth.down = True
    with pytest.raises(TokenError, match=r"not available|failed") as caught:
        refresh_source(oauth).access_token()
    assert caught.value.retry_later is True


def test_a_slow_token_endpoint_times_out_in_plain_words(oauth: OAuthTestServer) -> None:
    oauth.delay = 30.0
    started = time.monotonic()
    with pytest.raises(TokenError, match=r"no answer within 0\.5 seconds") as caught:
        refresh_source(oauth, timeout=0.5).access_token()
    assert caught.value.retry_later is True
    assert time.monotonic() - started < 15  # liveness: the deadline holds


def test_an_unreachable_token_endpoint_is_retried_later(oauth: OAuthTestServer) -> None:
    source = RefreshTokenSource(
        Endpoint(url="https://127.0.0.1:1/token", ca_file=oauth.ca_file, timeout=5),
        client_id="x",
        refresh_token="rt",
    )
    with pytest.raises(TokenError, match="connection refused") as caught:
        source.access_token()
    assert caught.value.retry_later is True


def test_secrets_never_go_to_an_endpoint_whose_certificate_is_not_trusted(oauth: OAuthTestServer) -> None:
    source = RefreshTokenSource(
        Endpoint(url=oauth.token_url, ca_file=None, timeout=5),  # the system's store: the test CA is unknown
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        refresh_token=oauth.refresh_token(),
    )
    with pytest.raises(TokenError, match="not trusted"):
        source.access_token()
    assert oauth.requests == []


def test_a_plain_http_token_endpoint_is_refused(oauth: OAuthTestServer) -> None:
    source = RefreshTokenSource(
        Endpoint(url=oauth.token_url.replace("https:", "http:")), client_id="x", refresh_token="rt"
    )
    with pytest.raises(ConfigError, match="https://"):
        source.access_token()


def test_client_credentials_need_no_user(oauth: OAuthTestServer) -> None:
    source = ClientCredentialsSource(
        Endpoint(url=oauth.token_url, ca_file=oauth.ca_file),
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        scopes=["https://outlook.office365.com/.default"],
    )
    token = source.access_token()
    assert oauth.introspect(token.value) == "support@example.com"
    (request,) = oauth.requests
    assert request.form["grant_type"] == "client_credentials"
    assert request.form["scope"] == "https://outlook.office365.com/.default"
    assert request.tls


def test_client_credentials_with_a_wrong_secret_are_refused(oauth: OAuthTestServer) -> None:
    source = ClientCredentialsSource(
        Endpoint(url=oauth.token_url, ca_file=oauth.ca_file),
        client_id=oauth.client_id,
        client_secret="not-the-secret-42",
    )
    with pytest.raises(TokenError, match="invalid_client") as caught:
        source.access_token()
    assert "not-the-secret-42" not in str(caught.value)


def test_a_service_account_signs_a_jwt_for_the_mailbox(oauth: OAuthTestServer, tmp_path: Path) -> None:
    key = oauth.add_service_account("robot@project.iam.example.com")
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(key))
    source = ServiceAccountSource.from_key_file(
        str(key_file), subject="support@example.com", scopes="https://mail.google.com/", ca_file=oauth.ca_file
    )
    assert key["private_key"] not in repr(source)
    token = source.access_token()
    assert oauth.introspect(token.value) == "support@example.com"
    assert oauth.requests[0].form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"


def test_a_jwt_signed_with_another_key_is_refused(oauth: OAuthTestServer, tmp_path: Path) -> None:
    key = oauth.add_service_account("robot@project.iam.example.com")
    other = oauth.add_service_account("other@project.iam.example.com")
    key["private_key"] = other["private_key"]
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(key))
    source = ServiceAccountSource.from_key_file(
        str(key_file), subject="support@example.com", scopes="https://mail.google.com/", ca_file=oauth.ca_file
    )
    with pytest.raises(TokenError, match="invalid_grant"):
        source.access_token()


def test_a_callable_source_wraps_the_host_applications_tokens() -> None:
    tokens = iter(["first", "second"])
    source = CallableTokenSource(lambda: next(tokens))
    first = source.access_token()
    assert first.value == "first"
    assert source.access_token(refused=first).value == "second"
    same = CallableTokenSource(lambda: AccessToken(value="same"))
    with pytest.raises(TokenError):
        same.access_token(refused=AccessToken(value="same"))


def test_two_workers_refreshing_at_once_never_lose_a_rotation(oauth: OAuthTestServer, tmp_path: Path) -> None:
    oauth.rotate = True
    oauth.delay = 0.3  # both requests would be in flight at once without the refresh lock
    path = tmp_path / "tokens.json"
    seed = oauth.refresh_token()
    results: list[AccessToken | BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        source = refresh_source(oauth, FileTokenCache(path), refresh_token=seed)  # a cache of its own
        barrier.wait()
        try:
            results.append(source.access_token())
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(isinstance(result, AccessToken) for result in results), results
    assert len({result.value for result in results if isinstance(result, AccessToken)}) == 1
    assert grants(oauth) == ["refresh_token"]
    assert json.loads(path.read_text())["refresh_token"] in oauth.live_refresh_tokens


def test_the_interface_settings_name_the_source(
    oauth: OAuthTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_CLIENT_SECRET", oauth.client_secret)
    interface = MailInterface(
        name="support",
        server="pop.example.com",
        login="support@example.com",
        oauth=oauth.oauth_settings(
            flow="client_credentials",
            client_secret_env="TEST_CLIENT_SECRET",
            token_file=str(tmp_path / "t.json"),
        ),
    )
    source = token_source(interface)
    assert isinstance(source, ClientCredentialsSource)
    assert oauth.client_secret not in repr(source)
    assert oauth.client_secret not in repr(interface)
    assert oauth.introspect(source.access_token().value) == "support@example.com"
    assert (tmp_path / "t.json").stat().st_mode & 0o777 == 0o600


def test_an_endpoint_that_quotes_the_refresh_token_never_gets_it_shown(oauth: OAuthTestServer) -> None:
    """An error page (not JSON) and an OAuth error description, both repeating the refresh token."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mailtrack.testing._certs import server_context

    secret_rt = "rt-quoted-back-" + "q" * 30
    bodies = [
        (500, b"<html>cannot refresh " + secret_rt.encode() + b"</html>"),
        (
            400,
            json.dumps(
                {"error": "invalid_grant", "error_description": f"token {secret_rt[:20]} unknown"}
            ).encode(),
        ),
    ]

    class Echo(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            status, body = bodies.pop(0)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.socket = server_context("valid").wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}/token"
        for _ in range(2):
            source = RefreshTokenSource(
                Endpoint(url=url, ca_file=oauth.ca_file), client_id="app", refresh_token=secret_rt
            )
            with pytest.raises(TokenError) as caught:
                source.access_token()
            assert secret_rt[:20] not in str(caught.value)
            assert secret_rt[-20:] not in str(caught.value)
    finally:
        server.shutdown()
        server.server_close()


def test_an_endpoint_that_drips_its_answer_is_ended_by_the_request_deadline(oauth: OAuthTestServer) -> None:
    """One byte of the headers every 0.1 s: each read is well within the timeout (0.5 s), so only
    the request's deadline (2 x timeout + 1 s) ends it."""
    import socket
    import time

    from mailtrack.testing._certs import server_context

    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with server_context("valid").wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 10_000:
                if stop.is_set():
                    return
                try:
                    tls.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.1)

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/token"
        source = RefreshTokenSource(
            Endpoint(url=url, ca_file=oauth.ca_file, timeout=0.5), client_id="app", refresh_token="rt-x"
        )
        started = time.monotonic()
        with pytest.raises(TokenError, match="no complete answer within 2 seconds") as caught:
            source.access_token()
        assert caught.value.retry_later
        assert time.monotonic() - started < 10  # liveness: the deadline is 2 s
    finally:
        stop.set()
        listener.close()
        thread.join(10)
