"""Amazon SES through SNS: a receipt rule's SNS action publishes each message to a topic, which
POSTs it (JSON, ``Content-Type: text/plain``) to an HTTPS subscription. Subscription requests of
the configured topics are confirmed; notifications carry the message in ``content`` (base64 with
the action's encoding ``BASE64``) and the recipients in ``receipt.recipients``.
"""

from __future__ import annotations

import base64
import binascii
import logging

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..._terminal import terminal_safe
from ._body import Body, MalformedBody, json_value
from ._delivery import RETRY_AFTER, Delivery, answer, deny, refuse
from ._routing import recipient_addresses
from ._sns import SNSVerifier

__all__ = ["SES"]

logger = logging.getLogger("mailtrack.inbound")


@attrs.frozen
class SES:
    delivery: Delivery
    topic_arns: tuple[str, ...]
    confirm_subscriptions: bool
    verifier: SNSVerifier

    async def handle(self, request: Request, body: Body) -> Response:
        message = body.json_object("the SNS body")
        topic = message.get("TopicArn")
        if topic not in self.topic_arns:  # before any certificate is fetched for the request
            return deny("ses", 403, "the SNS topic is not one of inbound.ses.topic_arns")
        # In a worker thread: the first message of a certificate fetches it from SNS.
        problem = await run_in_threadpool(self.verifier.problem, message)
        if problem is not None:
            return deny("ses", 403, f"not a genuine SNS message: {problem}")
        kind = message["Type"]
        if kind == "SubscriptionConfirmation":
            return await self._confirm(message)
        if kind == "UnsubscribeConfirmation":
            logger.warning("inbound ses: the subscription to %s was removed", terminal_safe(str(topic)))
            return answer(200, "unsubscribed")
        return await self._notification(message)

    async def _confirm(self, message: dict[str, object]) -> Response:
        url = str(message.get("SubscribeURL", ""))
        if not self.confirm_subscriptions:
            logger.warning("inbound ses: confirm the subscription by hand: %s", terminal_safe(url))
            return answer(200, "subscription not confirmed (inbound.ses.confirm_subscriptions is off)")
        try:
            await run_in_threadpool(self.verifier.visit, url)
        except OSError as exc:
            logger.warning(
                "inbound ses: confirming the subscription failed (%s); confirm it by hand: %s",
                terminal_safe(str(exc)),
                terminal_safe(url),
            )
            retry = {"Retry-After": str(RETRY_AFTER)}
            return answer(503, "confirming the subscription failed; try again later", **retry)
        logger.info(
            "inbound ses: confirmed the subscription to %s", terminal_safe(str(message.get("TopicArn")))
        )
        return answer(200, "subscription confirmed")

    async def _notification(self, message: dict[str, object]) -> Response:
        notification = json_value(str(message.get("Message", "")), "the SNS Message")
        if not isinstance(notification, dict) or notification.get("notificationType") != "Received":
            return answer(200, "not a received message; ignored")
        receipt = notification.get("receipt") if isinstance(notification.get("receipt"), dict) else {}
        assert isinstance(receipt, dict)
        content = notification.get("content")
        if not isinstance(content, str) or not content:
            return refuse(
                "ses",
                "no content in the SES notification: the receipt rule needs an SNS action (not an S3 or "
                "Lambda action's notification), with encoding Base64",
            )
        action = receipt.get("action") if isinstance(receipt.get("action"), dict) else {}
        assert isinstance(action, dict)
        if str(action.get("encoding", "")).upper() == "BASE64":
            try:
                raw = base64.b64decode(content, validate=False)
            except (binascii.Error, ValueError):
                raise MalformedBody("the SES content is not base64") from None
        else:
            # UTF8: SES replaced what was not UTF-8; Base64 keeps the message as sent.
            raw = content.encode("utf-8", "surrogateescape")
        found = receipt.get("recipients")
        listed = [item for item in found if isinstance(item, str)] if isinstance(found, list) else []
        return await self.delivery.deliver("ses", raw, recipient_addresses(listed))
