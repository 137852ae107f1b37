"""What every request passes before a page sees it: authorization, the CSRF cookie, security headers.

:class:`Guard` is pure ASGI middleware around the whole application, so that no route (static
files included) is served to a request the host's ``authorize`` refused. Forms are protected by a
double-submit token: a random value in an ``HttpOnly``, ``SameSite=Strict`` cookie that every form
repeats in a hidden field (:func:`checked_form`); a request whose ``Origin`` names another site is
refused before that.
"""

from __future__ import annotations

import hmac
import inspect
import secrets
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import Any, Final

from starlette.datastructures import FormData, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "PAGE_POLICY",
    "Authorize",
    "Guard",
    "TokenAuthorization",
    "basic_credentials",
    "checked_form",
    "csrf_token",
]

#: Decides whether a request may see the pages: a truthy result (``True`` or a user object) lets
#: it through, a falsy one refuses it. May be a coroutine function.
Authorize = Callable[[Request], Any]

CSRF_COOKIE: Final = "mailtrack_csrf"
CSRF_FIELD: Final = "csrf_token"

#: The Content-Security-Policy of every page: nothing runs, nothing loads from elsewhere.
PAGE_POLICY: Final = (
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self'; "
    "base-uri 'none'"
)
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class TokenAuthorization:
    """``authorize`` for the standalone server: HTTP Basic authentication whose password is *token*
    (any user name), compared in constant time. Browsers ask for it with their own dialog."""

    #: Sent with a refusal, so that a browser asks for the password.
    challenge = 'Basic realm="mailtrack", charset="UTF-8"'

    def __init__(self, token: str) -> None:
        if len(token) < 8:
            raise ValueError("the web token must be at least 8 characters long")
        self._token = token.encode()

    def __repr__(self) -> str:
        return "TokenAuthorization(token=…)"

    def __call__(self, request: Request) -> bool:
        credentials = basic_credentials(request)
        return credentials is not None and hmac.compare_digest(credentials[1], self._token)


def basic_credentials(request: Request) -> tuple[bytes, bytes] | None:
    """The user name and password of the request's HTTP basic ``Authorization``, or ``None``
    when it has none (or a malformed one)."""
    import base64
    import binascii

    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(value.strip(), validate=True).partition(b":")
    except (binascii.Error, ValueError):
        return None
    return (user, password) if colon else None


def csrf_token(request: Request) -> str:
    """The CSRF token forms of this request repeat in their hidden ``csrf_token`` field."""
    token: str = request.scope["state"]["csrf_token"]
    return token


async def checked_form(request: Request) -> FormData:
    """The submitted form, once its CSRF token matched the cookie's.

    Raises:
        HTTPException: 403 when the token is missing or wrong.
    """
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE)
    if not isinstance(sent, str) or not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        raise HTTPException(
            403, "The form's security token is missing or out of date: reload the page and try again."
        )
    return form


def _cross_site(scope: Scope, request: Request) -> bool:
    """Whether a state-changing request comes from another site (``Origin`` or Fetch metadata)."""
    if scope["method"] not in _UNSAFE_METHODS:
        return False
    if request.headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") != host


class Guard:
    """The middleware: refuse the unauthorized, set the CSRF cookie, add the security headers.

    Args:
        app: the application to guard.
        authorize: see :data:`Authorize`.
        frame_ancestors: the ``frame-ancestors`` source list of the pages (``'none'``: no other
            page may frame them; a host that shows them in its own frame gives ``'self'``).
    """

    def __init__(self, app: ASGIApp, *, authorize: Authorize, frame_ancestors: str) -> None:
        self.app = app
        self.authorize = authorize
        self.frame_ancestors = frame_ancestors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        allowed = self.authorize(request)
        if inspect.isawaitable(allowed):
            allowed = await allowed
        if not allowed:
            await self._refuse(scope, receive, send)
            return
        if _cross_site(scope, request):
            response = PlainTextResponse("Refused: the form was sent from another site.", status_code=403)
            await response(scope, receive, _with_headers(send, self._headers(scope, None)))
            return
        state = scope.setdefault("state", {})
        state["user"] = allowed
        cookie = request.cookies.get(CSRF_COOKIE)
        new_cookie = None
        if not cookie or len(cookie) < 32:
            cookie = new_cookie = secrets.token_urlsafe(32)
        state["csrf_token"] = cookie
        await self.app(scope, receive, _with_headers(send, self._headers(scope, new_cookie)))

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        challenge = getattr(self.authorize, "challenge", None)
        if challenge:
            response = PlainTextResponse(
                "Sign in to see mailtrack's pages.", status_code=401, headers={"WWW-Authenticate": challenge}
            )
        else:
            response = PlainTextResponse("You are not allowed to see mailtrack's pages.", status_code=403)
        await response(scope, receive, _with_headers(send, self._headers(scope, None)))

    def _headers(self, scope: Scope, new_cookie: str | None) -> Callable[[MutableHeaders], None]:
        def add(headers: MutableHeaders) -> None:
            # A response may set its own (stricter) policy, e.g. the sandboxed mail frame.
            if "content-security-policy" not in headers:
                headers["Content-Security-Policy"] = f"{PAGE_POLICY}; frame-ancestors {self.frame_ancestors}"
            headers["X-Content-Type-Options"] = "nosniff"
            headers["Referrer-Policy"] = "same-origin"
            headers.setdefault("Cache-Control", "no-store")
            headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
            if new_cookie is not None:
                cookie: SimpleCookie = SimpleCookie()
                cookie[CSRF_COOKIE] = new_cookie
                morsel = cookie[CSRF_COOKIE]
                morsel["path"] = (scope.get("root_path") or "") + "/"
                morsel["httponly"] = True
                morsel["samesite"] = "Strict"
                if scope.get("scheme") == "https":
                    morsel["secure"] = True
                headers.append("Set-Cookie", morsel.OutputString())

        return add


def _with_headers(send: Send, add: Callable[[MutableHeaders], None]) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            add(MutableHeaders(scope=message))
        await send(message)

    return sending
