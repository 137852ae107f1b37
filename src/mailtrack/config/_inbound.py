"""The ``[inbound]`` table of ``mailtrack.toml``: which e-mail services may POST mail to
mailtrack's inbound routes (:mod:`mailtrack.web.inbound`), with their secrets, and which
interfaces the mail goes to.

Secrets are given as passwords are: inline (``signing_key``), by environment variable
(``signing_key_env``) or by file (``signing_key_file``, its first line); they are never in
``repr``, logs or dumps.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from ..exceptions import ConfigError
from ._oauth import read_secret
from ._validators import as_str_tuple, fail

__all__ = [
    "BasicAuthSettings",
    "InboundSettings",
    "MailgunSettings",
    "MandrillSettings",
    "SESSettings",
]


def _optional_text(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or any(ch in value for ch in "\r\n\x00")):
        raise fail(attribute, "must be a string on one line")


def _positive_int(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise fail(attribute, f"must be a positive whole number, not {value!r}")


def _one_source(owner: str, field: str, value: str, env: str | None, path: str | None) -> None:
    given = [name for name, item in ((field, value), (f"{field}_env", env), (f"{field}_file", path)) if item]
    if not given:
        raise ConfigError(f"inbound.{owner}: set {field}_env (or {field}_file, or {field})")
    if len(given) > 1:
        raise ConfigError(f"inbound.{owner}: set one of {', '.join(given)}, not several")


def _long_enough(owner: str, field: str, secret: str, least: int) -> str:
    if len(secret) < least:
        # An empty variable would make an empty key, which anybody can sign with.
        raise ConfigError(f"inbound.{owner}: the {field} must have at least {least} characters")
    return secret


@attrs.frozen(kw_only=True)
class BasicAuthSettings:
    """HTTP basic credentials a service sends (Postmark, SendGrid, the relay): the user name and
    the password it puts in the webhook URL (``https://user:password@host/…``)."""

    user: str = attrs.field(validator=attrs.validators.min_len(1))
    password: str = attrs.field(default="", repr=False)
    password_env: str | None = attrs.field(default=None, validator=_optional_text)
    password_file: str | None = attrs.field(default=None, validator=_optional_text)

    def resolve_password(self, service: str) -> str:
        """The password (inline, from the variable or from the file's first line).

        Raises:
            ConfigError: none is set, several are, the variable is unset or the file unreadable.
        """
        _one_source(service, "password", self.password, self.password_env, self.password_file)
        secret = read_secret(
            f"inbound.{service}", "password", self.password, self.password_env, self.password_file
        )
        if len(secret) < 12:
            raise ConfigError(f"inbound.{service}: the password must have at least 12 characters")
        return secret


@attrs.frozen(kw_only=True)
class MailgunSettings:
    """Mailgun's routes (``forward("https://…/mime")``), signed with the webhook signing key."""

    signing_key: str = attrs.field(default="", repr=False)
    signing_key_env: str | None = attrs.field(default=None, validator=_optional_text)
    signing_key_file: str | None = attrs.field(default=None, validator=_optional_text)
    #: Seconds a signed timestamp stays valid (either side of now); older requests are refused.
    max_age: int = attrs.field(default=300, validator=_positive_int)

    def resolve_signing_key(self) -> str:
        """The webhook signing key (see :meth:`BasicAuthSettings.resolve_password`)."""
        _one_source("mailgun", "signing_key", self.signing_key, self.signing_key_env, self.signing_key_file)
        secret = read_secret(
            "inbound.mailgun", "signing_key", self.signing_key, self.signing_key_env, self.signing_key_file
        )
        return _long_enough("mailgun", "signing_key", secret, 8)


@attrs.frozen(kw_only=True)
class MandrillSettings:
    """Mandrill's inbound webhook, signed with the webhook's key (``X-Mandrill-Signature``)."""

    #: The webhook URL exactly as entered in Mandrill (it is part of what Mandrill signs).
    url: str = attrs.field(validator=attrs.validators.min_len(1))
    webhook_key: str = attrs.field(default="", repr=False)
    webhook_key_env: str | None = attrs.field(default=None, validator=_optional_text)
    webhook_key_file: str | None = attrs.field(default=None, validator=_optional_text)

    def resolve_webhook_key(self) -> str:
        """The webhook key (see :meth:`BasicAuthSettings.resolve_password`)."""
        _one_source("mandrill", "webhook_key", self.webhook_key, self.webhook_key_env, self.webhook_key_file)
        secret = read_secret(
            "inbound.mandrill", "webhook_key", self.webhook_key, self.webhook_key_env, self.webhook_key_file
        )
        return _long_enough("mandrill", "webhook_key", secret, 8)


_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}")


def _topic_arns(_instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value:
        # Any AWS account can subscribe our URL to a topic of its own and sign what it sends.
        raise fail(attribute, "name at least one SNS topic ARN (anyone's topic is signed by SNS too)")
    for arn in value:
        if not _TOPIC_ARN.fullmatch(arn):
            raise fail(attribute, f"{arn!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")


@attrs.frozen(kw_only=True)
class SESSettings:
    """Amazon SES receipt rules with an SNS action, delivered by an HTTPS subscription of the topic."""

    #: The SNS topics whose messages are taken; anything else is refused.
    topic_arns: tuple[str, ...] = attrs.field(converter=as_str_tuple, validator=_topic_arns)
    #: Confirm a subscription request of one of :attr:`topic_arns` by visiting its SubscribeURL.
    confirm_subscriptions: bool = True


def _routes_path(_instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
        raise fail(attribute, f"must be a URL path such as /inbound, not {value!r}")


@attrs.frozen(kw_only=True)
class InboundSettings:
    """The ``[inbound]`` table: the e-mail services whose routes are served, and where mail goes.

    Each service's table (``[inbound.mailgun]`` …) switches its route on. The envelope
    recipient the service reports is routed to the first interface of :attr:`interfaces` that
    has it (its aliases, own addresses and route addresses); mail for an address no interface
    has goes to :attr:`catch_all`, or is refused when there is none.
    """

    #: Names of the interfaces the routes deliver to, in the order recipients are looked up.
    interfaces: tuple[str, ...] = attrs.field(default=(), converter=as_str_tuple)
    #: The interface for mail to an address none of :attr:`interfaces` has (``None``: refused).
    catch_all: str | None = attrs.field(default=None, validator=_optional_text)
    #: Largest request body taken; a larger one is answered 413 before it is read.
    max_body_bytes: int = attrs.field(default=40 * 1024 * 1024, validator=_positive_int)
    #: Where ``mailtrack web`` serves the routes (``/inbound/mailgun`` …).
    path: str = attrs.field(default="/inbound", validator=_routes_path)
    mailgun: MailgunSettings | None = None
    postmark: BasicAuthSettings | None = None
    sendgrid: BasicAuthSettings | None = None
    mandrill: MandrillSettings | None = None
    ses: SESSettings | None = None
    relay: BasicAuthSettings | None = None

    @property
    def services(self) -> tuple[str, ...]:
        """The names of the services configured (``"mailgun"``, ``"relay"`` …)."""
        names = ("mailgun", "postmark", "sendgrid", "mandrill", "ses", "relay")
        return tuple(name for name in names if getattr(self, name) is not None)

    @property
    def interface_names(self) -> tuple[str, ...]:
        """:attr:`interfaces`, then :attr:`catch_all` when it is not among them."""
        extra = (self.catch_all,) if self.catch_all and self.catch_all not in self.interfaces else ()
        return (*self.interfaces, *extra)

    def __attrs_post_init__(self) -> None:
        if self.services and not self.interface_names:
            raise ConfigError(
                "inbound.interfaces: name the interface(s) the inbound mail goes to (or a catch_all)"
            )
