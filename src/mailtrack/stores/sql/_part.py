"""What the parts of :class:`~mailtrack.stores.sql.SQLRecordStore` share: its engine, its
transaction runner and its clock.

The store is made of parts, one per area: the administrative ones (saved interfaces in
:mod:`._saved`, run reports in :mod:`._runs`, leases in :mod:`._leases`, OAuth 2.0 token caches
in :mod:`._tokens`) beside the import itself in :mod:`._store`. Each part subclasses
:class:`~mailtrack.abc.RecordStore`, so that its methods keep the contract's docstrings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from ...abc import RecordStore
from .._common import as_utc
from ._transactions import Transactions

__all__ = ["StorePart"]


class StorePart(RecordStore):
    """A part of :class:`~mailtrack.stores.sql.SQLRecordStore`, never used on its own."""

    _engine: Engine
    _clock: Callable[[], datetime]
    _db: Transactions

    def _now(self) -> datetime:
        return as_utc(self._clock())
