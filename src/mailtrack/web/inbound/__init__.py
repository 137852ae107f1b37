"""Mail from e-mail services: an ASGI application with one route per service that POSTs incoming
mail to a URL (``pip install 'mailtrack[inbound]'``).

=================  ==========================  ===========================================
route              service                     checked by
=================  ==========================  ===========================================
``/mailgun/mime``  Mailgun (``body-mime``)     HMAC-SHA256 signature, timestamp, token once
``/postmark``      Postmark (``RawEmail``)     HTTP basic credentials
``/sendgrid``      SendGrid Inbound Parse      HTTP basic credentials
``/mandrill``      Mandrill (``raw_msg``)      ``X-Mandrill-Signature`` (HMAC-SHA1)
``/ses``           Amazon SES through SNS      SNS signature, certificate from SNS only
``/relay``         any program, the host's MTA HTTP basic credentials
=================  ==========================  ===========================================

Every message goes to ``Importer.deliver`` (the ledger, policies and store of
POP3 and IMAP), into the interface its envelope recipient routes to. The answer makes the
service do the right thing: 2xx only once the message is committed or was imported already (a
retry imports nothing twice), 503 with ``Retry-After`` while the store is down or locked or the
interface is disabled, a refusal the service does not retry for what can never be taken (no
raw message: the answer names the setting to switch on), 401/403 for a request that fails its
check (nothing is imported), 413 for a body over ``max_body_bytes`` before it is read whole.

Example:
    >>> from mailtrack import Importer, MailInterface
    >>> settings = InboundSettings(
    ...     catch_all="support", relay=BasicAuthSettings(user="relay", password="correct horse battery")
    ... )
    >>> support = MailInterface(name="support", server="pop.example.com", login="support")
    >>> app = create_inbound_app(importer=Importer(), settings=settings, interfaces=[support])
    >>> [route.path for route in app.routes]
    ['/relay']
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

try:
    from starlette.applications import Starlette
except ImportError as exc:  # pragma: no cover - depends on the extras installed
    raise ImportError(
        "mailtrack's inbound routes need the inbound extra: pip install 'mailtrack[inbound]'"
    ) from exc
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..._terminal import terminal_safe
from ...config import MailInterface
from ...config._inbound import (
    BasicAuthSettings,
    InboundSettings,
    MailgunSettings,
    MandrillSettings,
    SESSettings,
)
from ...exceptions import ConfigError
from ._auth import BasicCredentials, MemoryReplayGuard, ReplayGuard, challenge
from ._basic_services import Postmark, Relay, SendGrid
from ._body import Body, BodyTooLarge, MalformedBody, read_body
from ._delivery import Deliverer, Delivery, answer
from ._mailgun import Mailgun
from ._mandrill import Mandrill, mandrill_signature
from ._routing import Router
from ._ses import SES
from ._sns import HttpGet, SNSVerifier, https_get

__all__ = [
    "BasicAuthSettings",
    "Deliverer",
    "HttpGet",
    "InboundSettings",
    "MailgunSettings",
    "MandrillSettings",
    "MemoryReplayGuard",
    "ReplayGuard",
    "SESSettings",
    "create_inbound_app",
    "mandrill_signature",
]

logger = logging.getLogger("mailtrack.inbound")


class _Service(Protocol):
    async def handle(self, request: Request, body: Body) -> Response: ...


#: What checks a request by its headers alone, before its body is read: ``None`` lets it in.
_Gate = Callable[[Request], Response | None]

#: The body limit of ``/ses``: an SNS message is at most 256 KB, its JSON envelope escapes it
#: (quotes, backslashes, the CRLFs SES's JSON already escaped) and adds the signature fields.
SES_BODY_LIMIT = 512 * 1024


def _endpoint(
    service: _Service, name: str, limit: int, gate: _Gate | None
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if request.method == "HEAD":  # Mandrill's check that the URL exists
            return Response(status_code=200)
        refused = gate(request) if gate is not None else None
        if refused is not None:
            return refused  # before a byte of the body is read
        try:
            body = await read_body(request, limit)
        except BodyTooLarge as exc:
            logger.warning("inbound %s: %s", name, exc)
            return answer(413, str(exc))
        except MalformedBody as exc:
            return answer(400, str(exc))
        try:
            await run_in_threadpool(body.parse)
            return await service.handle(request, body)
        except MalformedBody as exc:
            logger.warning("inbound %s: a malformed request: %s", name, terminal_safe(str(exc)))
            return answer(400, str(exc))
        finally:
            body.close()

    return endpoint


def _credentials(settings: BasicAuthSettings, service: str) -> _Gate:
    credentials = BasicCredentials(settings.user, settings.resolve_password(service))

    def gate(request: Request) -> Response | None:
        return None if credentials.accepts(request) else challenge(service)

    return gate


def _resolve(names: tuple[str, ...], interfaces: Iterable[MailInterface]) -> dict[str, MailInterface]:
    known = {interface.name: interface for interface in interfaces}
    missing = [name for name in names if name not in known]
    if missing:
        raise ConfigError(
            f"inbound.interfaces: no interface named {missing[0]!r} "
            f"(known: {', '.join(sorted(known)) or 'none'})"
        )
    return {name: known[name] for name in names}


def create_inbound_app(
    *,
    importer: Deliverer,
    settings: InboundSettings,
    interfaces: Iterable[MailInterface],
    replay_guard: ReplayGuard | None = None,
    sns_http_get: HttpGet | None = None,
) -> Starlette:
    """The inbound routes of the services *settings* configures, as an ASGI application.

    Args:
        importer: delivers each message (``Importer.deliver``).
        settings: the ``[inbound]`` table: services, secrets, interfaces, catch-all, limit.
        interfaces: the interfaces *settings* names are looked up among (the configuration's,
            the store's).
        replay_guard: remembers Mailgun's tokens (default: :class:`MemoryReplayGuard`, this
            process only; see the Mailgun how-to for several processes).
        sns_http_get: fetches SNS signing certificates and visits SubscribeURLs (default: an
            HTTPS GET with verified TLS); only ever called with ``https://sns.*.amazonaws.com``
            URLs. Tests give one that serves their own certificate.

    Raises:
        ConfigError: an interface is unknown, or a secret is missing or unreadable.

    Mount it where the services POST (``Mount("/inbound", app=create_inbound_app(...))``); it
    needs nothing of the pages' application and no ``authorize``: each route checks its service.
    """
    by_name = _resolve(settings.interface_names, interfaces)
    catch_all = by_name[settings.catch_all] if settings.catch_all else None
    router = Router(tuple(by_name[name] for name in settings.interfaces), catch_all)
    delivery = Delivery(importer, router)
    services: list[tuple[str, str, _Service, _Gate | None]] = []
    if settings.mailgun is not None:
        mailgun = Mailgun(
            delivery,
            settings.mailgun.resolve_signing_key(),
            settings.mailgun.max_age,
            replay_guard or MemoryReplayGuard(),
        )
        services += [("/mailgun/mime", "mailgun", mailgun, None), ("/mailgun", "mailgun", mailgun, None)]
    if settings.postmark is not None:
        services.append(
            ("/postmark", "postmark", Postmark(delivery), _credentials(settings.postmark, "postmark"))
        )
    if settings.sendgrid is not None:
        services.append(
            ("/sendgrid", "sendgrid", SendGrid(delivery), _credentials(settings.sendgrid, "sendgrid"))
        )
    if settings.mandrill is not None:
        mandrill = Mandrill(delivery, settings.mandrill.url, settings.mandrill.resolve_webhook_key())
        services.append(("/mandrill", "mandrill", mandrill, mandrill.unsigned))
    if settings.ses is not None:
        try:  # checked now: without it every SES message would be answered 500, and retried
            import cryptography  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "inbound.ses checks SNS signatures with cryptography, which is not installed: "
                "pip install 'mailtrack[inbound]'"
            ) from exc
        verifier = SNSVerifier(sns_http_get or https_get)
        ses = SES(delivery, settings.ses.topic_arns, settings.ses.confirm_subscriptions, verifier)
        services.append(("/ses", "ses", ses, None))
    if settings.relay is not None:
        services.append(("/relay", "relay", Relay(delivery), _credentials(settings.relay, "relay")))
    routes = [
        Route(
            path,
            _endpoint(
                service,
                name,
                min(settings.max_body_bytes, SES_BODY_LIMIT) if name == "ses" else settings.max_body_bytes,
                gate,
            ),
            methods=["POST", "HEAD"] if name == "mandrill" else ["POST"],
            name=f"inbound-{name}{path.count('/')}",
        )
        for path, name, service, gate in services
    ]
    return Starlette(routes=routes)
