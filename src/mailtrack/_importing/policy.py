"""How the importer decides what becomes of one message: new record, appended detail, skip or quarantine.

The rules (documented for users in "how import decides"):

1. Machine mail (auto-replies, bounces, our own mail) follows its :class:`~mailtrack.ClassAction`:
   ``DROP`` skips it, ``QUARANTINE`` quarantines it, ``APPEND_OR_IGNORE`` adds it to the record it
   refers to (by the evidence of rule 2) or skips it — it never opens a record. ``NORMAL`` treats
   it like any message.
2. Evidence naming an existing record of the interface's project (:mod:`.evidence`: a signed
   reply token, In-Reply-To/References, the subject's tag, in the interface's order) appends the
   message to it, if the sender may write there: a trusted sender (:mod:`.trust`), a sender who
   answered the host's signed mail, or one the :class:`~mailtrack.SenderPolicy` allows.
3. A sender the policy refuses never writes into that record: the message opens a new record,
   or is quarantined when ``policy.quarantine_refused`` is set (machine mail is skipped).
4. Everything else opens a new record in the interface's project, titled after the subject,
   with the interface's ``defaults`` as fields.

:class:`Policy` is the one place that classifies a message and looks records up for a decision.
It decides in two steps: :meth:`Policy.read` classifies the message and gathers the evidence,
giving a :class:`Reading` that also says which records the decision rests on (so
that the importer can tell whether an uncommitted batch may change it); :meth:`Policy.decide`
takes the decision from the reading.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import attrs

from ..abc import Matcher, RecordStore
from ..classifying import classify
from ..config import ClassAction, ImportPolicy, MailInterface, SenderPolicy
from ..exceptions import ConfigError
from ..matching import SubjectIdMatcher, recipients, title_from_subject
from ..models import (
    AppendToRecord,
    CreateRecord,
    ImportAction,
    IncomingMessage,
    MessageClass,
    Record,
    SkipMessage,
)
from .evidence import Found, gather, thread_ids
from .keywords import fields_set_by
from .trust import trust_verdict

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
    #: Why, in plain words: the evidence that decided and the sender policy's verdict
    #: (what :meth:`mailtrack.Importer.explain` shows).
    reasons: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Reading:
    """What the policy learnt about a message before deciding, and what the decision rests on.

    A decision reads the records the evidence names (whether they exist, who took part in
    them) and looks the Message-IDs of :attr:`thread` up in the store.
    """

    message: IncomingMessage
    message_class: MessageClass
    #: What the policy prescribes for the class (``QUARANTINE`` is ``NORMAL`` on a retry).
    action: ClassAction
    #: The evidence naming records, and the one that decides.
    found: Found = attrs.field(factory=Found)
    #: The Message-IDs (In-Reply-To/References) the decision looked up in the store.
    thread: tuple[str, ...] = ()
    #: The project the message belongs to (the interface's, or its route's).
    project: str = ""
    #: The route the message took, in plain words, or ``None``.
    route: str | None = None


@attrs.frozen(kw_only=True)
class _Verdict:
    """The sender policy's answer for one record: allowed or not, in plain words."""

    allowed: bool
    words: str
    #: Set when deciding failed (the sender_authorizer raised): the message is quarantined.
    quarantine: Quarantine | None = None


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
    #: The envelope recipient the mail server delivered the message to (``mailtrack deliver
    #: --recipient``): the first address routing looks at, and an own address (mail claiming to
    #: come from the address it was delivered to is own mail coming back: a loop).
    recipient: str | None = None
    #: The interface's policy with its login and aliases among the own addresses.
    _classifying: ImportPolicy = attrs.field(init=False)

    #: ``(record ID, project)`` of the records this policy found: a record known to exist is not
    #: looked up again (one that disappears before the commit is handled there: a new record).
    _existing: set[tuple[int, str]] = attrs.field(init=False, factory=set, repr=False, eq=False)

    @_classifying.default
    def _with_own_addresses(self) -> ImportPolicy:
        own = self.interface.own_addresses
        if self.recipient and self.recipient.strip().lower() not in own:
            own = (*own, self.recipient.strip().lower())
        return attrs.evolve(self.interface.policy, own_addresses=own)

    #: The matcher of subject tags: the interface's ``tag``, else the importer's matcher.
    subject_matcher: Matcher = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda self: SubjectIdMatcher.for_tag(self.interface.tag) if self.interface.tag else self.matcher,
            takes_self=True,
        ),
    )

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
        interface, route = self.routed(message)
        found = gather(
            message,
            interface=interface,
            store=self.store,
            matcher=self.subject_matcher,
            existing=self._existing,
        )
        follows = "references" in self.interface.policy.evidence_order
        return Reading(
            message=message,
            message_class=message_class,
            action=action,
            found=found,
            thread=tuple(thread_ids(message)) if follows else (),
            project=interface.project,
            route=route,
        )

    def routed(self, message: IncomingMessage) -> tuple[MailInterface, str | None]:
        """The interface as the message's route makes it (its project and defaults), and the
        route in plain words (``None`` when no route matched: the interface as it is)."""
        interface = self.interface
        addresses = recipients(message) if interface.routes else []
        if interface.routes and self.recipient:
            addresses.insert(0, self.recipient.strip())
        for number, route in enumerate(interface.routes, 1):
            for address in addresses:
                if route.matches(address):
                    routed = attrs.evolve(
                        interface, project=route.project, defaults={**interface.defaults, **route.defaults}
                    )
                    return routed, f"sent to {address}: routed to project {route.project!r} (route {number})"
        return interface, None

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

        notes = list(reading.found.notes)
        # Machine mail never sets fields; people's mail may, where its sender may write.
        set_fields, field_notes = (
            fields_set_by(message, self.interface.policy)
            if message_class is MessageClass.NORMAL
            else ({}, [])
        )
        notes += field_notes
        sets = tuple(f"sets {name} to {value!r}" for name, value in set_fields.items())
        chosen = reading.found.chosen
        if chosen is None:
            reasons: tuple[str, ...] = (f"no evidence names a record of project {reading.project!r}", *sets)
            if action is ClassAction.APPEND_OR_IGNORE:
                reason = f"{kind} that refers to no record of project {reading.project!r}"
                return Decision(
                    outcome=self._skip(message, message_class, reason), notes=tuple(notes), reasons=reasons
                )
            outcome = self.new_record(message, message_class, set_fields=set_fields)
            return Decision(outcome=outcome, notes=tuple(notes), reasons=reasons)
        record_id = chosen.record_id
        verdict = self._verdict(record_id, message, vouched=reading.found.vouched)
        reasons = (chosen.words, verdict.words, *sets)
        if verdict.allowed:
            return Decision(
                outcome=AppendToRecord(
                    message=message, record_id=record_id, message_class=message_class, set_fields=set_fields
                ),
                notes=tuple(notes),
                reasons=reasons,
            )
        if verdict.quarantine is not None:
            return Decision(
                outcome=attrs.evolve(verdict.quarantine, message_class=message_class),
                notes=tuple(notes),
                reasons=reasons,
            )
        refusal = verdict.words
        if self.interface.policy.quarantine_refused and not self.retry:
            notes.append(f"{refusal}; quarantined")
            return Decision(
                outcome=Quarantine(reason=refusal, message_class=message_class),
                notes=tuple(notes),
                reasons=reasons,
            )
        if action is ClassAction.APPEND_OR_IGNORE:
            notes.append(f"{refusal}; {kind} skipped")
            return Decision(
                outcome=self._skip(message, message_class, refusal), notes=tuple(notes), reasons=reasons
            )
        notes.append(f"{refusal}; opened a new record related to #{record_id} instead")
        outcome = self.new_record(message, message_class, set_fields=set_fields, related=record_id)
        return Decision(outcome=outcome, notes=tuple(notes), reasons=reasons)

    def decision(self, message: IncomingMessage) -> Decision:
        """:meth:`classify`, :meth:`read` and :meth:`decide` at once, for a message on its own.

        Raises:
            StoreError: looking up records failed.
        """
        return self.decide(self.read(message, self.classify(message)))

    def new_record(
        self,
        message: IncomingMessage,
        message_class: MessageClass = MessageClass.NORMAL,
        *,
        set_fields: Mapping[str, str] | None = None,
        related: int | None = None,
    ) -> CreateRecord:
        """The action that opens a new record for *message* in the interface's project (or the
        project its route names)."""
        interface = self.routed(message)[0]
        return CreateRecord(
            message=message,
            project=interface.project,
            title=title_from_subject(message.subject, self.subject_matcher),
            fields=dict(interface.defaults),
            message_class=message_class,
            set_fields=dict(set_fields or {}),
            related=related,
        )

    @staticmethod
    def _skip(message: IncomingMessage, message_class: MessageClass, reason: str) -> SkipMessage:
        return SkipMessage(reason=reason, message_id=message.message_id, message_class=message_class)

    def _verdict(self, record_id: int, message: IncomingMessage, *, vouched: bool) -> _Verdict:
        """Whether the sender may add to record *record_id*, and why (or why not)."""
        sender_policy = self.interface.policy.sender_policy
        if sender_policy is SenderPolicy.ANYONE:
            return _Verdict(allowed=True, words="anyone may add to a record (sender_policy 'anyone')")
        trusted, trust_words = trust_verdict(message, self.interface.policy)
        if trusted:
            assert trust_words is not None
            return _Verdict(allowed=True, words=trust_words)
        sender = message.sender.address if message.sender is not None else ""
        who = sender or "a message without sender"
        if sender_policy is SenderPolicy.PARTICIPANTS:
            if vouched:
                return _Verdict(
                    allowed=True,
                    words=f"{who} answered mail sent for record #{record_id} (signed reply token)",
                )
            if sender and sender.lower() in self.store.record_participants(record_id):
                return _Verdict(allowed=True, words=f"{who} is a participant of record #{record_id}")
            refusal = f"{who} is not a participant of record #{record_id}"
            return _Verdict(allowed=False, words=f"{refusal} ({trust_words})" if trust_words else refusal)
        if self.sender_authorizer is None:  # check_sender_policy() stops this before a run; be safe anyway
            return _Verdict(
                allowed=False,
                words=f"no sender_authorizer to decide whether {who} may add to record #{record_id}",
            )
        record = self.store.get_record(record_id, load_content=False)
        try:
            allowed = bool(self.sender_authorizer(record, message))
        except Exception as exc:
            logging.getLogger("mailtrack").warning("the sender_authorizer failed", exc_info=True)
            reason = f"the sender_authorizer failed: {type(exc).__name__}: {exc}"
            return _Verdict(allowed=False, words=reason, quarantine=Quarantine(reason=reason))
        if allowed:
            return _Verdict(
                allowed=True, words=f"the sender_authorizer allowed {who} for record #{record_id}"
            )
        return _Verdict(allowed=False, words=f"the sender_authorizer refused {who} for record #{record_id}")
