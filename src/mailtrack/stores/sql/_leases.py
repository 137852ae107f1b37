"""The SQL store's leases (``mailtrack_leases``): one worker per mailbox at a time."""

from __future__ import annotations

import sqlalchemy as sa

from ...models import Lease
from . import _reads as reads
from . import _schema as tables
from ._part import StorePart
from ._rows import key
from ._transactions import LostRace
from ._writes import acquire_lease, take_over_lease

__all__ = ["Leases"]


class Leases(StorePart):
    """The store's part that hands out leases on mailboxes."""

    def acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        """Take (or renew, for the same *owner*) the lease on interface *name* for *seconds*.

        Atomic across processes: the lease row is read with ``SELECT … FOR UPDATE SKIP LOCKED``
        where the database has it (PostgreSQL, MariaDB 10.6+), so a worker never waits behind
        another worker that is taking the same lease (it gets False at once); SQLite takes its
        write lock first. A missing row is inserted, and the unique key decides a race.

        Returns:
            False when another owner holds an unexpired lease.
        """
        _check_seconds(seconds)
        skip_locked = self._db.dialect.skip_locked(self._engine)
        try:
            return self._db.once(
                f"take the lease on {name!r}",
                lambda conn: acquire_lease(conn, name, owner, seconds, self._now(), skip_locked=skip_locked),
            )
        except LostRace:
            return False  # a concurrent worker inserted the lease row first: it holds the lease

    def release_lease(self, name: str, owner: str) -> None:
        leases = tables.leases
        condition = sa.and_(leases.c.name == key(name), leases.c.owner == key(owner))
        self._db.delete(f"release the lease on {name!r}", leases, condition)

    def lease_holder(self, name: str) -> Lease | None:
        with self._db.reading(f"read the lease on {name!r}") as conn:
            return reads.lease_holder(conn, name, self._now())

    def take_over_lease(self, name: str, owner: str, seconds: float, previous_owner: str) -> bool:
        """Give the lease to *owner* if *previous_owner* still holds it: one conditional UPDATE,
        so that of two workers taking over the same lease one wins."""
        _check_seconds(seconds)
        return self._db.run(
            f"take over the lease on {name!r}",
            lambda conn: take_over_lease(conn, name, owner, seconds, previous_owner, self._now()),
        )


def _check_seconds(seconds: float) -> None:
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, not {seconds!r}")
