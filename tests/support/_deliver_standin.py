"""A stand-in for ``Importer.deliver`` (#12, built in parallel) with the agreed signature, made of
the importer's own pieces (converter, policy, ``commit_or_open``) over a real store: the ledger key
is the content digest, so the same bytes delivered twice import once, as #12's does.

Remove it when #12's ``Importer.deliver`` is on main; the inbound tests then use the real one.
"""

from __future__ import annotations

import enum

import attrs

from mailtrack import Importer, MailInterface
from mailtrack._digest import content_digest
from mailtrack._importing.batch import commit_or_open
from mailtrack._importing.outcome import conversion_failure
from mailtrack._importing.policy import Policy, Quarantine
from mailtrack.models import CommitOutcome, ContentDigest

__all__ = ["DeliveringImporter", "DeliveryOutcome", "DeliveryReport"]


class DeliveryOutcome(str, enum.Enum):
    CREATED = "created"
    UPDATED = "updated"
    SKIPPED = "skipped"
    ALREADY_IMPORTED = "already_imported"
    QUARANTINED = "quarantined"


@attrs.frozen(kw_only=True)
class DeliveryReport:
    interface: str
    key: str
    outcome: DeliveryOutcome
    record_id: int | None = None
    detail_id: int | None = None


_OUTCOMES = {
    CommitOutcome.CREATED: DeliveryOutcome.CREATED,
    CommitOutcome.APPENDED: DeliveryOutcome.UPDATED,
    CommitOutcome.SKIPPED: DeliveryOutcome.SKIPPED,
    CommitOutcome.DUPLICATE: DeliveryOutcome.ALREADY_IMPORTED,
    CommitOutcome.ALREADY_IMPORTED: DeliveryOutcome.ALREADY_IMPORTED,
}


@attrs.define(kw_only=True)
class DeliveringImporter(Importer):
    """An :class:`~mailtrack.Importer` with ``deliver(interface, raw, *, recipient=None)``."""

    def deliver(
        self, interface: MailInterface, raw: bytes, *, recipient: str | None = None
    ) -> DeliveryReport:
        digest = content_digest(raw)
        try:
            message = self.converter.convert(raw, received_at=self.clock())
        except Exception as exc:
            self.store.quarantine(interface.name, digest, raw, conversion_failure(exc))
            return DeliveryReport(interface=interface.name, key=digest, outcome=DeliveryOutcome.QUARANTINED)
        policy = Policy(
            interface=interface,
            store=self.store,
            matcher=self.matcher,
            sender_authorizer=self.sender_authorizer,
        )
        decision = policy.decision(message)
        if isinstance(decision.outcome, Quarantine):
            self.store.quarantine(interface.name, digest, raw, decision.outcome.reason)
            return DeliveryReport(interface=interface.name, key=digest, outcome=DeliveryOutcome.QUARANTINED)
        action = attrs.evolve(decision.outcome, digest=ContentDigest(sha256=digest))
        result, _note = commit_or_open(self.store, policy, interface.name, digest, action)
        return DeliveryReport(
            interface=interface.name,
            key=digest,
            outcome=_OUTCOMES[result.outcome],
            record_id=result.record_id,
            detail_id=result.detail_id,
        )
