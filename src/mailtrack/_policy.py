"""How the importer decides what becomes of one message: new record, appended detail, skip or quarantine.

The rules (documented for users in "how import decides"):

1. Machine mail (auto-replies, bounces, our own mail) follows its :class:`~mailtrack.ClassAction`:
   ``DROP`` skips it, ``QUARANTINE`` quarantines it, ``APPEND_OR_IGNORE`` adds it to the record it
   refers to (by ``#ID`` in the subject, else by In-Reply-To/References) or skips it — it never
   opens a record. ``NORMAL`` treats it like any message.
2. A subject naming an existing record of the interface's project appends the message to it,
   if the interface's :class:`~mailtrack.SenderPolicy` lets the sender write there.
3. A sender the policy refuses never writes into that record: the message opens a new record,
   or is quarantined when ``policy.quarantine_refused`` is set (machine mail is skipped).
4. Everything else opens a new record in the interface's project, titled after the subject,
   with the interface's ``defaults`` as fields.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs

from ._titles import title_from_subject
from .abc import Matcher, RecordStore
from .config import ClassAction, ImportPolicy, MailInterface, SenderPolicy
from .exceptions import ConfigError
from .models import (
    AppendToRecord,
    CreateRecord,
    ImportAction,
    IncomingMessage,
    MessageClass,
    Record,
    SkipMessage,
)

__all__ = [
    "Decision",
    "Quarantine",
    "SenderAuthorizer",
    "check_sender_policy",
    "class_action",
    "decide",
    "new_record",
]

#: Decides whether a message's sender may add to an existing record (``SenderPolicy.CALLBACK``).
SenderAuthorizer = Callable[[Record, IncomingMessage], bool]

# Hostile References headers can list thousands of IDs; the newest few are what matters.
_MAX_THREAD_LOOKUPS = 20

_CLASS_NAMES = {
    MessageClass.NORMAL: "message",
    MessageClass.AUTO_REPLY: "auto-reply",
    MessageClass.BOUNCE: "bounce",
    MessageClass.OWN: "message sent by this application",
}


@attrs.frozen(kw_only=True)
class Quarantine:
    """Decision: keep the raw message in the quarantine for a human, with *reason*."""

    reason: str
    message_class: MessageClass = MessageClass.NORMAL


@attrs.frozen(kw_only=True)
class Decision:
    """What to do with one message, and the lines worth telling the admin about it."""

    outcome: ImportAction | Quarantine
    notes: tuple[str, ...] = ()


def check_sender_policy(interface: MailInterface, sender_authorizer: SenderAuthorizer | None) -> None:
    """Refuse a configuration that cannot work: ``SenderPolicy.CALLBACK`` without a callback.

    Raises:
        ConfigError: the interface asks for a callback the importer was not given.
    """
    if interface.policy.sender_policy is SenderPolicy.CALLBACK and sender_authorizer is None:
        raise ConfigError(
            f"{interface.name}: policy.sender_policy is 'callback' but the Importer was given "
            "no sender_authorizer"
        )


def class_action(message_class: MessageClass, policy: ImportPolicy) -> ClassAction:
    """The action the policy prescribes for a message of *message_class*."""
    if message_class is MessageClass.AUTO_REPLY:
        return policy.on_auto_reply
    if message_class is MessageClass.BOUNCE:
        return policy.on_bounce
    if message_class is MessageClass.OWN:
        return policy.on_own_mail
    return ClassAction.NORMAL


def decide(
    message: IncomingMessage,
    message_class: MessageClass,
    *,
    interface: MailInterface,
    store: RecordStore,
    matcher: Matcher,
    sender_authorizer: SenderAuthorizer | None,
    retry: bool = False,
) -> Decision:
    """Decide what becomes of *message* that came through *interface*.

    Args:
        retry: the message is being re-imported from the quarantine on a human's request:
            it is not quarantined again by policy (``QUARANTINE`` acts like ``NORMAL``, and a
            refused sender opens a new record).

    Raises:
        StoreError: looking up records failed.
    """
    policy = interface.policy
    action = class_action(message_class, policy)
    kind = _CLASS_NAMES[message_class]
    if retry and action is ClassAction.QUARANTINE:
        action = ClassAction.NORMAL
    if action is ClassAction.DROP:
        return Decision(
            outcome=SkipMessage(
                reason=f"{kind} dropped by policy", message_id=message.message_id, message_class=message_class
            )
        )
    if action is ClassAction.QUARANTINE:
        return Decision(
            outcome=Quarantine(reason=f"{kind} quarantined by policy", message_class=message_class)
        )

    notes: list[str] = []
    record_id = _named_record(message, interface, store, matcher, notes)
    if record_id is None and action is ClassAction.APPEND_OR_IGNORE:
        record_id = _thread_record(message, interface, store)
    if record_id is not None:
        refusal = _refusal(record_id, message, interface, store, sender_authorizer)
        if refusal is None:
            return Decision(
                outcome=AppendToRecord(message=message, record_id=record_id, message_class=message_class),
                notes=tuple(notes),
            )
        if isinstance(refusal, Quarantine):
            return Decision(outcome=attrs.evolve(refusal, message_class=message_class), notes=tuple(notes))
        if policy.quarantine_refused and not retry:
            notes.append(f"{refusal}; quarantined")
            return Decision(
                outcome=Quarantine(reason=refusal, message_class=message_class), notes=tuple(notes)
            )
        if action is ClassAction.APPEND_OR_IGNORE:
            notes.append(f"{refusal}; {kind} skipped")
            return Decision(
                outcome=SkipMessage(
                    reason=refusal, message_id=message.message_id, message_class=message_class
                ),
                notes=tuple(notes),
            )
        notes.append(f"{refusal}; opened a new record instead")
    elif action is ClassAction.APPEND_OR_IGNORE:
        return Decision(
            outcome=SkipMessage(
                reason=f"{kind} that refers to no record of project {interface.project!r}",
                message_id=message.message_id,
                message_class=message_class,
            ),
            notes=tuple(notes),
        )
    return Decision(outcome=new_record(message, interface, message_class), notes=tuple(notes))


def new_record(
    message: IncomingMessage, interface: MailInterface, message_class: MessageClass = MessageClass.NORMAL
) -> CreateRecord:
    """The action that opens a new record for *message* in *interface*'s project."""
    return CreateRecord(
        message=message,
        project=interface.project,
        title=title_from_subject(message.subject),
        fields=dict(interface.defaults),
        message_class=message_class,
    )


def _named_record(
    message: IncomingMessage,
    interface: MailInterface,
    store: RecordStore,
    matcher: Matcher,
    notes: list[str],
) -> int | None:
    record_id = matcher.match(message.subject)
    if record_id is None:
        return None
    if store.has_record(record_id, interface.project):
        return record_id
    notes.append(f"the subject names #{record_id}, which is no record of project {interface.project!r}")
    return None


def _thread_record(message: IncomingMessage, interface: MailInterface, store: RecordStore) -> int | None:
    # In-Reply-To first, then References newest first: the closest ancestor wins.
    candidates = dict.fromkeys((*message.in_reply_to, *reversed(message.references)))
    for message_id in list(candidates)[:_MAX_THREAD_LOOKUPS]:
        record = store.find_record_by_message_id(message_id)
        if record is not None and record.project == interface.project:
            return record.id
    return None


def _refusal(
    record_id: int,
    message: IncomingMessage,
    interface: MailInterface,
    store: RecordStore,
    sender_authorizer: SenderAuthorizer | None,
) -> str | Quarantine | None:
    """``None`` when the sender may add to the record, else why not (or a Quarantine when the
    callback itself failed)."""
    sender_policy = interface.policy.sender_policy
    if sender_policy is SenderPolicy.ANYONE:
        return None
    sender = message.sender.address if message.sender is not None else ""
    who = sender or "a message without sender"
    if sender_policy is SenderPolicy.PARTICIPANTS:
        if sender and sender.lower() in store.record_participants(record_id):
            return None
        return f"{who} is not a participant of record #{record_id}"
    if sender_authorizer is None:  # check_sender_policy() stops this before a run; be safe anyway
        return f"no sender_authorizer to decide whether {who} may add to record #{record_id}"
    record = store.get_record(record_id, load_content=False)
    try:
        allowed = bool(sender_authorizer(record, message))
    except Exception as exc:
        logging.getLogger("mailtrack").warning("the sender_authorizer failed", exc_info=True)
        return Quarantine(reason=f"the sender_authorizer failed: {type(exc).__name__}: {exc}")
    if allowed:
        return None
    return f"the sender_authorizer refused {who} for record #{record_id}"
