"""Checking who sent a webhook: HTTP basic credentials in constant time, and the replay guard that
remembers Mailgun's tokens while their timestamp is valid.
"""

from __future__ import annotations

import hmac
import threading
import time
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response

from .._security import basic_credentials
from ._delivery import deny

__all__ = ["BasicCredentials", "MemoryReplayGuard", "ReplayGuard", "challenge"]


def challenge(service: str) -> Response:
    """401 with the basic challenge (the credentials were missing or wrong), logged."""
    return deny(
        service,
        401,
        f"the {service} route needs the user name and password of inbound.{service}",
        **{"WWW-Authenticate": f'Basic realm="mailtrack inbound {service}", charset="UTF-8"'},
    )


class BasicCredentials:
    """The user name and password a route expects (never shown: no repr of the password)."""

    def __init__(self, user: str, password: str) -> None:
        self._user = user.encode("utf-8")
        self._password = password.encode("utf-8")

    def __repr__(self) -> str:
        return "BasicCredentials(…)"

    def accepts(self, request: Request) -> bool:
        """Whether the request carries these credentials; both parts compared in constant time."""
        credentials = basic_credentials(request)
        if credentials is None:
            return False
        # Both comparisons always run, so the time does not tell which part was wrong.
        user_ok = hmac.compare_digest(credentials[0], self._user)
        password_ok = hmac.compare_digest(credentials[1], self._password)
        return user_ok and password_ok


class ReplayGuard(Protocol):
    """Remembers the one-time tokens of signed requests while they could be replayed."""

    def first_use(self, token: str, valid_until: float) -> bool:
        """Record *token* (valid until the time ``time.time()`` value *valid_until*); ``True`` the
        first time, ``False`` when it was seen before. Must be atomic."""
        ...


class MemoryReplayGuard:
    """A :class:`ReplayGuard` in this process's memory, forgetting tokens once they expired.

    It only knows the requests this process saw: with several server processes behind one URL,
    a captured request could be replayed once to each other process within the timestamp window
    (see the Mailgun how-to); give them a shared guard to close that.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}
        self._next_sweep = 0.0

    def first_use(self, token: str, valid_until: float) -> bool:
        now = time.time()
        with self._lock:
            if now >= self._next_sweep:
                self._seen = {seen: until for seen, until in self._seen.items() if until > now}
                self._next_sweep = now + 60
            if token in self._seen:
                return False
            self._seen[token] = valid_until
            return True
