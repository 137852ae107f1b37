"""An OAuth 2.0 authorization server on 127.0.0.1 for tests: grants, introspection and switches.

:class:`OAuthTestServer` answers over HTTPS (the test CA of :attr:`ca_file`):

* ``POST /token``: the refresh-token, client-credentials, JWT-bearer (RFC 7523), device-code
  (RFC 8628) and authorization-code (with PKCE, RFC 7636) grants;
* ``POST /devicecode``: device authorization; ``GET /authorize``: the authorization endpoint,
  which signs in :attr:`OAuthTestServer.sign_in_as` at once and redirects back with a code;
* ``POST /introspect`` (RFC 7662) and ``GET /tokeninfo?access_token=``: what Dovecot's
  ``oauth2`` passdb asks. These two are also served over plain HTTP on :attr:`http_port` (for a
  mail server on the same host; tokens for the mail server never go there from mailtrack).

Switches: :attr:`~OAuthTestServer.access_token_lifetime`, :attr:`~OAuthTestServer.rotate`,
:meth:`~OAuthTestServer.revoke`, :meth:`~OAuthTestServer.expire_access_tokens`,
:attr:`~OAuthTestServer.down` and :attr:`~OAuthTestServer.delay`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import attrs
from typing_extensions import Self

from ._certs import ca_file, server_context

__all__ = ["OAuthTestServer", "TokenRequest"]

_HOST = "127.0.0.1"
_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"


@attrs.frozen(kw_only=True)
class TokenRequest:
    """One request the server received (the form, secrets included: tests look at them)."""

    path: str
    form: dict[str, str] = attrs.field(repr=False)
    #: Whether it came over HTTPS.
    tls: bool


@attrs.define
class _Grant:
    user: str
    client_id: str
    scope: str


@attrs.define
class OAuthTestServer:
    """A real OAuth 2.0 authorization server on 127.0.0.1, in threads.

    Use it as a context manager; :meth:`refresh_token` hands out a refresh token for a user
    as if they had signed in, and :meth:`check_token` is the token check for
    :class:`~mailtrack.testing.POP3TestServer` (``check_token=server.check_token``).

    Args:
        client_id, client_secret: the one registered app (the secret is optional for the
            refresh-token, device-code and authorization-code grants: a public client).
        sign_in_as: who "signs in" at the authorization and device endpoints.
        access_token_lifetime: seconds an access token lives (``expires_in``).
        rotate: whether each refresh returns a new refresh token (the old one stops working).
        http: whether to serve introspection over plain HTTP as well (for Dovecot).
    """

    client_id: str = attrs.field(default="mailtrack-test-app", kw_only=True)
    client_secret: str = attrs.field(default="test-app-secret", kw_only=True, repr=False)
    sign_in_as: str = attrs.field(default="user", kw_only=True)
    access_token_lifetime: float = attrs.field(default=3600.0, kw_only=True)
    rotate: bool = attrs.field(default=False, kw_only=True)
    http: bool = attrs.field(default=False, kw_only=True)
    #: Answer every request with HTTP 503 (the endpoint is down).
    down: bool = attrs.field(default=False, kw_only=True)
    #: Seconds to wait before each answer (a slow endpoint).
    delay: float = attrs.field(default=0.0, kw_only=True)

    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)
    _stopping: threading.Event = attrs.field(factory=threading.Event, init=False, repr=False)
    _servers: list[ThreadingHTTPServer] = attrs.field(factory=list, init=False, repr=False)
    _threads: list[threading.Thread] = attrs.field(factory=list, init=False, repr=False)
    _refresh: dict[str, _Grant] = attrs.field(factory=dict, init=False, repr=False)
    _access: dict[str, tuple[_Grant, float]] = attrs.field(factory=dict, init=False, repr=False)
    _codes: dict[str, tuple[_Grant, str, str]] = attrs.field(factory=dict, init=False, repr=False)
    _devices: dict[str, list[Any]] = attrs.field(factory=dict, init=False, repr=False)
    _service_accounts: dict[str, Any] = attrs.field(factory=dict, init=False, repr=False)
    _requests: list[TokenRequest] = attrs.field(factory=list, init=False, repr=False)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        """Listen on 127.0.0.1 (HTTPS, and plain HTTP with ``http=True``); returns the server."""
        self._stopping.clear()
        self._serve(tls=True)
        if self.http:
            self._serve(tls=False)
        return self

    def _serve(self, *, tls: bool) -> None:
        owner = self

        class Handler(_Handler):
            server_owner = owner
            secure = tls

        server = ThreadingHTTPServer((_HOST, 0), Handler)
        server.daemon_threads = True
        if tls:
            server.socket = server_context("valid").wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, name=f"OAuthTestServer:{tls}", daemon=True)
        thread.start()
        self._servers.append(server)
        self._threads.append(thread)

    def close(self) -> None:
        """Stop serving (a slow answer in progress is cut short)."""
        self._stopping.set()
        servers, self._servers = self._servers, []
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- where -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The HTTPS port."""
        if not self._servers:
            raise RuntimeError("OAuthTestServer is not running: use it in a with block or call start()")
        return int(self._servers[0].server_address[1])

    @property
    def http_port(self) -> int:
        """The plain-HTTP port (introspection only), with ``http=True``."""
        if len(self._servers) < 2:
            raise RuntimeError("OAuthTestServer serves plain HTTP only with http=True")
        return int(self._servers[1].server_address[1])

    def url(self, path: str = "") -> str:
        """``https://127.0.0.1:PORT/`` + *path*."""
        return f"https://{_HOST}:{self.port}/{path.lstrip('/')}"

    @property
    def token_url(self) -> str:
        return self.url("token")

    @property
    def ca_file(self) -> str:
        """The PEM file of the CA that signed the server's certificate (pass it as ``oauth.ca_file``)."""
        return ca_file()

    def oauth_settings(self, **overrides: Any) -> Any:
        """:class:`~mailtrack.OAuthSettings` for this server (keyword arguments override)."""
        from ..config import OAuthSettings

        values: dict[str, Any] = {
            "token_url": self.token_url,
            "device_authorization_url": self.url("devicecode"),
            "authorization_url": self.url("authorize"),
            "client_id": self.client_id,
            "ca_file": self.ca_file,
            "timeout": 10.0,
        }
        values.update(overrides)
        return OAuthSettings(**values)

    # -- what tests do -----------------------------------------------------------------------

    def refresh_token(self, user: str | None = None, *, scope: str = "mail") -> str:
        """A new refresh token for *user* (default :attr:`sign_in_as`), as after a sign-in."""
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = _Grant(user=user or self.sign_in_as, client_id=self.client_id, scope=scope)
        return token

    def add_service_account(self, email: str) -> dict[str, str]:
        """Register a service account; returns its key file's content (Google's JSON layout)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        with self._lock:
            self._service_accounts[email] = key.public_key()
        return {
            "type": "service_account",
            "client_email": email,
            "private_key": pem,
            "private_key_id": secrets.token_hex(8),
            "token_uri": self.token_url,
        }

    def revoke(self, token: str | None = None, *, user: str | None = None) -> None:
        """Revoke one refresh token, or every token (refresh and access) of *user*."""
        with self._lock:
            if token is not None:
                self._refresh.pop(token, None)
            if user is not None:
                self._refresh = {k: g for k, g in self._refresh.items() if g.user != user}
                self._access = {k: v for k, v in self._access.items() if v[0].user != user}

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired (refresh tokens keep working)."""
        with self._lock:
            self._access = {k: (g, 0.0) for k, (g, _) in self._access.items()}

    def check_token(self, user: str, token: str) -> bool:
        """Whether *token* is a live access token for *user* (for ``POP3TestServer(check_token=)``)."""
        return self.introspect(token) == user

    def introspect(self, token: str) -> str | None:
        """The user a live access token belongs to, or ``None``."""
        with self._lock:
            found = self._access.get(token)
        if found is None or found[1] <= time.time():
            return None
        return found[0].user

    @property
    def requests(self) -> list[TokenRequest]:
        """Every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def live_refresh_tokens(self) -> set[str]:
        with self._lock:
            return set(self._refresh)

    # -- grants (called by the handler) ------------------------------------------------------

    def _issue(self, grant: _Grant, *, refresh: bool) -> dict[str, Any]:
        access = "at-" + secrets.token_urlsafe(24)
        with self._lock:
            self._access[access] = (grant, time.time() + self.access_token_lifetime)
        answer: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(self.access_token_lifetime),
            "scope": grant.scope,
            "id_token": _id_token(grant.user),
        }
        if refresh:
            token = "rt-" + secrets.token_urlsafe(24)
            with self._lock:
                self._refresh[token] = grant
            answer["refresh_token"] = token
        return answer

    def _token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
        grant_type = form.get("grant_type", "")
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret"))
        if grant_type == _JWT_BEARER:
            return self._jwt_bearer(form.get("assertion", ""), form.get("scope", ""))
        if client_id != self.client_id or (secret is not None and secret != self.client_secret):
            return 401, {"error": "invalid_client", "error_description": "unknown client or wrong secret"}
        if grant_type == "refresh_token":
            with self._lock:
                grant = self._refresh.get(form.get("refresh_token", ""))
                if grant is not None and self.rotate:
                    del self._refresh[form["refresh_token"]]
            if grant is None:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "the refresh token is revoked or unknown",
                }
            return 200, self._issue(grant, refresh=self.rotate)
        if grant_type == "client_credentials":
            if secret is None:
                return 401, {
                    "error": "invalid_client",
                    "error_description": "client credentials need the secret",
                }
            return 200, self._issue(
                _Grant(user=self.sign_in_as, client_id=client_id, scope=form.get("scope", "")), refresh=False
            )
        if grant_type == _DEVICE_CODE:
            return self._device_token(form.get("device_code", ""))
        if grant_type == "authorization_code":
            return self._code_token(form)
        return 400, {"error": "unsupported_grant_type"}

    def _jwt_bearer(self, assertion: str, scope: str) -> tuple[int, dict[str, Any]]:
        import jwt

        try:
            issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss", "")
            with self._lock:
                public = self._service_accounts.get(issuer)
            if public is None:
                raise jwt.InvalidTokenError("unknown issuer")
            claims = jwt.decode(assertion, public, algorithms=["RS256"], audience=self.token_url)
        except jwt.InvalidTokenError as exc:
            return 400, {"error": "invalid_grant", "error_description": f"bad assertion: {exc}"}
        return 200, self._issue(_Grant(user=claims["sub"], client_id=issuer, scope=scope), refresh=False)

    def _device_authorization(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id:
            return 400, {"error": "invalid_client"}
        device, user_code = secrets.token_urlsafe(16), secrets.token_hex(4).upper()
        with self._lock:
            # [grant, polls]: the first poll is "pending", the next one signs in sign_in_as.
            self._devices[device] = [
                _Grant(user=self.sign_in_as, client_id=self.client_id, scope=form.get("scope", "")),
                0,
            ]
        return 200, {
            "device_code": device,
            "user_code": user_code,
            "verification_uri": self.url("device"),
            "expires_in": 900,
            "interval": 1,
            "message": f"To sign in, open {self.url('device')} and enter the code {user_code}.",
        }

    def _device_token(self, device: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            entry = self._devices.get(device)
            if entry is None:
                return 400, {"error": "expired_token"}
            entry[1] += 1
            if entry[1] < 2:
                return 400, {"error": "authorization_pending"}
            del self._devices[device]
        return 200, self._issue(entry[0], refresh=True)

    def _authorize(self, query: dict[str, str]) -> tuple[int, str]:
        """The authorization endpoint: sign in at once, redirect back to the loopback URI."""
        redirect = query.get("redirect_uri", "")
        host = urllib.parse.urlsplit(redirect).hostname
        if query.get("client_id") != self.client_id or host not in ("127.0.0.1", "localhost"):
            return 400, "unknown client or a redirect URI that is not a loopback address"
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, "PKCE (S256) is required"
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = (
                _Grant(user=self.sign_in_as, client_id=self.client_id, scope=query.get("scope", "")),
                query["code_challenge"],
                redirect,
            )
        params = urllib.parse.urlencode({"code": code, "state": query.get("state", "")})
        return 302, f"{redirect}{'&' if '?' in redirect else '?'}{params}"

    def _code_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            found = self._codes.pop(form.get("code", ""), None)
        if found is None:
            return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
        grant, challenge, redirect = found
        verifier = form.get("code_verifier", "")
        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if computed != challenge or form.get("redirect_uri") != redirect:
            return 400, {
                "error": "invalid_grant",
                "error_description": "PKCE verifier or redirect URI mismatch",
            }
        return 200, self._issue(grant, refresh=True)


def _id_token(user: str) -> str:
    """An (unsigned) ID token naming the user: mailtrack only shows who it names."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part({'sub': user, 'email': user})}."


class _Handler(BaseHTTPRequestHandler):
    server_owner: OAuthTestServer
    secure: bool
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests stay quiet

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        return dict(urllib.parse.parse_qsl(body))

    def _basic(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return urllib.parse.unquote(user), urllib.parse.unquote(password)

    def _answer(
        self, status: int, body: dict[str, Any] | None = None, *, location: str | None = None
    ) -> None:
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        owner = self.server_owner
        url = urllib.parse.urlsplit(self.path)
        form = self._form() if method == "POST" else dict(urllib.parse.parse_qsl(url.query))
        with owner._lock:
            owner._requests.append(TokenRequest(path=url.path, form=form, tls=self.secure))
        if owner.delay > 0 and owner._stopping.wait(owner.delay):
            return
        if owner.down:
            self._answer(503, {"error": "temporarily_unavailable"})
            return
        routes: dict[tuple[str, str], Callable[[], None]] = {
            ("POST", "/token"): lambda: self._answer(*owner._token(form, self._basic())),
            ("POST", "/devicecode"): lambda: self._answer(*owner._device_authorization(form)),
            ("POST", "/introspect"): lambda: self._introspect(form.get("token", "")),
            ("GET", "/tokeninfo"): lambda: self._introspect(form.get("access_token", "")),
            ("GET", "/authorize"): lambda: self._redirect(owner._authorize(form)),
        }
        route = routes.get((method, url.path))
        if route is None or (not self.secure and url.path not in ("/introspect", "/tokeninfo")):
            self._answer(404, {"error": "not_found"})
            return
        route()

    def _introspect(self, token: str) -> None:
        user = self.server_owner.introspect(token)
        self._answer(200, {"active": True, "username": user} if user else {"active": False})

    def _redirect(self, result: tuple[int, str]) -> None:
        status, target = result
        if status == 302:
            self._answer(302, {}, location=target)
        else:
            self._answer(status, {"error": "invalid_request", "error_description": target})

    def do_POST(self) -> None:
        self._handle("POST")

    def do_GET(self) -> None:
        self._handle("GET")
