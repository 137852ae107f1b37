"""Mandrill's inbound webhook: a form with ``mandrill_events`` (a JSON list of events, each
``inbound`` one with the whole message in ``msg.raw_msg`` and the recipient in ``msg.email``),
signed in ``X-Mandrill-Signature``: base64 of HMAC-SHA1, under the webhook key, of the webhook
URL followed by each POST parameter's name and value, sorted by name. A HEAD request is
Mandrill's check that the URL exists; where it fails, Mandrill checks with a POST of no events
signed with the generic key ``test-webhook``, which is answered 200 too (it imports nothing).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import attrs
from starlette.requests import Request
from starlette.responses import Response

from ._body import Body, MalformedBody, json_value
from ._delivery import Delivery, answer, deny, refuse
from ._routing import recipient_addresses

__all__ = ["Mandrill", "mandrill_signature"]


def mandrill_signature(key: str, url: str, params: list[tuple[str, str]]) -> str:
    """What Mandrill puts in ``X-Mandrill-Signature`` for a POST of *params* to *url*."""
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(key.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


#: The key Mandrill signs its URL check with (a POST of no events, when the HEAD request failed).
_CHECK_KEY = "test-webhook"


def _is_url_check(given: str, url: str, pairs: list[tuple[str, str]]) -> bool:
    """Whether the request is Mandrill's check that the URL exists: no events, the generic key."""
    if pairs != [("mandrill_events", "[]")]:
        return False
    expected = mandrill_signature(_CHECK_KEY, url, pairs)
    return hmac.compare_digest(expected.encode("ascii"), given.strip().encode("utf-8"))


@attrs.frozen
class Mandrill:
    delivery: Delivery
    url: str
    webhook_key: str = attrs.field(repr=False)

    def unsigned(self, request: Request) -> Response | None:
        """401 for a request without ``X-Mandrill-Signature`` (checked before its body is read),
        else ``None``."""
        if not request.headers.get("x-mandrill-signature", ""):
            return deny("mandrill", 401, "the request carries no X-Mandrill-Signature")
        return None

    async def handle(self, request: Request, body: Body) -> Response:
        # The route ran unsigned() before it read the body: the signature is there.
        given = request.headers.get("x-mandrill-signature", "")
        pairs = body.form_pairs()
        expected = mandrill_signature(self.webhook_key, self.url, pairs)
        if not hmac.compare_digest(expected.encode("ascii"), given.strip().encode("utf-8")):
            if _is_url_check(given, self.url, pairs):
                return answer(200, "the webhook URL exists")
            return deny(
                "mandrill",
                403,
                "the Mandrill signature does not match (check inbound.mandrill's webhook key, and that "
                "its url is the webhook URL exactly as entered in Mandrill)",
            )
        events = json_value(body.text("mandrill_events", limit=body.size) or "[]", "mandrill_events")
        if not isinstance(events, list):
            raise MalformedBody("mandrill_events is not a JSON list")
        messages: list[tuple[bytes, list[str]]] = []
        for event in events:
            if not isinstance(event, dict) or event.get("event") != "inbound":
                continue  # other events (a test, a sync) carry no message
            msg = event.get("msg")
            raw = msg.get("raw_msg") if isinstance(msg, dict) else None
            if not isinstance(raw, str) or not raw:
                refuse("mandrill", "an inbound event without msg.raw_msg (the raw message)")
                continue
            email = msg.get("email") if isinstance(msg, dict) else None
            recipients = recipient_addresses([email if isinstance(email, str) else None])
            messages.append((raw.encode("utf-8", "surrogateescape"), recipients))
        return await self.delivery.deliver_all("mandrill", messages)
