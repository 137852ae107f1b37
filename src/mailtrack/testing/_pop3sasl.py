"""``AUTH XOAUTH2`` / ``AUTH OAUTHBEARER`` in the POP3 test server, answered as Dovecot does.

A token the server's ``check_token`` callable refuses gets the RFC 7628 error challenge (``+``
and base64 JSON); the server waits for the client's answer to it and only then says ``-ERR
[AUTH]``. Every attempt is recorded as a :class:`SASLLogin` (with the token, and whether it came
over verified TLS), so that tests can assert where tokens went.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable

import attrs

__all__ = ["MECHANISMS", "SASLLogin", "TokenChecker", "parse_response"]

#: What the test server offers (``sasl_mechanisms``'s default).
MECHANISMS = ("XOAUTH2", "OAUTHBEARER")

#: ``check_token(user, token) -> bool``: whether *token* signs *user* in.
TokenChecker = Callable[[str, str], bool]

_CHALLENGES = {
    "XOAUTH2": {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"},
    "OAUTHBEARER": {"status": "invalid_token", "scope": "mail"},
}


@attrs.frozen(kw_only=True)
class SASLLogin:
    """One OAuth 2.0 sign-in attempt the test server saw."""

    mechanism: str
    user: str
    token: str = attrs.field(repr=False)
    accepted: bool
    #: Whether it came over TLS, and over TLS with a certificate a careful client accepts.
    tls: bool
    trusted: bool


def parse_response(mechanism: str, encoded: str) -> tuple[str, str] | None:
    """``(user, token)`` from a base64 initial response, or ``None`` when it is malformed."""
    try:
        text = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    fields = text.split("\x01")
    if len(fields) < 3 or fields[-2:] != ["", ""]:
        return None
    user = ""
    token = ""
    first = fields[0]
    if mechanism == "OAUTHBEARER":
        head = first.split(",")
        if len(head) < 3 or head[0] not in ("n", "y"):
            return None
        for part in head[1:]:
            if part.startswith("a="):
                user = part[2:].replace("=2C", ",").replace("=3D", "=")
        pairs = fields[1:-2]
    else:
        pairs = fields[:-2]
    for pair in pairs:
        key, _, value = pair.partition("=")
        if key == "user":
            user = value
        elif key == "auth" and value.startswith("Bearer "):
            token = value[len("Bearer ") :]
    return (user, token) if user and token else None


def error_challenge(mechanism: str) -> str:
    """The ``+ …`` line sent for a refused token."""
    return "+ " + base64.b64encode(json.dumps(_CHALLENGES[mechanism]).encode()).decode()
