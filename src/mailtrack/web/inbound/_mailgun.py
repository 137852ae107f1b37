"""Mailgun: a route's ``forward()`` to a URL ending in ``mime`` posts the whole message as
``body-mime``, with ``recipient`` and the signature fields ``timestamp``, ``token`` and
``signature`` (hex HMAC-SHA256 of timestamp + token under the webhook signing key).

A token is used up only once its message was answered 2xx. Mailgun retries a request it got no
2xx for with the original fields, so a retry whose ``body-mime`` is the one first sent with that
token is taken however old its timestamp; the same token with another message is refused; the
same message again after a 2xx is answered 200 (it was imported).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ._auth import ReplayGuard
from ._body import Body
from ._delivery import Delivery, answer, deny, refuse
from ._mailgun_retries import TokenOutcomes
from ._routing import recipient_addresses

__all__ = ["Mailgun"]


def _now() -> float:
    """The time signatures are checked against (a test may move it)."""
    return time.time()


@attrs.frozen
class Mailgun:
    delivery: Delivery
    signing_key: str = attrs.field(repr=False)
    max_age: int
    replay_guard: ReplayGuard
    clock: Callable[[], float] = _now
    outcomes: TokenOutcomes = attrs.field(
        default=attrs.Factory(lambda self: TokenOutcomes(self.clock), takes_self=True)
    )

    def refusal(self, body: Body, digest: str) -> Response | None:
        """401/403 for a request that is not Mailgun's (or is replayed), 200 for the retry of a
        message already imported, else ``None`` (deliver it)."""
        timestamp = body.text("timestamp") or ""
        token = body.text("token") or ""
        signature = body.text("signature") or ""
        if not (timestamp and token and signature):
            return deny(
                "mailgun", 401, "the request carries no Mailgun signature (timestamp, token, signature)"
            )
        expected = hmac.new(
            self.signing_key.encode("utf-8"), (timestamp + token).encode("utf-8"), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("utf-8")):
            return deny(
                "mailgun", 403, "the Mailgun signature does not match (check inbound.mailgun's signing key)"
            )
        known = self.outcomes.get(token)
        if known is not None:
            if not hmac.compare_digest(known.digest, digest):
                return deny("mailgun", 403, "this Mailgun token came before with another message (a replay)")
            if known.delivered:
                return answer(200, "this message was imported already")
            return None  # Mailgun's retry of a message that was not taken: its timestamp is old
        try:
            signed_at = int(timestamp)
        except ValueError:
            return deny("mailgun", 403, "the Mailgun timestamp is not a number")
        if abs(self.clock() - signed_at) > self.max_age:
            return deny("mailgun", 403, f"the Mailgun timestamp is more than {self.max_age} s away from now")
        if not self.replay_guard.first_use(token, signed_at + self.max_age + 1):
            return deny("mailgun", 403, "this Mailgun token was used before (a replayed request)")
        return None

    async def handle(self, request: Request, body: Body) -> Response:
        # In a worker thread: the message is read from its spool (on disk beyond a small size) and
        # hashed, up to max_body_bytes; the event loop goes on serving other requests meanwhile.
        raw, digest = await run_in_threadpool(_message_and_digest, body)
        refused = self.refusal(body, digest)
        if refused is not None:
            return refused
        if raw is None:
            return refuse(
                "mailgun",
                "no body-mime field: make the route forward to a URL that ends in 'mime' "
                "(e.g. https://…/inbound/mailgun/mime), so that Mailgun posts the raw message",
            )
        recipients = recipient_addresses([body.text("recipient")])
        token = body.text("token") or ""
        # Noted before the delivery too: a request cut off while it is delivered (the client
        # went away) leaves "not delivered", so Mailgun's retry of that message is still taken.
        self.outcomes.record(token, digest, delivered=False)
        response = await self.delivery.deliver("mailgun", raw, recipients)
        self.outcomes.record(token, digest, delivered=response.status_code < 300)
        return response


def _message_and_digest(body: Body) -> tuple[bytes | None, str]:
    """The ``body-mime`` field and the SHA-256 its retry is recognised by."""
    raw = body.value("body-mime")
    return raw, hashlib.sha256(raw or b"").hexdigest()
