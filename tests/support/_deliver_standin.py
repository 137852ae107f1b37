"""A stand-in for ``Importer.deliver`` (#12, built in parallel) with the agreed signature, made of
the importer's own pieces (converter, policy, ``commit_or_open``) over a real store: the ledger key
is the content digest, so the same bytes delivered twice import once, as #12's does.

:func:`delivering_importer` makes the real :class:`~mailtrack.Importer` as soon as it has
``deliver``; the stand-in only while it has not. Remove this module once #12 is on main.
"""

from __future__ import annotations

import enum
from typing import Any, cast

import attrs

from mailtrack import Importer, MailInterface
from mailtrack._digest import content_digest
from mailtrack._importing.batch import commit_or_open
from mailtrack._importing.outcome import conversion_failure
from mailtrack._importing.policy import Policy, Quarantine
from mailtrack.models import CommitOutcome, ContentDigest
from mailtrack.web.inbound import Deliverer

__all__ = ["DeliveringImporter", "DeliveryOutcome", "DeliveryReport", "delivering_importer"]


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


class DeliveringImporter:
    """An :class:`~mailtrack.Importer` (made of *settings*) with ``deliver(interface, raw, *,
    recipient=None)``; not a subclass, so that it never clashes with the real ``deliver``."""

    def __init__(self, **settings: Any) -> None:
        self.importer = Importer(**settings)

    def deliver(
        self, interface: MailInterface, raw: bytes, *, recipient: str | None = None
    ) -> DeliveryReport:
        importer = self.importer
        store = importer.store
        digest = content_digest(raw)
        try:
            message = importer.converter.convert(raw, received_at=importer.clock())
        except Exception as exc:
            store.quarantine(interface.name, digest, raw, conversion_failure(exc))
            return DeliveryReport(interface=interface.name, key=digest, outcome=DeliveryOutcome.QUARANTINED)
        policy = Policy(
            interface=interface,
            store=store,
            matcher=importer.matcher,
            sender_authorizer=importer.sender_authorizer,
        )
        decision = policy.decision(message)
        if isinstance(decision.outcome, Quarantine):
            store.quarantine(interface.name, digest, raw, decision.outcome.reason)
            return DeliveryReport(interface=interface.name, key=digest, outcome=DeliveryOutcome.QUARANTINED)
        action = attrs.evolve(decision.outcome, digest=ContentDigest(sha256=digest))
        result, _note = commit_or_open(store, policy, interface.name, digest, action)
        return DeliveryReport(
            interface=interface.name,
            key=digest,
            outcome=_OUTCOMES[result.outcome],
            record_id=result.record_id,
            detail_id=result.detail_id,
        )


def delivering_importer(**settings: Any) -> Deliverer:
    """``Importer(**settings)``: the real one when it has ``deliver`` (#12), else the stand-in."""
    kind: Any = Importer if hasattr(Importer, "deliver") else DeliveringImporter
    return cast(Deliverer, kind(**settings))
