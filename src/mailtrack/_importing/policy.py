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

:class:`Policy` is the one place that classifies a message and looks records up for a decision.
It decides in two steps: :meth:`Policy.read` classifies the message and looks up the record its
subject names, giving a :class:`Reading` that also says which records the decision rests on (so
that the importer can tell whether an uncommitted batch may change it); :meth:`Policy.decide`
takes the decision from the reading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs

from ..abc import Matcher, RecordStore
from ..classifying import classify
from ..config import ClassAction, ImportPolicy, MailInterface, SenderPolicy
from ..exceptions import ConfigError
from ..matching import title_from_subject
from ..models import (
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
    "Policy",
    "Quarantine",
    "Reading",
    "SenderAuthorizer",
    "check_sender_policy",
    "class_action",
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


@attrs.frozen(kw_only=True)
class Reading:
    """What the policy learnt about a message before deciding, and what the decision rests on.

    A decision reads the record :attr:`named` (whether it exists, who took part in it), and,
    when :attr:`follows_thread`, any record by the Message-IDs of In-Reply-To/References.
    """

    message: IncomingMessage
    message_class: MessageClass
    #: What the policy prescribes for the class (``QUARANTINE`` is ``NORMAL`` on a retry).
    action: ClassAction
    #: The record ID the subject names, when the decision looks at it.
    named: int | None = None
    #: Whether :attr:`named` is a record of the interface's project.
    named_found: bool = False
    #: Whether the decision looks records up by In-Reply-To/References.
    follows_thread: bool = False


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


@attrs.frozen(kw_only=True)
class Policy:
    """The import policy of one interface, applied to one message at a time.

    Args:
        retry: the messages are re-imported from the quarantine on a human's request: they
            are not quarantined again by policy (``QUARANTINE`` acts like ``NORMAL``, and a
            refused sender opens a new record).
    """

    interface: MailInterface
    store: RecordStore
    matcher: Matcher
    sender_authorizer: SenderAuthorizer | None
    retry: bool = False
    #: The interface's policy with its login and aliases among the own addresses.
    _classifying: ImportPolicy = attrs.field(init=False)

    @_classifying.default
    def _with_own_addresses(self) -> ImportPolicy:
        return attrs.evolve(self.interface.policy, own_addresses=self.interface.own_addresses)

    def classify(self, message: IncomingMessage) -> MessageClass:
        """The message's class (see :func:`mailtrack.classify`); the interface's login address
        and aliases are own addresses (a forged ``From:`` of the help desk itself is own mail)."""
        return classify(message, self._classifying)

    def read(self, message: IncomingMessage, message_class: MessageClass) -> Reading:
        """Look up what the decision on *message* needs first: the record its subject names.

        Raises:
            StoreError: looking up records failed.
        """
        action = class_action(message_class, self.interface.policy)
        if self.retry and action is ClassAction.QUARANTINE:
            action = ClassAction.NORMAL
        if action in (ClassAction.DROP, ClassAction.QUARANTINE):
            return Reading(message=message, message_class=message_class, action=action)
        named = self.matcher.match(message.subject)
        found = named is not None and self.store.has_record(named, self.interface.project)
        return Reading(
            message=message,
            message_class=message_class,
            action=action,
            named=named,
            named_found=found,
            follows_thread=(
                not found
                and action is ClassAction.APPEND_OR_IGNORE
                and bool(message.in_reply_to or message.references)
            ),
        )

    def decide(self, reading: Reading) -> Decision:
        """Decide what becomes of the message *reading* is about.

        Raises:
            StoreError: looking up records failed.
        """
        message, message_class, action = reading.message, reading.message_class, reading.action
        kind = _CLASS_NAMES[message_class]
        if action is ClassAction.DROP:
            return Decision(outcome=self._skip(message, message_class, f"{kind} dropped by policy"))
        if action is ClassAction.QUARANTINE:
            return Decision(
                outcome=Quarantine(reason=f"{kind} quarantined by policy", message_class=message_class)
            )

        notes: list[str] = []
        record_id = reading.named if reading.named_found else None
        if reading.named is not None and not reading.named_found:
            notes.append(
                f"the subject names #{reading.named}, which is no record of project "
                f"{self.interface.project!r}"
            )
        if reading.follows_thread:
            record_id = self._thread_record(message)
        if record_id is not None:
            refusal = self._refusal(record_id, message)
            if refusal is None:
                return Decision(
                    outcome=AppendToRecord(message=message, record_id=record_id, message_class=message_class),
                    notes=tuple(notes),
                )
            if isinstance(refusal, Quarantine):
                return Decision(
                    outcome=attrs.evolve(refusal, message_class=message_class), notes=tuple(notes)
                )
            if self.interface.policy.quarantine_refused and not self.retry:
                notes.append(f"{refusal}; quarantined")
                return Decision(
                    outcome=Quarantine(reason=refusal, message_class=message_class), notes=tuple(notes)
                )
            if action is ClassAction.APPEND_OR_IGNORE:
                notes.append(f"{refusal}; {kind} skipped")
                return Decision(outcome=self._skip(message, message_class, refusal), notes=tuple(notes))
            notes.append(f"{refusal}; opened a new record instead")
        elif action is ClassAction.APPEND_OR_IGNORE:
            reason = f"{kind} that refers to no record of project {self.interface.project!r}"
            return Decision(outcome=self._skip(message, message_class, reason), notes=tuple(notes))
        return Decision(outcome=self.new_record(message, message_class), notes=tuple(notes))

    def decision(self, message: IncomingMessage) -> Decision:
        """:meth:`classify`, :meth:`read` and :meth:`decide` at once, for a message on its own.

        Raises:
            StoreError: looking up records failed.
        """
        return self.decide(self.read(message, self.classify(message)))

    def new_record(
        self, message: IncomingMessage, message_class: MessageClass = MessageClass.NORMAL
    ) -> CreateRecord:
        """The action that opens a new record for *message* in the interface's project."""
        return CreateRecord(
            message=message,
            project=self.interface.project,
            title=title_from_subject(message.subject, self.matcher),
            fields=dict(self.interface.defaults),
            message_class=message_class,
        )

    @staticmethod
    def _skip(message: IncomingMessage, message_class: MessageClass, reason: str) -> SkipMessage:
        return SkipMessage(reason=reason, message_id=message.message_id, message_class=message_class)

    def _thread_record(self, message: IncomingMessage) -> int | None:
        # In-Reply-To first, then References newest first: the closest ancestor wins.
        candidates = dict.fromkeys((*message.in_reply_to, *reversed(message.references)))
        for message_id in list(candidates)[:_MAX_THREAD_LOOKUPS]:
            record = self.store.find_record_by_message_id(message_id)
            if record is not None and record.project == self.interface.project:
                return record.id
        return None

    def _refusal(self, record_id: int, message: IncomingMessage) -> str | Quarantine | None:
        """``None`` when the sender may add to the record, else why not (or a Quarantine when the
        callback itself failed)."""
        sender_policy = self.interface.policy.sender_policy
        if sender_policy is SenderPolicy.ANYONE:
            return None
        sender = message.sender.address if message.sender is not None else ""
        who = sender or "a message without sender"
        if sender_policy is SenderPolicy.PARTICIPANTS:
            if sender and sender.lower() in self.store.record_participants(record_id):
                return None
            return f"{who} is not a participant of record #{record_id}"
        if self.sender_authorizer is None:  # check_sender_policy() stops this before a run; be safe anyway
            return f"no sender_authorizer to decide whether {who} may add to record #{record_id}"
        record = self.store.get_record(record_id, load_content=False)
        try:
            allowed = bool(self.sender_authorizer(record, message))
        except Exception as exc:
            logging.getLogger("mailtrack").warning("the sender_authorizer failed", exc_info=True)
            return Quarantine(reason=f"the sender_authorizer failed: {type(exc).__name__}: {exc}")
        if allowed:
            return None
        return f"the sender_authorizer refused {who} for record #{record_id}"
