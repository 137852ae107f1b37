"""Configuration values: mail interfaces and the policies that steer an import.

All classes here are frozen attrs classes validated at construction: a bad value raises
:class:`~mailtrack.ConfigError` at once, naming the field. Loading from and dumping to dicts,
JSON and TOML lives in :mod:`mailtrack._serde` (``load_config`` / ``dump_config``).
"""

from __future__ import annotations

import enum
import os
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
    "ParseLimits",
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
    #: Our own addresses: mail from these is "own mail".
    own_addresses: tuple[str, ...] = attrs.field(default=(), converter=as_str_tuple)
    #: Value of the ``X-Mailtrack-Loop`` header that the host application puts on the mail it sends.
    loop_header_value: str | None = attrs.field(default=None)
    #: After a message was quarantined, delete it from the server (True) or leave it there (False).
    delete_quarantined: bool = attrs.field(default=False, validator=_instance_of(bool))


def _default_port(security: Security) -> int:
    return 995 if security is Security.SSL else 110


@attrs.frozen(kw_only=True)
class MailInterface:
    """One configured mailbox: where to fetch from, and what records its messages become.

    The password is never part of ``repr()``, logs, exception texts or a default dump.
    """

    #: Unique name of the interface (used in the ledger, the run history and the CLI).
    name: str = attrs.field(validator=_non_empty)
    #: Host name of the POP3 server.
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
    #: TCP port; ``None`` means 995 for ``Security.SSL`` and 110 otherwise.
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
    #: Field values for every new record of this interface (e.g. ``priority``).
    defaults: Mapping[str, str] = attrs.field(factory=dict, converter=as_str_mapping)
    #: Seconds to wait for the server on connect and on every command.
    timeout: float = attrs.field(default=60.0, validator=_positive)
    #: Messages larger than this (by the server's LIST size) are not retrieved and stay on the server.
    max_message_bytes: int = attrs.field(default=50 * 1024 * 1024, validator=_positive)
    #: What to do with machine mail and foreign senders.
    policy: ImportPolicy = attrs.field(factory=ImportPolicy, validator=_instance_of(ImportPolicy))
    #: Which attachments this interface refuses, and what becomes of them.
    attachments: AttachmentLimits = attrs.field(
        factory=AttachmentLimits, validator=_instance_of(AttachmentLimits)
    )

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
    def effective_port(self) -> int:
        """The port actually used: :attr:`port`, or the default for :attr:`security`."""
        return self.port if self.port is not None else _default_port(self.security)


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

    @interfaces.validator
    def _unique_names(self, _attribute: attrs.Attribute[Any], value: tuple[MailInterface, ...]) -> None:
        seen: set[str] = set()
        for index, interface in enumerate(value):
            if interface.name in seen:
                raise ConfigError(f"interfaces[{index}].name: {interface.name!r} is used twice")
            seen.add(interface.name)
