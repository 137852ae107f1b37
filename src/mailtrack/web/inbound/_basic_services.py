"""The services that authenticate with HTTP basic credentials in the webhook URL (checked before
the body is read, by the route): Postmark (JSON with ``RawEmail``), SendGrid Inbound Parse
(multipart with the raw message in ``email``) and the relay (the message itself as the body, from
the host's MTA or ``curl``).
"""

from __future__ import annotations

import json

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ._body import Body
from ._delivery import Delivery, answer, refuse
from ._routing import recipient_addresses

__all__ = ["Postmark", "Relay", "SendGrid"]


@attrs.frozen
class Postmark:
    delivery: Delivery

    async def handle(self, request: Request, body: Body) -> Response:
        payload = body.json_object("the Postmark body")
        raw = payload.get("RawEmail")
        if not isinstance(raw, str) or not raw:
            return refuse(
                "postmark",
                "no RawEmail in the JSON: tick 'Include raw email content in JSON payload' in the "
                "inbound stream's settings (Postmark: Servers → your server → the inbound stream → Settings)",
            )
        recipients = recipient_addresses([_text(payload.get("OriginalRecipient"))])
        # RawEmail is the message as text; its bytes beyond ASCII were UTF-8 (Postmark's JSON).
        return await self.delivery.deliver("postmark", raw.encode("utf-8", "surrogateescape"), recipients)


@attrs.frozen
class SendGrid:
    delivery: Delivery

    async def handle(self, request: Request, body: Body) -> Response:
        raw = body.value("email")
        if raw is None:
            return refuse(
                "sendgrid",
                "no 'email' field: tick 'POST the raw, full MIME message' in the Inbound Parse "
                "settings (Settings → Inbound Parse → your host)",
            )
        try:
            envelope = json.loads(body.text("envelope") or "{}")
        except (ValueError, RecursionError):  # no usable envelope: routed as without a recipient
            envelope = {}
        recipients = envelope.get("to", []) if isinstance(envelope, dict) else []
        if isinstance(recipients, str):
            recipients = [recipients]
        return await self.delivery.deliver(
            "sendgrid", raw, recipient_addresses(_text(item) for item in recipients)
        )


@attrs.frozen
class Relay:
    delivery: Delivery

    async def handle(self, request: Request, body: Body) -> Response:
        raw = await run_in_threadpool(body.raw)  # from its spool, on disk beyond a small size
        if not raw.strip():
            return answer(400, "the body is empty: POST the message itself (curl --data-binary @msg.eml)")
        recipients = recipient_addresses(
            [request.query_params.get("recipient"), request.headers.get("x-original-to")]
        )
        return await self.delivery.deliver("relay", raw, recipients)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
