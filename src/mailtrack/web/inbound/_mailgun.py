"""Mailgun: a route's ``forward()`` to a URL ending in ``mime`` posts the whole message as
``body-mime``, with ``recipient`` and the signature fields ``timestamp``, ``token`` and
``signature`` (hex HMAC-SHA256 of timestamp + token under the webhook signing key).
"""

from __future__ import annotations

import hashlib
import hmac
import time

import attrs
from starlette.requests import Request
from starlette.responses import Response

from ._auth import ReplayGuard
from ._body import Body
from ._delivery import Delivery, deny, refuse
from ._routing import recipient_addresses

__all__ = ["Mailgun"]


@attrs.frozen
class Mailgun:
    delivery: Delivery
    signing_key: str = attrs.field(repr=False)
    max_age: int
    replay_guard: ReplayGuard

    def refusal(self, body: Body) -> Response | None:
        """401/403 for a request that is not Mailgun's (or is replayed), else ``None``."""
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
        try:
            signed_at = int(timestamp)
        except ValueError:
            return deny("mailgun", 403, "the Mailgun timestamp is not a number")
        if abs(time.time() - signed_at) > self.max_age:
            return deny("mailgun", 403, f"the Mailgun timestamp is more than {self.max_age} s away from now")
        if not self.replay_guard.first_use(token, signed_at + self.max_age + 1):
            return deny("mailgun", 403, "this Mailgun token was used before (a replayed request)")
        return None

    async def handle(self, request: Request, body: Body) -> Response:
        refused = self.refusal(body)
        if refused is not None:
            return refused
        raw = body.value("body-mime")
        if raw is None:
            return refuse(
                "mailgun",
                "no body-mime field: make the route forward to a URL that ends in 'mime' "
                "(e.g. https://…/inbound/mailgun/mime), so that Mailgun posts the raw message",
            )
        recipients = recipient_addresses([body.text("recipient")])
        return await self.delivery.deliver("mailgun", raw, recipients)
