"""The one interactive sign-in that gives a refresh token (``mailtrack oauth login``).

* Device code (RFC 8628), where the provider offers it (Microsoft): the user opens a page on any
  device and types a short code; mailtrack polls the token endpoint meanwhile.
* Loopback redirect with PKCE (RFC 8252, RFC 7636; Google's installed-app flow): the browser
  comes back to ``http://127.0.0.1:PORT/`` on this machine with a one-time code.

The result goes into the interface's token file (mode 0600), replacing what was there.
"""

from __future__ import annotations

import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Literal

from ..config import MailInterface, OAuthFlow
from ..exceptions import ConfigError, TokenError
from ..fetching._errors import reply_text
from ._grants import Endpoint, GrantRefused, oauthlib, request_token
from ._http import post_form
from ._presets import endpoints, scopes, token_cache
from ._tokens import TokenCache, TokenState

__all__ = ["Method", "sign_in"]

Method = Literal["auto", "device", "browser"]

#: Seconds the browser sign-in waits for the redirect back.
BROWSER_TIMEOUT = 300.0


def sign_in(
    interface: MailInterface,
    *,
    show: Callable[[str], None],
    open_browser: Callable[[str], object],
    method: Method = "auto",
    browser_timeout: float = BROWSER_TIMEOUT,
    cache: TokenCache | None = None,
) -> TokenState:
    """Sign in interactively and store the tokens in the interface's token file.

    Args:
        show: prints a line for the user (the device code's instructions, the URL to open).
        open_browser: opens a URL in the user's browser (``webbrowser.open``).
        method: ``"device"``, ``"browser"``, or ``"auto"``: the device code where the provider
            offers it, else the browser.
        cache: where to keep the tokens (default: :func:`~mailtrack.auth.token_cache`).

    Raises:
        ConfigError: the interface is not set up for a user sign-in.
        TokenError: the sign-in was refused, expired or could not reach the provider.
    """
    settings = interface.oauth
    if settings is None:
        raise ConfigError(
            f"{interface.name}: the interface has no oauth settings; add an [interfaces.oauth] table"
        )
    if settings.flow is not OAuthFlow.REFRESH_TOKEN:
        raise ConfigError(
            f"{interface.name}: oauth.flow is {settings.flow.value!r}: the app signs in by itself, "
            f"there is no user sign-in to do; `mailtrack check {interface.name}` tests it"
        )
    urls = endpoints(settings)
    endpoint = Endpoint(url=urls.token, ca_file=settings.ca_file, timeout=settings.timeout)
    secret = settings.resolve_client_secret(interface.name)
    assert settings.client_id is not None
    wanted = " ".join(scopes(settings))
    if method == "auto":
        method = "device" if urls.device_authorization else "browser"
    if method == "device":
        if not urls.device_authorization:
            raise ConfigError(
                f"{interface.name}: the provider has no device sign-in; use the browser sign-in"
            )
        state = _device(endpoint, urls.device_authorization, settings.client_id, secret, wanted, show)
    else:
        if not urls.authorization:
            raise ConfigError(f"{interface.name}: oauth.authorization_url is needed for the browser sign-in")
        state = _browser(
            endpoint,
            urls.authorization,
            settings.client_id,
            secret,
            wanted,
            show,
            open_browser,
            browser_timeout,
        )
    if not state.refresh_token:
        raise TokenError(
            f"{interface.name}: the provider gave no refresh token; ask for the offline_access scope "
            f"(Microsoft) or check the app's consent screen (Google)"
        )
    return _keep(cache if cache is not None else token_cache(interface), state)


def _keep(cache: TokenCache, state: TokenState) -> TokenState:
    """Store *state* whatever the cache holds: a new sign-in starts over."""
    for _attempt in range(10):
        stored = cache.swap(cache.load(), state)
        if stored is not None:
            return stored
    raise TokenError(
        "the token cache kept changing while the sign-in was saved; run `mailtrack oauth login` again"
    )


def _device(
    endpoint: Endpoint, url: str, client_id: str, secret: str | None, scope: str, show: Callable[[str], None]
) -> TokenState:
    form = {"client_id": client_id, "scope": scope}
    status, answer = post_form(
        url, urllib.parse.urlencode(form), ca_file=endpoint.ca_file, timeout=endpoint.timeout
    )
    device_code = answer.get("device_code")
    if status != 200 or not isinstance(device_code, str):
        said = reply_text(str(answer.get("error_description") or answer.get("error") or status).encode())
        raise TokenError(f"the device sign-in could not start ({said})")
    message = answer.get("message") or (
        f"To sign in, open {answer.get('verification_uri')} and enter the code {answer.get('user_code')}"
    )
    show(reply_text(str(message).encode()))  # the provider's words: made printable and short
    interval = float(answer.get("interval") or 5)
    deadline = time.monotonic() + float(answer.get("expires_in") or 900)
    client = oauthlib().DeviceClient(client_id, client_secret=secret)
    body = client.prepare_request_body(device_code, include_client_id=True, client_secret=secret)
    while time.monotonic() < deadline:
        time.sleep(interval)
        try:
            return request_token(endpoint, body, what="the device sign-in", previous=None)
        except GrantRefused as exc:
            if exc.error == "authorization_pending":
                continue
            if exc.error == "slow_down":
                interval += 5
                continue
            raise
    raise TokenError("the device sign-in expired before it was completed; run `mailtrack oauth login` again")


def _browser(
    endpoint: Endpoint,
    url: str,
    client_id: str,
    secret: str | None,
    scope: str,
    show: Callable[[str], None],
    open_browser: Callable[[str], object],
    timeout: float,
) -> TokenState:
    oauth2 = oauthlib()
    client = oauth2.WebApplicationClient(client_id)
    verifier = client.create_code_verifier(64)
    challenge = client.create_code_challenge(verifier, "S256")
    state = secrets.token_urlsafe(24)
    receiver = _Receiver()
    with receiver:
        redirect = f"http://127.0.0.1:{receiver.port}/"
        link = client.prepare_request_uri(
            url,
            redirect_uri=redirect,
            scope=scope,
            state=state,
            code_challenge=challenge,
            code_challenge_method="S256",
            access_type="offline",
            prompt="consent",
        )
        show(f"Opening the sign-in page in your browser. If it does not open, visit:\n{link}")
        open_browser(link)
        query = receiver.wait(timeout)
    if query is None:
        raise TokenError(
            f"no sign-in came back within {timeout:g} seconds; run `mailtrack oauth login` again"
        )
    if query.get("state") != state:
        raise TokenError("the sign-in came back with a wrong state (not from this login); nothing was stored")
    if "code" not in query:
        said = reply_text(str(query.get("error_description") or query.get("error") or "no code").encode())
        raise TokenError(f"the sign-in was refused ({said})")
    body = client.prepare_request_body(
        code=query["code"],
        redirect_uri=redirect,
        code_verifier=verifier,
        include_client_id=True,
        client_secret=secret,
    )
    return request_token(endpoint, body, what="the sign-in's code", previous=None)


class _Receiver:
    """A one-shot HTTP server on 127.0.0.1 that takes the browser's redirect back."""

    def __init__(self) -> None:
        self.result: dict[str, str] | None = None
        self.done = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                if "code" in query or "error" in query:
                    owner.result = query
                    owner.done.set()
                body = b"mailtrack: the sign-in is done; you may close this window.\n"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="mailtrack oauth login", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def wait(self, timeout: float) -> dict[str, str] | None:
        self.done.wait(timeout)
        return self.result

    def __enter__(self) -> _Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
