"""The lease on a mailbox: one worker imports from it at a time.

:func:`take_lease` takes the lease, or takes it over from a holder on this host that is no longer
running (see :mod:`.holders`); otherwise the run's report says who holds it and until when. The
:class:`Lease` is renewed while the run works, at a third of its length, and released at the end.
"""

from __future__ import annotations

import logging
import time

import attrs

from ..abc import RecordStore
from ..exceptions import StoreError
from .holders import describe_holder, holder_is_gone
from .outcome import LeaseLost, RunStopped
from .tally import Tally

__all__ = ["ANOTHER_WORKER", "Lease", "take_lease"]

logger = logging.getLogger("mailtrack")

ANOTHER_WORKER = "another worker is importing this mailbox"


@attrs.define
class Lease:
    """The lease on one interface, held by *owner* for runs of *seconds* without renewal."""

    store: RecordStore
    name: str
    owner: str
    seconds: float
    _renewed_at: float = attrs.field(init=False, factory=time.monotonic)

    def renew(self) -> None:
        """Renew the lease when a third of it has passed.

        Raises:
            LeaseLost: it expired, and another worker took it over.
            RunStopped: the store failed.
        """
        if time.monotonic() - self._renewed_at < self.seconds / 3:
            return
        try:
            held = self.store.acquire_lease(self.name, self.owner, self.seconds)
        except StoreError as exc:
            raise RunStopped(f"the record store failed while renewing the lease: {exc}") from exc
        if not held:
            raise LeaseLost(
                "the lease on this mailbox expired and another worker took it over; the run stopped"
            )
        self._renewed_at = time.monotonic()

    def release(self) -> None:
        """Give the lease up; if the store fails, it expires on its own after its seconds."""
        try:
            self.store.release_lease(self.name, self.owner)
        except StoreError:
            logger.warning("could not release the lease on interface %r", self.name, exc_info=True)


def take_lease(store: RecordStore, name: str, owner: str, seconds: float, tally: Tally) -> Lease | None:
    """The lease on interface *name*, or ``None`` when another worker holds it (the tally says
    who, and is marked busy).

    Raises:
        StoreError: the store failed.
    """
    if store.acquire_lease(name, owner, seconds):
        return Lease(store, name, owner, seconds)
    holder = store.lease_holder(name)
    if holder is None:
        # Released (or expired) just now: one more try.
        if store.acquire_lease(name, owner, seconds):
            return Lease(store, name, owner, seconds)
        tally.error = ANOTHER_WORKER
    elif holder.owner != owner and holder_is_gone(holder.owner):
        if store.take_over_lease(name, owner, seconds, holder.owner):
            message = f"took over the lease of {describe_holder(holder.owner)}, which is no longer running"
            logger.warning("interface %r: %s", name, message)
            tally.note(message)
            return Lease(store, name, owner, seconds)
        tally.error = ANOTHER_WORKER
    else:
        until = holder.expires_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        tally.error = f"{ANOTHER_WORKER} ({describe_holder(holder.owner)}, lease until {until})"
    tally.busy = True
    return None
