"""The one HTTP request an OAuth 2.0 grant needs: a form POST to an HTTPS endpoint, JSON back.

oauthlib prepares the request bodies and reads the answers (RFC 6749 §5); this module only
carries them, with the standard library: TLS always verified (against ``ca_file`` or the
system's store), ``https://`` only, one deadline for connect and each read, no redirects
followed (a redirect could carry the client secret elsewhere), and every failure in plain words
naming the endpoint but never what was sent.
"""

from __future__ import annotations

import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ..exceptions import ConfigError, TokenError
from ..fetching._errors import reply_text
from ._scrub import scrub

__all__ = ["NoRedirect", "check_endpoint", "post_form", "sent_secrets"]

#: Largest answer read from a token endpoint.
_ANSWER_LIMIT = 1024 * 1024


def check_endpoint(url: str, what: str) -> str:
    """*url* if it is an ``https://`` URL with a host; else ConfigError naming *what*."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"{what}: must be an https:// URL (secrets are never sent without verified TLS), not {url!r}"
        )
    return url


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Follows no redirect: a redirect could carry a secret elsewhere, or lead to another host."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _opener(ca_file: str | None) -> urllib.request.OpenerDirector:
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except OSError as exc:
        raise ConfigError(f"the CA file {ca_file!r} (oauth.ca_file) cannot be used: {exc}") from None
    return urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), NoRedirect, urllib.request.ProxyHandler({})
    )


def post_form(
    url: str, body: str, *, ca_file: str | None, timeout: float, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """POST *body* (form-encoded) to *url*; the HTTP status and the JSON object answered.

    A 4xx answer with a JSON body is returned (it carries the OAuth ``error``); anything else
    that is not a 200 with JSON raises :class:`~mailtrack.TokenError` with ``retry_later`` set.
    """
    check_endpoint(url, "token endpoint")
    where = _where(url)
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above: https only
        url,
        data=body.encode("ascii"),
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            **(headers or {}),
        },
    )
    try:
        with _opener(ca_file).open(request, timeout=timeout) as response:
            status, raw = response.status, response.read(_ANSWER_LIMIT + 1)
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read(_ANSWER_LIMIT + 1)
        exc.close()
    except urllib.error.URLError as exc:
        raise _network_error(where, exc.reason, timeout) from None
    except (OSError, ValueError) as exc:
        raise _network_error(where, exc, timeout) from None
    try:
        answer = json.loads(raw[:_ANSWER_LIMIT]) if len(raw) <= _ANSWER_LIMIT else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        quoted = reply_text(scrub(raw, sent_secrets(body))[:120])
        raise TokenError(
            f"the token endpoint {where} answered HTTP {status} without a JSON object "
            f"({quoted!r}); will retry next run",
            retry_later=True,
        )
    if status == 200 or 400 <= status < 500:
        return status, answer
    raise TokenError(
        f"the token endpoint {where} failed (HTTP {status}); will retry next run", retry_later=True
    )


#: Form fields that are not secret (a reply may quote them).
_PUBLIC_FIELDS = frozenset({"grant_type", "scope", "client_id", "redirect_uri"})


def sent_secrets(body: str) -> list[str]:
    """The secret values a form sent (a refresh token, a client secret, an assertion, a code …)."""
    return [value for name, value in urllib.parse.parse_qsl(body) if value and name not in _PUBLIC_FIELDS]


def _where(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _network_error(where: str, reason: object, timeout: float) -> TokenError:
    if isinstance(reason, TimeoutError | socket.timeout):
        text = f"no answer within {timeout:g} seconds"
    elif isinstance(reason, ssl.SSLCertVerificationError):
        text = (
            f"its TLS certificate is not trusted ({reason.verify_message}); nothing was sent. Set "
            f"oauth.ca_file if the endpoint uses a private certificate authority"
        )
    elif isinstance(reason, ConnectionRefusedError):
        text = "connection refused"
    elif isinstance(reason, socket.gaierror):
        text = "its host name could not be found (DNS lookup failed)"
    elif isinstance(reason, OSError):
        text = f"network error: {reason.strerror or reason}"
    else:
        text = f"network error: {reason}"
    return TokenError(
        f"the token endpoint {where} cannot be reached: {text}; will retry next run", retry_later=True
    )
