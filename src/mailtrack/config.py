"""Configuration values: mail interfaces and the policies that steer an import.

All classes here are frozen attrs classes validated at construction: a bad value raises
:class:`~mailtrack.ConfigError` at once, naming the field. Loading from and dumping to dicts,
JSON and TOML lives in :mod:`mailtrack._serde` (``load_config`` / ``dump_config``).
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .exceptions import ConfigError

__all__ = [
    "AttachmentAction",
    "AttachmentLimits",
    "ClassAction",
    "Config",
    "ImportPolicy",
    "MailInterface",
    "MailProtocol",
    "OAuthFlow",
    "OAuthSettings",
    "ParseLimits",
    "Route",
    "Security",
    "SenderPolicy",
]


class Security(str, enum.Enum):
    """How the connection to the mail server is secured."""

    #: Implicit TLS from the first byte (POP3S, port 995 by default).
    SSL = "ssl"
    #: Plain connection upgraded with STLS before login; fails closed when the server does not offer it.
    STARTTLS = "starttls"
    #: No encryption at all. The password crosses the network in clear text: only on explicit request.
    NONE = "none"


class MailProtocol(str, enum.Enum):
    """How mailtrack reads an interface's mailbox."""

    #: POP3 (RFC 1939): the messages of one mailbox, deleted after import unless ``leave_copy``.
    POP3 = "pop3"
    #: IMAP4rev1 (RFC 3501): the messages of one folder; ``after_import`` says what becomes of them.
    IMAP = "imap"


#: The values of :attr:`MailInterface.after_import` (``move:FOLDER`` names the folder).
AFTER_IMPORT_ACTIONS = ("delete", "keep", "flag", "move:FOLDER")


class SenderPolicy(str, enum.Enum):
    """Who may add a message to an existing record by naming its ``#ID``."""

    #: Anybody who knows the ID, a participant of the record or not.
    ANYONE = "anyone"
    #: Only addresses that already took part in the record (From, To or Cc of its details).
    PARTICIPANTS = "participants"
    #: The ``sender_authorizer`` callable given to the :class:`~mailtrack.Importer` decides.
    CALLBACK = "callback"


class ClassAction(str, enum.Enum):
    """What the importer does with machine mail (auto-replies, bounces, our own mail)."""

    #: Treat it like any other message (may open a new record).
    NORMAL = "normal"
    #: Add it to the record it names; when it names none, skip it. Never opens a record.
    APPEND_OR_IGNORE = "append_or_ignore"
    #: Skip it (it is recorded in the ledger and deleted unless ``leave_copy``).
    DROP = "drop"
    #: Put it into the quarantine for a human to look at.
    QUARANTINE = "quarantine"


class AttachmentAction(str, enum.Enum):
    """What becomes of an attachment the interface's :class:`AttachmentLimits` refuse."""

    #: The message is imported without the file; the detail notes what was refused and why.
    NOTE = "note"
    #: As ``NOTE``, and the whole raw message is also kept in the quarantine (under the
    #: message's UID with ``#refused-attachments`` added), so the file can be taken out.
    KEEP_IN_QUARANTINE = "keep_in_quarantine"
    #: The whole message is quarantined instead of imported; the reason names the file.
    QUARANTINE_MESSAGE = "quarantine_message"


def _fail(attribute: attrs.Attribute[Any], reason: str) -> ConfigError:
    return ConfigError(f"{attribute.name}: {reason}")


def _non_empty(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise _fail(attribute, f"must be a string, not {type(value).__name__}")
    if not value.strip():
        raise _fail(attribute, "must not be empty")
    if any(ch in value for ch in "\r\n\x00"):
        raise _fail(attribute, "must not contain line breaks or NUL")


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(attribute, f"must be a number, not {type(value).__name__}")
    if not value > 0:
        raise _fail(attribute, f"must be positive, not {value!r}")


def _positive_or_none(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _positive(instance, attribute, value)


def _port(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(attribute, f"must be an integer, not {type(value).__name__}")
    if not 1 <= value <= 65535:
        raise _fail(attribute, f"must be 1..65535, not {value}")


def _instance_of(kind: type | tuple[type, ...]) -> Any:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, kind):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise _fail(attribute, f"must be {expected}, not {type(value).__name__}")

    return check


def as_str_mapping(value: object) -> dict[str, str]:
    """Copy a mapping of field names to values, checking that both are strings."""
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"defaults: must be a mapping of field names to strings, not {type(value).__name__}"
        )
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ConfigError(f"defaults[{key!r}]: keys and values must be strings")
        result[key] = item
    return result


def as_str_tuple(value: object) -> tuple[str, ...]:
    """Turn a list or tuple of strings into a tuple (a lone string becomes a 1-tuple)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple | frozenset | set):
        raise ConfigError(f"must be a list of strings, not {type(value).__name__}")
    return tuple(str(item) for item in value)


#: The kinds of evidence that name a record, in the default order (strongest first).
EVIDENCE_KINDS = ("token", "references", "subject")


def _evidence_order(_instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    unknown = [kind for kind in value if kind not in EVIDENCE_KINDS]
    if unknown:
        raise _fail(attribute, f"unknown kind {unknown[0]!r}; use {', '.join(EVIDENCE_KINDS)}")
    if len(set(value)) != len(value):
        raise _fail(attribute, "names a kind twice")


def _as_keyword_fields(value: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"keyword_fields: must be a table of field names to lists of values, not {type(value).__name__}"
        )
    result: dict[str, tuple[str, ...]] = {}
    for name, allowed in value.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,39}", name):
            raise ConfigError(
                f"keyword_fields[{name!r}]: a field name is a letter, then letters, digits, _ or -"
            )
        try:
            result[name] = as_str_tuple(allowed)
        except ConfigError as exc:
            raise ConfigError(f"keyword_fields[{name!r}]: {exc}") from None
    return result


def _reply_keys(_instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for key in value:
        if len(key) < 16:
            # Never the key itself in the message.
            raise _fail(attribute, "each key must have at least 16 characters")


def _optional_address(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    _non_empty(_instance, attribute, value)
    assert isinstance(value, str)
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() or ch in '<>",' for ch in value):
        raise _fail(attribute, f"must be a plain address such as support@example.com, not {value!r}")


def _tag(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    _non_empty(_instance, attribute, value)
    assert isinstance(value, str)
    if value.count("{id}") != 1:
        raise _fail(attribute, f"must contain {{id}} exactly once (as in '[ACME #{{id}}]'), not {value!r}")
    if not value.replace("{id}", "").strip():
        raise _fail(attribute, "must have text around {id}: a bare number would match any number")


@attrs.frozen(kw_only=True)
class ParseLimits:
    """Bounds that keep one hostile message from eating the importer's time and memory.

    A message beyond any of them is quarantined with a reason that names the limit.
    """

    #: Most MIME parts one message may have.
    max_parts: int = attrs.field(default=1000, validator=_positive)
    #: Deepest nesting of multiparts.
    max_depth: int = attrs.field(default=50, validator=_positive)
    #: Largest header block (of the whole message, in bytes).
    max_header_bytes: int = attrs.field(default=512 * 1024, validator=_positive)
    #: Most header fields in the top-level header.
    max_header_fields: int = attrs.field(default=2000, validator=_positive)
    #: Seconds the converter may spend on one message.
    time_budget: float = attrs.field(default=30.0, validator=_positive)


def _as_extensions(value: object) -> tuple[str, ...]:
    """File name extensions, lower case with their dot (``"EXE"`` and ``".exe"`` are ``".exe"``)."""
    found = []
    for item in as_str_tuple(value):
        extension = item.strip().lower()
        if not extension.strip("."):
            raise ConfigError(f"refuse_extensions: {item!r} is no file name extension")
        found.append("." + extension.lstrip("."))
    return tuple(found)


def _as_types(value: object) -> tuple[str, ...]:
    """Content types, lower case; ``type/*`` stands for every subtype."""
    found = []
    for item in as_str_tuple(value):
        kind = item.strip().lower()
        if kind.count("/") != 1 or not all(kind.split("/")):
            raise ConfigError(
                f"refuse_types: {item!r} is no content type (write it as type/subtype or type/*)"
            )
        found.append(kind)
    return tuple(found)


def _optional_positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _positive(instance, attribute, value)


@attrs.frozen(kw_only=True)
class AttachmentLimits:
    """Which attachments an interface refuses, and what becomes of them (``on_refused``).

    Refused are files larger than :attr:`max_bytes` and files whose content type or file name
    extension is listed; inline images count as attachments. Nothing is dropped silently: the
    detail notes each refused file (:attr:`~mailtrack.Detail.refused_attachments`), or the
    message goes to the quarantine with its raw bytes.
    """

    #: Largest attachment kept (decoded size, in bytes); ``None`` for no limit.
    max_bytes: int | None = attrs.field(default=None, validator=_optional_positive)
    #: Content types refused, e.g. ``"application/x-msdownload"`` or ``"video/*"``.
    refuse_types: tuple[str, ...] = attrs.field(default=(), converter=_as_types)
    #: File name extensions refused (any case, with or without the dot), e.g. ``"exe"``, ``".js"``.
    #: Both the name as sent and the safe name are looked at.
    refuse_extensions: tuple[str, ...] = attrs.field(default=(), converter=_as_extensions)
    #: What becomes of a refused attachment.
    on_refused: AttachmentAction = attrs.field(
        default=AttachmentAction.NOTE, validator=_instance_of(AttachmentAction)
    )

    @property
    def limits_anything(self) -> bool:
        """Whether any attachment can be refused at all."""
        return self.max_bytes is not None or bool(self.refuse_types or self.refuse_extensions)


@attrs.frozen(kw_only=True)
class ImportPolicy:
    """What the importer does with each kind of message, per interface."""

    #: Who may add to an existing record by naming its ``#ID``.
    sender_policy: SenderPolicy = attrs.field(
        default=SenderPolicy.PARTICIPANTS, validator=_instance_of(SenderPolicy)
    )
    #: A message refused by the sender policy opens a new record (False) or is quarantined (True).
    quarantine_refused: bool = attrs.field(default=False, validator=_instance_of(bool))
    #: Auto-replies (RFC 3834, out-of-office, bulk precedence).
    on_auto_reply: ClassAction = attrs.field(
        default=ClassAction.APPEND_OR_IGNORE, validator=_instance_of(ClassAction)
    )
    #: Bounces (delivery-status reports, MAILER-DAEMON, empty Return-Path).
    on_bounce: ClassAction = attrs.field(
        default=ClassAction.APPEND_OR_IGNORE, validator=_instance_of(ClassAction)
    )
    #: Mail that mailtrack's host application sent itself, coming back.
    on_own_mail: ClassAction = attrs.field(default=ClassAction.DROP, validator=_instance_of(ClassAction))
    #: Our own addresses: mail from these is "own mail". The interface's login (when it is an
    #: address) and its :attr:`~MailInterface.aliases` count as own addresses too.
    own_addresses: tuple[str, ...] = attrs.field(default=(), converter=as_str_tuple)
    #: Value of the ``X-Mailtrack-Loop`` header that the host application puts on the mail it sends.
    loop_header_value: str | None = attrs.field(default=None)
    #: After a message was quarantined, delete it from the server (True) or leave it there (False).
    delete_quarantined: bool = attrs.field(default=False, validator=_instance_of(bool))
    #: A message whose conversion began this many times and never finished (it killed the
    #: importer: out of memory, a crash in C code) is quarantined from its raw bytes, unparsed.
    max_crashes: int = attrs.field(default=3, validator=_positive)
    #: Which evidence names the record a message belongs to, strongest first: ``"token"`` (a
    #: signed reply token), ``"references"`` (In-Reply-To/References naming a stored or sent
    #: Message-ID), ``"subject"`` (the record tag in the subject). Leave one out to ignore it.
    evidence_order: tuple[str, ...] = attrs.field(
        default=EVIDENCE_KINDS, converter=as_str_tuple, validator=_evidence_order
    )
    #: Secret keys that sign reply tokens (:func:`~mailtrack.outgoing_headers`). The first signs;
    #: all verify, so a new key is put first and an old one removed once its mail is answered.
    #: Never in ``repr``, logs or a default dump.
    reply_keys: tuple[str, ...] = attrs.field(
        default=(), converter=as_str_tuple, repr=False, validator=_reply_keys
    )
    #: The address replies go to (``support@example.com``): signed mail gets the Reply-To
    #: ``support+r42.<signature>@example.com``. Needed with :attr:`reply_keys`.
    reply_address: str | None = attrs.field(default=None, validator=_optional_address)
    #: Colleagues and agents who may write into any record of the project: addresses
    #: (``ann@example.com``) and domains (``@example.com``). Only trusted when the host's own
    #: mail server vouches for them (see :attr:`authserv_ids`).
    trusted_senders: tuple[str, ...] = attrs.field(default=(), converter=as_str_tuple)
    #: The ``authserv-id`` of your own mail server's ``Authentication-Results`` header: a trusted
    #: sender counts only with ``dmarc=pass`` (or ``dkim=pass`` aligned with the sender's domain)
    #: in the first such header.
    authserv_ids: tuple[str, ...] = attrs.field(default=(), converter=as_str_tuple)
    #: **Unsafe**: trust :attr:`trusted_senders` by the From header alone, which anybody can
    #: forge. Only for a mailbox no one outside can write to.
    trust_unauthenticated: bool = attrs.field(default=False, validator=_instance_of(bool))
    #: Record fields that mail may set, with their allowed values (an empty list: any value):
    #: ``{"priority": ["low", "normal", "high"], "status": ["open", "closed"]}``. Off (empty)
    #: by default. A message sets them by keyword lines at the top of its text
    #: (``Priority: high``), or by ``X-Mailtrack-Priority`` header fields when
    #: :attr:`trusted_headers` is set; only when its sender may write into the record.
    keyword_fields: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=_as_keyword_fields)
    #: Let ``X-Mailtrack-<Field>`` header fields set :attr:`keyword_fields`: only for an
    #: interface whose mail comes from systems you run (anybody can write header fields).
    trusted_headers: bool = attrs.field(default=False, validator=_instance_of(bool))

    @reply_address.validator
    def _needs_reply_address(self, _attribute: attrs.Attribute[Any], value: str | None) -> None:
        if self.reply_keys and value is None:
            raise ConfigError(
                "reply_address: must be set when reply_keys are (the Reply-To carries the token)"
            )


def _route_address(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _non_empty(_instance, attribute, value)
    assert isinstance(value, str)
    _local, at, domain = value.strip().rpartition("@")
    if not at or not domain or any(ch.isspace() or ch in '<>,;"' for ch in value.strip()):
        raise _fail(
            attribute, f"must be an address (sales@example.com) or a domain (@example.com), not {value!r}"
        )


@attrs.frozen(kw_only=True)
class Route:
    """Routing by recipient: mail sent to :attr:`address` goes to :attr:`project`.

    The recipients looked at are Delivered-To and X-Original-To (what the mail server delivered
    to), then To and Cc. A route's address matches a recipient that is the same address (any
    case), or the same address with a plus-address detail (``sales+anything@example.com``
    matches ``sales@example.com``); ``@example.com`` matches every address of the domain.
    """

    #: ``sales@example.com``, ``support+billing@example.com`` or ``@sales.example.com``.
    address: str = attrs.field(validator=_route_address)
    #: The project of the records this mail opens, and where its evidence is looked up.
    project: str = attrs.field(validator=_non_empty)
    #: Field values for the new records, over the interface's ``defaults``.
    defaults: Mapping[str, str] = attrs.field(factory=dict, converter=as_str_mapping)

    def matches(self, recipient: str) -> bool:
        """Whether mail to *recipient* takes this route."""
        wanted = self.address.strip().lower()
        recipient = recipient.strip().lower()
        if wanted.startswith("@"):
            return recipient.endswith(wanted)
        if recipient == wanted:
            return True
        local, _, domain = recipient.rpartition("@")
        return "+" in local and f"{local.partition('+')[0]}@{domain}" == wanted


def _as_routes(value: Iterable[Route]) -> tuple[Route, ...]:
    return tuple(value)


class OAuthFlow(str, enum.Enum):
    """How an OAuth 2.0 interface gets its access tokens."""

    #: A user signed in once (``mailtrack oauth login``); a refresh token renews the access token.
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type
    #: App-only access with the app's own secret (Microsoft 365), no user at the keyboard.
    CLIENT_CREDENTIALS = "client_credentials"
    #: A Google service account with domain-wide delegation (a signed JWT, RFC 7523).
    SERVICE_ACCOUNT = "service_account"


def _as_flow(value: object) -> OAuthFlow:
    try:
        return OAuthFlow(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in OAuthFlow)
        raise ConfigError(f"oauth.flow: must be one of {allowed}, not {value!r}") from None


def _tenant(_instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    # It becomes part of the token endpoint's URL path.
    if not all(ch.isascii() and (ch.isalnum() or ch in ".-_") for ch in value):
        raise _fail(attribute, f"must be a domain or a tenant ID, not {value!r}")


def _read_secret(owner: str, field: str, value: str, env: str | None, path: str | None) -> str:
    """A secret given inline, by environment variable or by file (first line), as passwords are."""
    if value:
        return value
    if env:
        found = os.environ.get(env)
        if found is None:
            raise ConfigError(f"{owner}: environment variable {env} ({field}_env) is not set")
        return found
    if path:
        try:
            with open(path, encoding="utf-8") as stream:
                return stream.readline().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"{owner}: cannot read {field}_file {path!r}: {exc.strerror}") from None
    return ""


@attrs.frozen(kw_only=True)
class OAuthSettings:
    """OAuth 2.0 sign-in for an interface (the ``oauth`` table): XOAUTH2 / OAUTHBEARER.

    Secrets (the client secret, a refresh token) come from ``*_env`` or ``*_file`` settings, as
    passwords do; an inline :attr:`client_secret` is kept out of ``repr`` and dumps. Needs the
    ``oauth`` extra. See :mod:`mailtrack.auth`.
    """

    #: ``"microsoft"`` or ``"google"`` (the endpoints and scopes follow), or ``None`` with :attr:`token_url`.
    provider: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_(("microsoft", "google")))
    )
    flow: OAuthFlow = attrs.field(default=OAuthFlow.REFRESH_TOKEN, converter=_as_flow)
    #: Microsoft Entra tenant (a domain or ID); ``"organizations"`` suits a user sign-in.
    tenant: str = attrs.field(default="organizations", validator=[_non_empty, _tenant])
    #: The app's client ID (from the app registration).
    client_id: str | None = attrs.field(default=None)
    client_secret: str = attrs.field(default="", repr=False, validator=_instance_of(str))
    client_secret_env: str | None = attrs.field(default=None)
    client_secret_file: str | None = attrs.field(default=None)
    #: A refresh token to start from, when there is none in :attr:`token_file` yet.
    refresh_token_env: str | None = attrs.field(default=None)
    refresh_token_file: str | None = attrs.field(default=None)
    #: Google service-account key file (JSON), for ``flow = "service_account"``.
    service_account_file: str | None = attrs.field(default=None)
    #: Scopes; empty means the provider's (mail over POP and IMAP).
    scopes: tuple[str, ...] = attrs.field(default=(), converter=as_str_tuple)
    #: Endpoints; each defaults to the provider's.
    token_url: str | None = attrs.field(default=None)
    device_authorization_url: str | None = attrs.field(default=None)
    authorization_url: str | None = attrs.field(default=None)
    #: Where the access token and the newest refresh token are kept (mode 0600). Default:
    #: ``$XDG_STATE_HOME/mailtrack/oauth-NAME.json`` (``~/.local/state/…``).
    token_file: str | None = attrs.field(default=None)
    #: CA certificates to trust for the token endpoint instead of the system's.
    ca_file: str | None = attrs.field(default=None)
    #: Seconds to wait for the token endpoint.
    timeout: float = attrs.field(default=30.0, validator=_positive)
    #: ``"XOAUTH2"`` or ``"OAUTHBEARER"``; ``None``: what the server announces.
    mechanism: str | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.in_(("XOAUTH2", "OAUTHBEARER"))),
    )

    def __attrs_post_init__(self) -> None:
        if self.provider is None and not self.token_url:
            raise ConfigError("oauth.token_url: required when no provider is named")
        if self.flow is OAuthFlow.SERVICE_ACCOUNT:
            if not self.service_account_file:
                raise ConfigError("oauth.service_account_file: required for flow 'service_account'")
        elif not self.client_id:
            raise ConfigError("oauth.client_id: required")
        if self.flow is OAuthFlow.CLIENT_CREDENTIALS and not (
            self.client_secret or self.client_secret_env or self.client_secret_file
        ):
            raise ConfigError(
                "oauth.client_secret_env: flow 'client_credentials' needs the app's secret "
                "(client_secret_env or client_secret_file)"
            )

    def resolve_client_secret(self, owner: str) -> str | None:
        """The client secret, or ``None`` for a public client (ConfigError names the setting)."""
        value = _read_secret(
            owner, "oauth.client_secret", self.client_secret, self.client_secret_env, self.client_secret_file
        )
        return value or None

    def resolve_refresh_token(self, owner: str) -> str | None:
        """The configured first refresh token, or ``None``."""
        value = _read_secret(
            owner, "oauth.refresh_token", "", self.refresh_token_env, self.refresh_token_file
        )
        return value or None


def _default_port(security: Security, protocol: MailProtocol = MailProtocol.POP3) -> int:
    if protocol is MailProtocol.IMAP:
        return 993 if security is Security.SSL else 143
    return 995 if security is Security.SSL else 110


def _after_import(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _fail(attribute, f"must be a string, not {type(value).__name__}")
    action, colon, folder = value.partition(":")
    if action == "move" and colon and folder.strip() and not any(ch in folder for ch in "\r\n\x00"):
        return
    if action == "move":
        raise _fail(attribute, "'move' needs a folder: write 'move:FOLDER' (for example 'move:Imported')")
    if value not in ("delete", "keep", "flag"):
        allowed = ", ".join(repr(choice) for choice in AFTER_IMPORT_ACTIONS)
        raise _fail(attribute, f"must be one of {allowed}, not {value!r}")


@attrs.frozen(kw_only=True)
class MailInterface:
    """One configured mailbox: where to fetch from, and what records its messages become.

    The password is never part of ``repr()``, logs, exception texts or a default dump.
    """

    #: Unique name of the interface (used in the ledger, the run history and the CLI).
    name: str = attrs.field(validator=_non_empty)
    #: Host name of the mail server.
    server: str = attrs.field(validator=_non_empty)
    #: Login name on the server.
    login: str = attrs.field(validator=_non_empty)
    #: Password. Kept out of ``repr`` and dumps. Prefer :attr:`password_env` or :attr:`password_file`.
    password: str = attrs.field(default="", repr=False, validator=_instance_of(str))
    #: Name of an environment variable holding the password (read when connecting).
    password_env: str | None = attrs.field(default=None)
    #: Path of a file holding the password (first line; read when connecting).
    password_file: str | None = attrs.field(default=None)
    #: Disabled interfaces are skipped by :meth:`~mailtrack.Importer.run_all`.
    enabled: bool = attrs.field(default=True, validator=_instance_of(bool))
    #: TCP port; ``None`` means the protocol's default: POP3 995 for ``Security.SSL`` and 110
    #: otherwise, IMAP 993 for ``Security.SSL`` and 143 otherwise.
    port: int | None = attrs.field(default=None, validator=_port)
    #: How the connection is secured.
    security: Security = attrs.field(default=Security.SSL, validator=_instance_of(Security))
    #: A PEM file of CA certificates to trust instead of the system's store (for a private CA).
    ca_file: str | None = attrs.field(default=None)
    #: Log in with APOP (a digest of the password) instead of USER/PASS.
    apop: bool = attrs.field(default=False, validator=_instance_of(bool))
    #: Leave the messages on the server after importing (the ledger keeps them from being imported twice).
    leave_copy: bool = attrs.field(default=False, validator=_instance_of(bool))
    #: Project that new records of this interface belong to.
    project: str = attrs.field(default="default", validator=_non_empty)
    #: The record tag in subjects, ``{id}`` standing for the record's number, e.g.
    #: ``"[ACME #{id}]"``: it is what the subject must show to name a record, and what
    #: :func:`~mailtrack.outgoing_headers` puts into subjects. ``None`` (default): the
    #: importer's matcher (any ``#123`` in the subject) and ``[#123]`` on outgoing mail.
    tag: str | None = attrs.field(default=None, validator=_tag)
    #: Field values for every new record of this interface (e.g. ``priority``).
    defaults: Mapping[str, str] = attrs.field(factory=dict, converter=as_str_mapping)
    #: Routing by recipient: one mailbox serving several projects. The first route whose
    #: address matches a recipient decides the project (and defaults); none: :attr:`project`.
    routes: tuple[Route, ...] = attrs.field(default=(), converter=_as_routes)
    #: Seconds to wait for the server on connect and for any byte of a reply. A whole reply may
    #: take twice ``timeout`` plus one second per :attr:`min_transfer_rate` bytes it carries.
    timeout: float = attrs.field(default=60.0, validator=_positive)
    #: Bytes per second a server must deliver at least: a message of ``size`` bytes has
    #: ``2 * timeout + size / min_transfer_rate`` seconds, so a server that drips cannot hold a run.
    min_transfer_rate: int = attrs.field(default=64 * 1024, validator=_positive)
    #: Seconds one run may talk to the server (``None``: no limit). After it the session ends
    #: without QUIT: what was imported stays imported, the rest waits on the server.
    run_timeout: float | None = attrs.field(default=3600.0, validator=_positive_or_none)
    #: Messages larger than this (by the server's LIST size) are not retrieved and stay on the server.
    max_message_bytes: int = attrs.field(default=50 * 1024 * 1024, validator=_positive)
    #: Most messages one run retrieves, oldest first (``None``: no limit); the rest wait on the
    #: server for the next run, so that one run's work stays bounded however full the mailbox.
    max_messages_per_run: int | None = attrs.field(default=2000, validator=_positive_or_none)
    #: What to do with machine mail and foreign senders.
    policy: ImportPolicy = attrs.field(factory=ImportPolicy, validator=_instance_of(ImportPolicy))
    #: Which attachments this interface refuses, and what becomes of them.
    attachments: AttachmentLimits = attrs.field(
        factory=AttachmentLimits, validator=_instance_of(AttachmentLimits)
    )
    #: OAuth 2.0 sign-in instead of a password (XOAUTH2 / OAUTHBEARER).
    oauth: OAuthSettings | None = attrs.field(
        default=None, validator=attrs.validators.optional(_instance_of(OAuthSettings))
    )
    #: How the mailbox is read: POP3 (the default) or IMAP.
    protocol: MailProtocol = attrs.field(default=MailProtocol.POP3, validator=_instance_of(MailProtocol))
    #: IMAP only: the folder to import from.
    folder: str = attrs.field(default="INBOX", validator=_non_empty)
    #: What becomes of a message on the server once the store committed it: ``"delete"``,
    #: ``"keep"`` (leave it as it is; the ledger keeps it from being imported twice), ``"flag"``
    #: (keep it and mark it read, IMAP only) or ``"move:FOLDER"`` (IMAP only). ``None`` (the
    #: default) follows :attr:`leave_copy`: ``"keep"`` when it is set, else ``"delete"``.
    after_import: str | None = attrs.field(default=None, validator=_after_import)

    #: Other addresses that deliver into this mailbox (``help@`` beside the login ``support@``).
    #: Like the login, they are own addresses: mail claiming to come from them is own mail.
    aliases: tuple[str, ...] = attrs.field(default=(), converter=as_str_tuple)

    def __attrs_post_init__(self) -> None:
        if self.oauth is not None and (self.password or self.password_env or self.password_file or self.apop):
            raise ConfigError(
                f"{self.name}: oauth and a password (password, password_env, password_file or apop) "
                f"are both set; an interface signs in one way: remove one of them"
            )
        if self.oauth is not None and self.protocol is MailProtocol.IMAP:
            raise ConfigError(
                f"{self.name}: oauth: OAuth 2.0 sign-in works over POP3 only so far; an IMAP interface "
                f"logs in with a password (password_env, password_file or password)"
            )
        action = self.after_import
        if action is None:
            return
        if self.leave_copy and action not in ("keep", "flag"):
            raise ConfigError(
                f"after_import: {action!r} disagrees with leave_copy = true (which keeps the messages "
                f"on the server); set only one of them"
            )
        if self.protocol is MailProtocol.POP3 and action not in ("delete", "keep"):
            raise ConfigError(
                f"after_import: {action!r} needs protocol 'imap'; a POP3 server can only delete or "
                f"keep a message ('delete', 'keep')"
            )

    @property
    def after_import_action(self) -> str:
        """What becomes of an imported message: ``"delete"``, ``"keep"``, ``"flag"`` or ``"move"``."""
        if self.after_import is None:
            return "keep" if self.leave_copy else "delete"
        return self.after_import.partition(":")[0]

    @property
    def move_to(self) -> str | None:
        """The folder of ``after_import = "move:FOLDER"``, else ``None``."""
        action, _, folder = (self.after_import or "").partition(":")
        return folder if action == "move" else None

    @property
    def keeps_messages(self) -> bool:
        """Whether imported messages stay where they are (``keep`` or ``flag``): later runs skip
        what the ledger holds instead of removing it from the server."""
        return self.after_import_action in ("keep", "flag")

    def resolve_password(self) -> str:
        """The password: :attr:`password`, else from :attr:`password_env`, else :attr:`password_file`.

        Raises:
            ConfigError: the variable is unset or the file unreadable (the error names which,
                never the password).
        """
        if self.password:
            return self.password
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(
                    f"{self.name}: environment variable {self.password_env} (password_env) is not set"
                )
            return value
        if self.password_file:
            try:
                with open(self.password_file, encoding="utf-8") as stream:
                    return stream.readline().rstrip("\r\n")
            except OSError as exc:
                raise ConfigError(
                    f"{self.name}: cannot read password_file {self.password_file!r}: {exc.strerror}"
                ) from None
        return ""

    @property
    def own_addresses(self) -> tuple[str, ...]:
        """The addresses whose mail is own mail: :attr:`ImportPolicy.own_addresses`, the login
        (when it is an address) and the :attr:`aliases`, lower case, each once."""
        login = (self.login,) if "@" in self.login else ()
        found = (*self.policy.own_addresses, *login, *self.aliases)
        return tuple(dict.fromkeys(address.strip().lower() for address in found if address.strip()))

    @property
    def effective_port(self) -> int:
        """The port actually used: :attr:`port`, or the default for :attr:`security`."""
        return self.port if self.port is not None else _default_port(self.security, self.protocol)


def _as_interfaces(value: Iterable[MailInterface]) -> tuple[MailInterface, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Config:
    """A whole configuration file: where the store is, and the mail interfaces."""

    #: Store URL for :func:`~mailtrack.stores.store_from_url` (``memory://``, ``sqlite:///path.db`` …).
    store: str = attrs.field(default="sqlite:///mailtrack.db", validator=_non_empty)
    interfaces: tuple[MailInterface, ...] = attrs.field(default=(), converter=_as_interfaces)
    #: The bounds the converter applies to each message (the ``[limits]`` table).
    limits: ParseLimits = attrs.field(factory=ParseLimits, validator=_instance_of(ParseLimits))
    #: The e-mail services that POST mail to the inbound routes (the ``[inbound]`` table).
    inbound: InboundSettings | None = None

    @interfaces.validator
    def _unique_names(self, _attribute: attrs.Attribute[Any], value: tuple[MailInterface, ...]) -> None:
        seen: set[str] = set()
        for index, interface in enumerate(value):
            if interface.name in seen:
                raise ConfigError(f"interfaces[{index}].name: {interface.name!r} is used twice")
            seen.add(interface.name)


# At the end: the inbound settings read their secrets with _read_secret above.
from ._inbound_config import InboundSettings  # noqa: E402
