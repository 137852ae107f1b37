"""What a run needs besides its mailbox: the importer's parts and its throughput settings.

:class:`Throughput` groups the knobs that set how much an importer does at once (batches,
conversion workers, parallel runs), as :class:`~mailtrack.ParseLimits` groups the converter's
bounds; :class:`Setup` is what every run of one importer shares. The validators here check the
:class:`~mailtrack.Importer`'s keyword arguments of the same names.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from ..abc import FetcherFactory, Matcher, MessageConverter, RecordStore
from ..exceptions import ConfigError
from .events import CommitListener
from .policy import SenderAuthorizer
from .stopping import StopRequest
from .workers import automatic_workers, available_start_methods

__all__ = ["POOL_FROM", "Setup", "Throughput", "positive", "start_method", "whole_number"]

#: Mailboxes with fewer messages to import are converted in the importing thread (automatic
#: setting): handing a few messages to worker processes costs more than it saves.
POOL_FROM = 16


def positive(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: a number greater than 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{attribute.name}: must be a positive number, not {value!r}")


def whole_number(low: int, high: int) -> Callable[[object, attrs.Attribute[Any], object], None]:
    """Validator: a whole number from *low* to *high*."""

    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"{attribute.name}: must be a whole number from {low} to {high}, not {value!r}")

    return check


def start_method(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Validator: ``None`` or a start method of conversion workers this platform has."""
    available = available_start_methods()
    if value is not None and value not in available:
        choices = ", ".join(repr(method) for method in available)
        raise ConfigError(f"{attribute.name}: must be None or one of {choices}, not {value!r}")


@attrs.frozen(kw_only=True)
class Throughput:
    """How much an importer does at once (see :class:`~mailtrack.Importer` for each value)."""

    batch_size: int
    batch_wait: float
    conversion_workers: int | None
    conversion_start_method: str | None
    max_parallel_runs: int

    def workers_for(self, count: int, converter: MessageConverter, *, shared: bool = False) -> int:
        """Worker processes for converting *count* messages with *converter*, for one run or,
        *shared*, for several runs at once."""
        if self.conversion_workers is not None:
            return self.conversion_workers if count > 1 else 0
        from ..converting import MailParserConverter

        if count < POOL_FROM or type(converter) is not MailParserConverter:
            return 0
        return automatic_workers(shared=shared)


@attrs.frozen(kw_only=True)
class Setup:
    """What every run of one importer shares: its parts, settings and stop request."""

    store: RecordStore
    matcher: Matcher
    converter: MessageConverter
    fetcher_factory: FetcherFactory
    sender_authorizer: SenderAuthorizer | None
    clock: Callable[[], datetime]
    worker_id: str
    lease_seconds: float
    throughput: Throughput
    stop: StopRequest
    on_committed: CommitListener | None = None
    #: An archive import with ``history``: each message keeps its Date as its time, and its
    #: detail (and the record it opens) is marked as imported from history.
    history: bool = False
