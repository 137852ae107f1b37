"""The import policy of an interface: sender policy, machine mail, reply tokens, trusted senders,
keyword fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from ..exceptions import ConfigError
from ._enums import ClassAction, SenderPolicy
from ._validators import as_str_tuple, fail, instance_of, non_empty, positive

__all__ = [
    "EVIDENCE_KINDS",
    "ImportPolicy",
]


#: The kinds of evidence that name a record, in the default order (strongest first).
EVIDENCE_KINDS = ("token", "references", "subject")


def _evidence_order(_instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    unknown = [kind for kind in value if kind not in EVIDENCE_KINDS]
    if unknown:
        raise fail(attribute, f"unknown kind {unknown[0]!r}; use {', '.join(EVIDENCE_KINDS)}")
    if len(set(value)) != len(value):
        raise fail(attribute, "names a kind twice")


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
            raise fail(attribute, "each key must have at least 16 characters")


def _optional_address(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    non_empty(_instance, attribute, value)
    assert isinstance(value, str)
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() or ch in '<>",' for ch in value):
        raise fail(attribute, f"must be a plain address such as support@example.com, not {value!r}")


@attrs.frozen(kw_only=True)
class ImportPolicy:
    """What the importer does with each kind of message, per interface."""

    #: Who may add to an existing record by naming its ``#ID``.
    sender_policy: SenderPolicy = attrs.field(
        default=SenderPolicy.PARTICIPANTS, validator=instance_of(SenderPolicy)
    )
    #: A message refused by the sender policy opens a new record (False) or is quarantined (True).
    quarantine_refused: bool = attrs.field(default=False, validator=instance_of(bool))
    #: Auto-replies (RFC 3834, out-of-office, bulk precedence).
    on_auto_reply: ClassAction = attrs.field(
        default=ClassAction.APPEND_OR_IGNORE, validator=instance_of(ClassAction)
    )
    #: Bounces (delivery-status reports, MAILER-DAEMON, empty Return-Path).
    on_bounce: ClassAction = attrs.field(
        default=ClassAction.APPEND_OR_IGNORE, validator=instance_of(ClassAction)
    )
    #: Mail that mailtrack's host application sent itself, coming back.
    on_own_mail: ClassAction = attrs.field(default=ClassAction.DROP, validator=instance_of(ClassAction))
    #: Our own addresses: mail from these is "own mail". The interface's login (when it is an
    #: address) and its :attr:`~MailInterface.aliases` count as own addresses too.
    own_addresses: tuple[str, ...] = attrs.field(default=(), converter=as_str_tuple)
    #: Value of the ``X-Mailtrack-Loop`` header that the host application puts on the mail it sends.
    loop_header_value: str | None = attrs.field(default=None)
    #: After a message was quarantined, delete it from the server (True) or leave it there (False).
    delete_quarantined: bool = attrs.field(default=False, validator=instance_of(bool))
    #: A message whose conversion began this many times and never finished (it killed the
    #: importer: out of memory, a crash in C code) is quarantined from its raw bytes, unparsed.
    max_crashes: int = attrs.field(default=3, validator=positive)
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
    trust_unauthenticated: bool = attrs.field(default=False, validator=instance_of(bool))
    #: Record fields that mail may set, with their allowed values (an empty list: any value):
    #: ``{"priority": ["low", "normal", "high"], "status": ["open", "closed"]}``. Off (empty)
    #: by default. A message sets them by keyword lines at the top of its text
    #: (``Priority: high``), or by ``X-Mailtrack-Priority`` header fields when
    #: :attr:`trusted_headers` is set; only when its sender may write into the record.
    keyword_fields: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict, converter=_as_keyword_fields)
    #: Let ``X-Mailtrack-<Field>`` header fields set :attr:`keyword_fields`: only for an
    #: interface whose mail comes from systems you run (anybody can write header fields).
    trusted_headers: bool = attrs.field(default=False, validator=instance_of(bool))

    @reply_address.validator
    def _needs_reply_address(self, _attribute: attrs.Attribute[Any], value: str | None) -> None:
        if self.reply_keys and value is None:
            raise ConfigError(
                "reply_address: must be set when reply_keys are (the Reply-To carries the token)"
            )
