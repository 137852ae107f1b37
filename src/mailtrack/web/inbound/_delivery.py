"""Handing one webhook's message to ``Importer.deliver`` and answering the service so that it
does the right thing: 2xx only once the message is committed (or was imported already), 503 with
``Retry-After`` while the store is down or locked or the interface is disabled, a refusal the
service does not retry for mail that cannot be taken (no raw message, no interface for the
recipient).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from ..._terminal import terminal_safe
from ...config import MailInterface
from ...exceptions import InterfaceDisabledError, InterfaceNotFoundError, MessageRefusedError, StoreError
from ...intake import DeliveryReport
from ._routing import Router

__all__ = ["REFUSE_STATUS", "RETRY_AFTER", "Deliverer", "Delivery", "answer", "deny", "refuse"]

logger = logging.getLogger("mailtrack.inbound")

#: Seconds a service is asked to wait before it tries again while the store is unavailable.
RETRY_AFTER = 60

#: The status that makes each service give up on a request instead of retrying it (a retry would
#: carry the same unusable request): Mailgun stops on 406, Postmark on 403; SendGrid retries only
#: 5xx, so 400 stops it; SNS and Mandrill retry by policies of their own.
REFUSE_STATUS = {"mailgun": 406, "postmark": 403}


class Deliverer(Protocol):
    """What the inbound routes need of an importer: :meth:`mailtrack.Importer.deliver`, which
    answers with a :class:`~mailtrack.DeliveryReport`."""

    def deliver(
        self, interface: MailInterface, raw: bytes, *, recipient: str | None = None
    ) -> DeliveryReport: ...


def answer(status: int, message: str, **headers: str) -> Response:
    """A small JSON answer ``{"status": …, "message": …}``."""
    return JSONResponse({"status": status, "message": message}, status_code=status, headers=headers or None)


def refuse(service: str, message: str) -> Response:
    """A refusal the service should not retry; logged as a warning (it is a lost message unless
    someone acts)."""
    logger.warning("inbound %s: refused: %s", service, terminal_safe(message))
    return answer(REFUSE_STATUS.get(service, 400), message)


def deny(service: str, status: int, message: str, **headers: str) -> Response:
    """A request that failed its check (401, 403: credentials, signature, replay, timestamp,
    topic), logged as a warning so that an administrator with a wrong key sees why. *message*
    says which check failed; it never holds the secret or the signature."""
    logger.warning("inbound %s: refused (%d): %s", service, status, terminal_safe(message))
    return answer(status, message, **headers)


@attrs.frozen
class Delivery:
    """The importer and the router the routes share."""

    importer: Deliverer
    router: Router

    async def deliver(self, service: str, raw: bytes, recipients: Sequence[str]) -> Response:
        """Route *raw* by *recipients*, deliver it, answer the service."""
        destination = self.router.choose(recipients)
        if destination is None:
            if not recipients:
                where = "X-Original-To header or ?recipient=" if service == "relay" else f"by {service}"
                return refuse(service, f"no recipient reported ({where}), and no inbound.catch_all is set")
            return refuse(
                service,
                f"no interface takes mail for {', '.join(recipients)} (add the address to an "
                "interface's aliases or routes, or set inbound.catch_all)",
            )
        try:
            report = await run_in_threadpool(
                self.importer.deliver, destination.interface, raw, recipient=destination.recipient
            )
        except InterfaceDisabledError as exc:
            # Neither imported nor dropped: the service keeps the message and retries, and it
            # arrives once the interface is enabled again (or the service gives up, and says so).
            logger.warning("inbound %s: %s; asked the service to retry", service, terminal_safe(str(exc)))
            return answer(
                503,
                f"interface {exc.name!r} is disabled; try again later",
                **{"Retry-After": str(RETRY_AFTER)},
            )
        except InterfaceNotFoundError as exc:
            # Renamed or deleted on the pages since the server started: kept by the service
            # until the configuration names an interface that is there.
            logger.warning(
                "inbound %s: %s (routed there when the server started); asked the service to retry",
                service,
                terminal_safe(str(exc)),
            )
            return answer(
                503,
                f"interface {exc.name!r} is no longer there; try again later",
                **{"Retry-After": str(RETRY_AFTER)},
            )
        except MessageRefusedError as exc:
            # The store works but cannot hold this message, not even in the quarantine: a
            # retry would fail the same way.
            logger.error("inbound %s: the store refused the message: %s", service, terminal_safe(str(exc)))
            return refuse(service, "the store cannot hold this message (too large for it)")
        except StoreError as exc:
            logger.warning(
                "inbound %s: the store is unavailable, asked the service to retry: %s",
                service,
                terminal_safe(str(exc)),
            )
            return answer(
                503, "the store is unavailable; try again later", **{"Retry-After": str(RETRY_AFTER)}
            )
        except Exception:
            logger.exception("inbound %s: delivering the message failed", service)
            return answer(500, "delivering the message failed; try again later")
        outcome = report.outcome.value
        logger.info("inbound %s: %s into %s", service, outcome, destination.interface.name)
        return JSONResponse({"status": 200, "outcome": outcome, "interface": destination.interface.name})

    async def deliver_all(self, service: str, messages: Sequence[tuple[bytes, Sequence[str]]]) -> Response:
        """Deliver every message of one request (Mandrill's batches), whatever became of the
        others: 503 when any asked for a retry (a retry imports the delivered ones once, by their
        content digest), else 200. Each permanent refusal was logged by :func:`refuse`."""
        answers = [await self.deliver(service, raw, recipients) for raw, recipients in messages]
        if any(response.status_code >= 500 for response in answers):
            return answer(
                503,
                "some messages of the batch could not be delivered now; try again later",
                **{"Retry-After": str(RETRY_AFTER)},
            )
        refused = sum(1 for response in answers if response.status_code >= 300)
        delivered = len(answers) - refused
        return answer(200, f"{delivered} delivered, {refused} refused (see the log)")
