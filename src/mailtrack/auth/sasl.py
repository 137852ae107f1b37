"""SASL for OAuth 2.0 bearer tokens, independent of the protocol that carries it (POP3, IMAP).

* ``XOAUTH2`` (Google's, also Microsoft's): ``user=U ^A auth=Bearer T ^A ^A``.
* ``OAUTHBEARER`` (RFC 7628): ``n,a=U, ^A auth=Bearer T ^A ^A`` (GS2 header with the
  authorization identity, which Dovecot requires).

When the server refuses the token it does not say ``-ERR`` / ``NO`` at once: it sends an error
challenge (base64 JSON, RFC 7628 §3.2.2) and waits for the client's answer: an empty response for
XOAUTH2, ``^A`` for OAUTHBEARER. Only then does the failure come. A client that does not answer
hangs until the server's login timeout. The protocol modules call :func:`initial_response`,
:func:`error_acknowledgement` and :func:`read_challenge`, and carry the bytes (base64) as their
protocol says.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable

import attrs

from ..exceptions import ConfigError
from ..fetching._errors import reply_text

__all__ = [
    "MECHANISMS",
    "ErrorChallenge",
    "choose_mechanism",
    "error_acknowledgement",
    "initial_response",
    "read_challenge",
]

#: The mechanisms mailtrack speaks, in order of preference (the RFC one first).
MECHANISMS = ("OAUTHBEARER", "XOAUTH2")


def choose_mechanism(offered: Iterable[str], wanted: str | None = None) -> str:
    """The mechanism to use, from what the server announced (CAPA ``SASL`` / ``AUTH=``).

    *wanted* (``"XOAUTH2"`` or ``"OAUTHBEARER"``) forces one. When the server announced
    neither (some do not list SASL mechanisms at all), XOAUTH2, the one every provider speaks.
    """
    names = {name.upper() for name in offered}
    if wanted:
        wanted = wanted.upper()
        if wanted not in MECHANISMS:
            raise ConfigError(f"oauth.mechanism: must be one of {', '.join(MECHANISMS)}, not {wanted!r}")
        return wanted
    for mechanism in MECHANISMS:
        if mechanism in names:
            return mechanism
    return "XOAUTH2"


def initial_response(mechanism: str, user: str, token: str) -> bytes:
    """The client's first message for *mechanism* (raw bytes: the caller base64-encodes them).

    Raises:
        ConfigError: the user or token contains a character the mechanism cannot carry.
    """
    if any(ch in user for ch in "\x00\x01\r\n") or not user:
        raise ConfigError("the login name is empty or contains a control character, which SASL cannot send")
    if not token or any(ch in token for ch in "\x00\x01\r\n "):
        raise ConfigError("the access token is empty or contains a control character or space")
    if mechanism == "XOAUTH2":
        text = f"user={user}\x01auth=Bearer {token}\x01\x01"
    elif mechanism == "OAUTHBEARER":
        # RFC 5801 §4: "," and "=" in the authorization identity are escaped.
        authzid = user.replace("=", "=3D").replace(",", "=2C")
        text = f"n,a={authzid},\x01auth=Bearer {token}\x01\x01"
    else:
        raise ConfigError(f"unknown SASL mechanism {mechanism!r}")
    return text.encode("utf-8")


def error_acknowledgement(mechanism: str) -> bytes:
    """What the client answers to an error challenge so that the server ends the exchange."""
    return b"\x01" if mechanism == "OAUTHBEARER" else b""


@attrs.frozen(kw_only=True)
class ErrorChallenge:
    """What the server said about a refused token (untrusted: made printable and short)."""

    status: str = ""
    scope: str = ""
    #: The whole challenge, printable, for the error message.
    text: str = ""

    @property
    def summary(self) -> str:
        return f"status {self.status}" if self.status else (self.text or "no details")


def read_challenge(encoded: bytes) -> ErrorChallenge:
    """Decode a base64 error challenge; anything unreadable gives an empty challenge."""
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return ErrorChallenge(text=reply_text(encoded[:200]))
    text = reply_text(raw[:400])
    try:
        data = json.loads(raw)
    except ValueError:
        return ErrorChallenge(text=text)
    if not isinstance(data, dict):
        return ErrorChallenge(text=text)
    return ErrorChallenge(
        status=reply_text(str(data.get("status", "")).encode("utf-8"))[:40],
        scope=reply_text(str(data.get("scope", "")).encode("utf-8"))[:200],
        text=text,
    )
