"""One message delivered by a host or an MTA's pipe: :meth:`mailtrack.Importer.deliver`.

A delivery is a run of one message that needs no mailbox: the message goes through the same
:class:`~.run.MailboxRun` as a POP3 or IMAP run (the crash guard, the converter, the attachment
rules, the policy, the commit with its ledger row, the quarantine, the ``on_committed``
listener), keyed by its content digest (:func:`~mailtrack.intake._delivery.delivery_key`), so
that the same message delivered twice is imported once. Deliveries take no lease: an MTA runs
several at once, and the ledger keeps each message once whoever commits it. No run report is
saved for a delivery (one per message would bury the polls' reports); the
:class:`~mailtrack.intake.DeliveryReport` says what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import attrs

from ..config import MailInterface
from ..exceptions import InterfaceDisabledError, MessageRefusedError, StoreError
from ..intake._delivery import DeliveryOutcome, DeliveryReport, delivery_key
from ..models import CommitOutcome, ConnectionCheck, MessageInfo
from .outcome import Held, RunStopped, where_held
from .policy import check_sender_policy
from .run import MailboxRun
from .settings import Setup
from .tally import Tally, label

__all__ = ["deliver_message"]

logger = logging.getLogger("mailtrack")


def deliver_message(
    setup: Setup, interface: MailInterface, raw: bytes, *, recipient: str | None = None
) -> DeliveryReport:
    """Import *raw*, delivered to *interface*; see :meth:`mailtrack.Importer.deliver`.

    Raises:
        InterfaceDisabledError: the interface is disabled (nothing was read or written).
        ConfigError: the interface's sender policy needs a ``sender_authorizer``.
        MessageRefusedError: the store cannot hold this message, not even in the quarantine.
        StoreError: the store failed (nothing was imported; deliver again later).
    """
    if not interface.enabled:
        # Not imported and not dropped: the sender keeps the message and tries again.
        raise InterfaceDisabledError(interface.name)
    check_sender_policy(interface, setup.sender_authorizer)
    key = delivery_key(raw)
    tally = Tally(interface=interface.name, started_at=setup.clock())
    info = MessageInfo(number=1, uid=key, size=len(raw))
    try:
        held = where_held(setup.store, interface.name, key)
        if held is Held.LEDGER:
            return DeliveryReport(interface=interface.name, key=key, outcome=DeliveryOutcome.ALREADY_IMPORTED)
        if held is Held.QUARANTINE:
            return DeliveryReport(
                interface=interface.name,
                key=key,
                outcome=DeliveryOutcome.QUARANTINED,
                notes=("delivered before and quarantined then; it stays in the quarantine",),
            )
        run = MailboxRun.start(setup, interface, _Delivered(), tally, None, recipient=recipient)
        if len(raw) > interface.max_message_bytes:
            reason = (
                f"{len(raw)} bytes, more than max_message_bytes ({interface.max_message_bytes}): "
                "kept in the quarantine, not imported"
            )
            run.outcomes.quarantine(info, key, raw, reason)
        else:
            run.import_one(info, key, raw)
    except RunStopped as exc:
        cause = exc.__cause__
        raise StoreError(f"the record store failed, nothing was imported: {cause or exc}") from cause
    return _report(interface.name, info, key, tally, run)


def _report(name: str, info: MessageInfo, key: str, tally: Tally, run: MailboxRun) -> DeliveryReport:
    # The run's notes name the message ("message 1 (uid …)"); a delivery has only the one.
    prefix = label(info, key)
    notes = tuple(note.removeprefix(prefix).removeprefix(":").strip() for note in tally.notes)
    for note in notes:
        logger.info("delivery to interface %r: %s", name, note)
    result = run.outcomes.last_result
    if tally.quarantined:
        outcome = DeliveryOutcome.QUARANTINED
    elif result is None:
        # Neither committed nor quarantined: the store cannot hold it (the note says why).
        raise MessageRefusedError("; ".join(notes) or "the store could not hold the message")
    else:
        outcome = _OUTCOMES[result.outcome]
    return DeliveryReport(
        interface=name,
        key=key,
        outcome=outcome,
        record_id=result.record_id if result is not None else None,
        detail_id=result.detail_id if result is not None else None,
        notes=notes,
    )


_OUTCOMES = {
    CommitOutcome.CREATED: DeliveryOutcome.CREATED,
    CommitOutcome.APPENDED: DeliveryOutcome.UPDATED,
    CommitOutcome.SKIPPED: DeliveryOutcome.SKIPPED,
    CommitOutcome.DUPLICATE: DeliveryOutcome.ALREADY_IMPORTED,
    CommitOutcome.ALREADY_IMPORTED: DeliveryOutcome.ALREADY_IMPORTED,
}


@attrs.define
class _Delivered:
    """The mailbox side of a delivery: there is none (nothing to retrieve, delete or close)."""

    def open(self) -> Sequence[MessageInfo]:
        return []

    def retrieve_many(self, messages: Sequence[MessageInfo]) -> Iterator[tuple[MessageInfo, bytes]]:
        return iter(())

    def delete(self, message: MessageInfo) -> None:
        """Nothing to delete: the MTA forgets the message once ``deliver`` answered."""

    def close(self, *, commit: bool) -> None:
        """No session to end."""

    def check(self) -> ConnectionCheck:
        return ConnectionCheck(interface="", ok=True)
