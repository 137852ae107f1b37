"""One configured mailbox, :class:`MailInterface`: where to fetch from, how to sign in, and what
records its messages become.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import attrs

from ..exceptions import ConfigError
from ._enums import MailProtocol, Security
from ._limits import AttachmentLimits
from ._oauth import OAuthSettings
from ._policy import ImportPolicy
from ._routes import Route, as_routes
from ._validators import (
    as_str_mapping,
    as_str_tuple,
    fail,
    instance_of,
    non_empty,
    positive,
    positive_or_none,
)

__all__ = [
    "AFTER_IMPORT_ACTIONS",
    "MailInterface",
]


#: The values of :attr:`MailInterface.after_import` (``move:FOLDER`` names the folder).
AFTER_IMPORT_ACTIONS = ("delete", "keep", "flag", "move:FOLDER")


def _port(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(attribute, f"must be an integer, not {type(value).__name__}")
    if not 1 <= value <= 65535:
        raise fail(attribute, f"must be 1..65535, not {value}")


def _needed_to_poll(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: non-empty, unless the interface is of ``protocol = "deliver"`` (no mailbox)."""
    if getattr(instance, "protocol", None) is MailProtocol.DELIVER and isinstance(value, str):
        if any(ch in value for ch in "\r\n\x00"):
            raise fail(attribute, "must not contain line breaks or NUL")
        return
    if isinstance(value, str) and not value.strip():
        raise fail(
            attribute, f"must not be empty (only an interface of protocol 'deliver' has no {attribute.name})"
        )
    non_empty(instance, attribute, value)


def _tag(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    non_empty(_instance, attribute, value)
    assert isinstance(value, str)
    if value.count("{id}") != 1:
        raise fail(attribute, f"must contain {{id}} exactly once (as in '[ACME #{{id}}]'), not {value!r}")
    if not value.replace("{id}", "").strip():
        raise fail(attribute, "must have text around {id}: a bare number would match any number")


def _default_port(security: Security, protocol: MailProtocol = MailProtocol.POP3) -> int:
    if protocol is MailProtocol.IMAP:
        return 993 if security is Security.SSL else 143
    return 995 if security is Security.SSL else 110


def _after_import(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise fail(attribute, f"must be a string, not {type(value).__name__}")
    action, colon, folder = value.partition(":")
    if action == "move" and colon and folder.strip() and not any(ch in folder for ch in "\r\n\x00"):
        return
    if action == "move":
        raise fail(attribute, "'move' needs a folder: write 'move:FOLDER' (for example 'move:Imported')")
    if value not in ("delete", "keep", "flag"):
        allowed = ", ".join(repr(choice) for choice in AFTER_IMPORT_ACTIONS)
        raise fail(attribute, f"must be one of {allowed}, not {value!r}")


@attrs.frozen(kw_only=True)
class MailInterface:
    """One configured mailbox: where to fetch from, and what records its messages become.

    The password is never part of ``repr()``, logs, exception texts or a default dump.
    """

    #: Unique name of the interface (used in the ledger, the run history and the CLI).
    name: str = attrs.field(validator=non_empty)
    #: Host name of the mail server (none for ``protocol = "deliver"``).
    server: str = attrs.field(default="", validator=_needed_to_poll)
    #: Login name on the server (none for ``protocol = "deliver"``).
    login: str = attrs.field(default="", validator=_needed_to_poll)
    #: Password. Kept out of ``repr`` and dumps. Prefer :attr:`password_env` or :attr:`password_file`.
    password: str = attrs.field(default="", repr=False, validator=instance_of(str))
    #: Name of an environment variable holding the password (read when connecting).
    password_env: str | None = attrs.field(default=None)
    #: Path of a file holding the password (first line; read when connecting).
    password_file: str | None = attrs.field(default=None)
    #: Disabled interfaces are skipped by :meth:`~mailtrack.Importer.run_all`.
    enabled: bool = attrs.field(default=True, validator=instance_of(bool))
    #: TCP port; ``None`` means the protocol's default: POP3 995 for ``Security.SSL`` and 110
    #: otherwise, IMAP 993 for ``Security.SSL`` and 143 otherwise.
    port: int | None = attrs.field(default=None, validator=_port)
    #: How the connection is secured.
    security: Security = attrs.field(default=Security.SSL, validator=instance_of(Security))
    #: A PEM file of CA certificates to trust instead of the system's store (for a private CA).
    ca_file: str | None = attrs.field(default=None)
    #: Log in with APOP (a digest of the password) instead of USER/PASS.
    apop: bool = attrs.field(default=False, validator=instance_of(bool))
    #: Leave the messages on the server after importing (the ledger keeps them from being imported twice).
    leave_copy: bool = attrs.field(default=False, validator=instance_of(bool))
    #: Project that new records of this interface belong to.
    project: str = attrs.field(default="default", validator=non_empty)
    #: The record tag in subjects, ``{id}`` standing for the record's number, e.g.
    #: ``"[ACME #{id}]"``: it is what the subject must show to name a record, and what
    #: :func:`~mailtrack.outgoing_headers` puts into subjects. ``None`` (default): the
    #: importer's matcher (any ``#123`` in the subject) and ``[#123]`` on outgoing mail.
    tag: str | None = attrs.field(default=None, validator=_tag)
    #: Field values for every new record of this interface (e.g. ``priority``).
    defaults: Mapping[str, str] = attrs.field(factory=dict, converter=as_str_mapping)
    #: Routing by recipient: one mailbox serving several projects. The first route whose
    #: address matches a recipient decides the project (and defaults); none: :attr:`project`.
    routes: tuple[Route, ...] = attrs.field(default=(), converter=as_routes)
    #: Seconds to wait for the server on connect and for any byte of a reply. A whole reply may
    #: take twice ``timeout`` plus one second per :attr:`min_transfer_rate` bytes it carries.
    timeout: float = attrs.field(default=60.0, validator=positive)
    #: Bytes per second a server must deliver at least: a message of ``size`` bytes has
    #: ``2 * timeout + size / min_transfer_rate`` seconds, so a server that drips cannot hold a run.
    min_transfer_rate: int = attrs.field(default=64 * 1024, validator=positive)
    #: Seconds one run may talk to the server (``None``: no limit). After it the session ends
    #: without QUIT: what was imported stays imported, the rest waits on the server.
    run_timeout: float | None = attrs.field(default=3600.0, validator=positive_or_none)
    #: Messages larger than this (by the server's LIST size) are not retrieved and stay on the server.
    max_message_bytes: int = attrs.field(default=50 * 1024 * 1024, validator=positive)
    #: Most messages one run retrieves, oldest first (``None``: no limit); the rest wait on the
    #: server for the next run, so that one run's work stays bounded however full the mailbox.
    max_messages_per_run: int | None = attrs.field(default=2000, validator=positive_or_none)
    #: What to do with machine mail and foreign senders.
    policy: ImportPolicy = attrs.field(factory=ImportPolicy, validator=instance_of(ImportPolicy))
    #: Which attachments this interface refuses, and what becomes of them.
    attachments: AttachmentLimits = attrs.field(
        factory=AttachmentLimits, validator=instance_of(AttachmentLimits)
    )
    #: OAuth 2.0 sign-in instead of a password (XOAUTH2 / OAUTHBEARER).
    oauth: OAuthSettings | None = attrs.field(
        default=None, validator=attrs.validators.optional(instance_of(OAuthSettings))
    )
    #: How the mailbox is read: POP3 (the default) or IMAP; or ``deliver``: no mailbox, the
    #: messages are handed over (``mailtrack deliver``, :meth:`~mailtrack.Importer.deliver`,
    #: archives). Mail may also be delivered to a POP3 or IMAP interface.
    protocol: MailProtocol = attrs.field(default=MailProtocol.POP3, validator=instance_of(MailProtocol))
    #: IMAP only: the folder to import from.
    folder: str = attrs.field(default="INBOX", validator=non_empty)
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
