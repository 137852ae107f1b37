"""The record store contract as a pytest class: every store's tests subclass it.

The tests are split by area (commits, records, the quarantine with interfaces and runs, leases
with concurrency, optional capabilities), each a class of its own, composed into
:class:`RecordStoreContract`, so that a store's tests subclass one class.
"""

from __future__ import annotations

from typing import ClassVar

from ._capabilities import CapabilitiesContract
from ._commits import CommitContract
from ._history import HistoryContract
from ._keeping import KeepingContract
from ._leases import LeasesContract
from ._records import RecordsContract

__all__ = ["RecordStoreContract"]


class RecordStoreContract(
    CommitContract, RecordsContract, KeepingContract, LeasesContract, CapabilitiesContract, HistoryContract
):
    """The contract of :class:`mailtrack.abc.RecordStore`, as pytest tests to inherit.

    Subclass it in a ``test_*.py`` module under a name pytest collects, and provide a ``store``
    fixture that yields a fresh, empty store (closing it afterwards)::

        import pytest
        from mailtrack.testing import RecordStoreContract

        class TestMyStore(RecordStoreContract):
            @pytest.fixture
            def store(self, clock):
                store = MyStore(..., clock=clock)
                yield store
                store.close()

    Time: the contract's ``clock`` fixture is a :class:`~mailtrack.testing.ManualClock`. A store
    that takes a clock should be given it, so that timestamps and lease expiry are checked
    exactly and without sleeping. A store that reads the real time instead sets
    ``controls_time = False``; the time-dependent tests then sleep (about four seconds in all) and
    check order instead of exact values.

    Threads: the concurrency tests commit and take leases from several threads at once, with
    one store object shared between them. A store that may not be shared between threads sets
    ``supports_threads = False`` to skip them (and must then guard against concurrent
    processes by other means; the contract cannot check that).

    Timestamps the contract puts in have microseconds and non-UTC offsets; a store must give
    back the same instant, in UTC. Text includes characters outside the Basic Multilingual
    Plane, and attachments include every byte value and one of 1 MiB.
    """

    #: True when the store fixture passes the ``clock`` fixture to the store.
    controls_time: ClassVar[bool] = True
    #: False to skip the tests that share one store between threads.
    supports_threads: ClassVar[bool] = True
    #: Threads used by the concurrency tests.
    concurrency: ClassVar[int] = 8
