"""Keeping secrets from coming back out: a server or token endpoint that repeats what was sent.

A POP3 server may echo a command it did not understand (``-ERR unknown command AUTH XOAUTH2
dXNlcj0…``), a token endpoint may quote the refresh token in an error page. Before such a reply
is quoted in an error message or a log, every trace of the secrets sent is looked for (any
:data:`WINDOW` characters of one, so that a truncated echo is found too) and the reply is
replaced when one is there. (#14's redaction covers all output; this is the OAuth 2.0 part of it.)
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["WINDOW", "scrub"]

#: Length of the pieces of a secret looked for in a reply.
WINDOW = 12
#: What a reply that repeated a secret is replaced by.
HIDDEN = b"(the reply is not shown: it repeated part of what was sent, which is secret)"


def scrub(reply: bytes, secrets: Iterable[str], *, keep: bytes = b"") -> bytes:
    """*reply*, or *keep* + :data:`HIDDEN` when it holds a piece of one of *secrets*."""
    for secret in secrets:
        data = secret.encode("utf-8", "replace")
        if len(data) < WINDOW:
            if data and data in reply:
                return keep + HIDDEN
            continue
        if any(data[start : start + WINDOW] in reply for start in range(len(data) - WINDOW + 1)):
            return keep + HIDDEN
    return reply
