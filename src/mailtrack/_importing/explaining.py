"""What an import would do with one message, told without writing anything.

:func:`explain` walks the same path as a run (the size limit, the converter, the policy's
classification, evidence and sender verdict) and turns the decision into an
:class:`~mailtrack.Explanation`. It shares :class:`~.policy.Policy` with the run, so the two
cannot drift apart; a test compares them on every golden message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

from ..abc import Matcher, MessageConverter, RecordStore
from ..config import MailInterface
from ..models import AppendToRecord, CreateRecord, MessageClass, SkipMessage
from ..stores._commit import field_changes
from .outcome import conversion_failure
from .policy import Policy, Quarantine, SenderAuthorizer

__all__ = ["Explanation", "explain"]


@attrs.frozen(kw_only=True)
class Explanation:
    """What an import would do with one message, and why (:meth:`mailtrack.Importer.explain`).

    Nothing is written to get it. The words are the ones the run's notes use.
    """

    #: The interface whose rules were applied.
    interface: str
    #: The message's Message-ID (``""`` when it could not be converted) and decoded subject.
    message_id: str = ""
    subject: str = ""
    #: Normal mail, or the kind of machine mail it was recognised as (``None``: not converted).
    message_class: MessageClass | None = None
    #: Each piece of evidence found, in plain words (a reply token, References, the subject's tag).
    evidence: tuple[str, ...] = ()
    #: Why the decision went as it did: the evidence that decided and the sender policy's verdict.
    reasons: tuple[str, ...] = ()
    #: Field name → ``(old value, new value)`` that the message would change.
    fields: Mapping[str, tuple[str | None, str]] = attrs.field(factory=dict)
    #: ``"create"``, ``"append"``, ``"skip"``, ``"duplicate"`` (its Message-ID is a detail
    #: already), ``"quarantine"`` or ``"leave"`` (too large: left on the server).
    action: str
    #: The record appended to (``append``) or holding the duplicate (``duplicate``).
    record_id: int | None = None
    #: The reason of a skip, a quarantine or a message left on the server.
    reason: str | None = None
    #: The lines the run's notes would get for this message.
    notes: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The action in plain words: ``"new record"``, ``"append to #42"``, ``"skip: …"`` …"""
        if self.action == "create":
            return "new record"
        if self.action == "append":
            return f"append to #{self.record_id}"
        if self.action == "duplicate":
            return f"skip: its Message-ID is already a detail of #{self.record_id}"
        return f"{self.action}: {self.reason}"


def explain(
    raw: bytes,
    *,
    interface: MailInterface,
    store: RecordStore,
    matcher: Matcher,
    converter: MessageConverter,
    sender_authorizer: SenderAuthorizer | None,
    received_at: datetime,
) -> Explanation:
    """The decision on *raw* by *interface*'s rules, and why.

    Raises:
        StoreError: looking up records failed.
    """
    name = interface.name
    if len(raw) > interface.max_message_bytes:
        reason = (
            f"{len(raw)} bytes, more than max_message_bytes ({interface.max_message_bytes}): "
            "not imported, left on the server"
        )
        return Explanation(interface=name, action="leave", reason=reason)
    try:
        message = converter.convert(raw, received_at=received_at)
    except Exception as exc:
        return Explanation(interface=name, action="quarantine", reason=conversion_failure(exc))
    policy = Policy(interface=interface, store=store, matcher=matcher, sender_authorizer=sender_authorizer)
    message_class = policy.classify(message)
    reading = policy.read(message, message_class)
    decision = policy.decide(reading)
    told = Explanation(
        interface=name,
        message_id=message.message_id,
        subject=message.subject,
        message_class=message_class,
        evidence=(
            *([reading.route] if reading.route else []),
            *(item.words for item in reading.found.evidence),
        ),
        reasons=decision.reasons,
        notes=decision.notes,
        action="create",
    )
    outcome = decision.outcome
    if isinstance(outcome, Quarantine):
        return attrs.evolve(told, action="quarantine", reason=outcome.reason)
    if isinstance(outcome, SkipMessage):
        return attrs.evolve(told, action="skip", reason=outcome.reason)
    holder = store.record_ids_by_message_ids([message.message_id]).get(message.message_id)
    if holder is not None:
        return attrs.evolve(told, action="duplicate", record_id=holder)
    if isinstance(outcome, AppendToRecord):
        now = store.get_record(outcome.record_id, load_content=False).fields if outcome.set_fields else {}
        fields = field_changes(now, outcome.set_fields)
        return attrs.evolve(told, action="append", record_id=outcome.record_id, fields=fields)
    assert isinstance(outcome, CreateRecord)
    return attrs.evolve(told, fields=field_changes(outcome.fields, outcome.set_fields))
