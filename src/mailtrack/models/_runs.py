"""What a run sees and leaves behind: the mailbox listing, the quarantine, the lease on a mailbox,
the run's report and the connection check.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

__all__ = [
    "ConnectionCheck",
    "Lease",
    "MessageInfo",
    "QuarantinedMessage",
    "RunReport",
]


@attrs.frozen(kw_only=True)
class MessageInfo:
    """One entry of a mailbox listing."""

    #: Message number in this session (1-based, only valid in this session).
    number: int
    #: The server's unique ID (UIDL), or ``None`` when the server has no UIDL.
    uid: str | None
    #: Size in octets as the server reports it (LIST).
    size: int


@attrs.frozen(kw_only=True)
class QuarantinedMessage:
    """A message that could not be imported, kept with its raw bytes and the reason."""

    id: int
    interface: str
    uid: str
    raw: bytes = attrs.field(repr=False)
    error: str
    quarantined_at: datetime
    #: How many runs failed on it.
    attempts: int = 1


@attrs.frozen(kw_only=True)
class Lease:
    """Who holds the lease on a mailbox, and until when (:meth:`~mailtrack.abc.RecordStore.lease_holder`)."""

    interface: str
    #: The holder's worker ID (by default ``HOST:PID:…``).
    owner: str
    #: When the lease ends unless its holder renews it (UTC).
    expires_at: datetime


@attrs.frozen(kw_only=True)
class RunReport:
    """What one pass over one mailbox did: the statistics of its last run.

    Every message the server offered is counted in exactly one of :attr:`created`,
    :attr:`updated`, :attr:`skipped`, :attr:`already_imported`, :attr:`quarantined` and
    :attr:`left_on_server`; :attr:`offered` is their sum.
    """

    interface: str
    started_at: datetime
    finished_at: datetime
    #: Messages this run imported: ``created + updated + skipped`` (each now in the ledger).
    imported: int = 0
    #: New records opened.
    created: int = 0
    #: Follow-ups: details added to existing records.
    updated: int = 0
    #: Skipped by policy: machine mail dropped, or naming no record (in the ledger, no detail).
    skipped: int = 0
    #: Already imported: by an earlier run, another worker, or (the same Message-ID) another mailbox.
    already_imported: int = 0
    #: Quarantined by this run (the reasons are in :attr:`notes`).
    quarantined: int = 0
    #: Not imported and still on the server (for an archive import: still in the archive):
    #: larger than ``max_message_bytes``, too large for the store, quarantined by an earlier
    #: run, or not reached (the run failed or was stopped).
    left_on_server: int = 0
    #: ``None``, or the plain-words reason that stopped the run.
    error: str | None = None
    #: Counts per :class:`MessageClass` value of the messages handled.
    classes: Mapping[str, int] = attrs.field(factory=dict)
    #: Lines worth telling the admin (a message too large, a message quarantined …).
    notes: tuple[str, ...] = ()
    #: True when another worker held this mailbox's lease: nothing was done, ``error`` says so,
    #: and the report was not saved (the working worker saves its own).
    busy: bool = False
    #: True when the run ended early because :meth:`~mailtrack.Importer.stop` was called: what
    #: was converted is committed, the rest stays on the server. Not an error.
    stopped: bool = False

    @property
    def ok(self) -> bool:
        """True when the run was not stopped by an error."""
        return self.error is None

    def raise_for_error(self) -> None:
        """Raise :class:`~mailtrack.RunFailedError` when the run stopped on an error (``not ok``:
        an unset password variable, an unreachable server, a failing store, a mailbox another
        worker holds), so that a script fails loudly; do nothing otherwise.

        Example:
            >>> from datetime import datetime, timezone
            >>> now = datetime.now(timezone.utc)
            >>> RunReport(interface="support", started_at=now, finished_at=now).raise_for_error()
            >>> failed = RunReport(interface="support", started_at=now, finished_at=now, error="no route")
            >>> failed.raise_for_error()
            Traceback (most recent call last):
            ...
            mailtrack.exceptions.RunFailedError: interface 'support': no route
        """
        if self.error is not None:
            from ..exceptions import RunFailedError

            raise RunFailedError(self)

    @property
    def offered(self) -> int:
        """The messages the server listed: the sum of the six counts above."""
        return (
            self.created
            + self.updated
            + self.skipped
            + self.already_imported
            + self.quarantined
            + self.left_on_server
        )

    @property
    def failed(self) -> int:
        """The former name of :attr:`quarantined`, kept so that code using it still works."""
        return self.quarantined


@attrs.frozen(kw_only=True)
class ConnectionCheck:
    """Result of :meth:`~mailtrack.Importer.check`: the test of a mail interface's connection."""

    interface: str
    ok: bool
    #: Plain-words reason when ``ok`` is False.
    error: str | None = None
    #: Messages waiting (STAT), when the login worked.
    message_count: int | None = None
    mailbox_bytes: int | None = None
    #: Capability names the server announced (CAPA), upper case.
    capabilities: tuple[str, ...] = ()
    #: The value of the EXPIRE capability ("0", "NEVER", a number of days) or ``None``.
    expire: str | None = None
    #: TLS version in use (``None`` on a plain connection).
    tls_version: str | None = None
    warnings: tuple[str, ...] = ()
    #: OAuth 2.0 only: the account the access token belongs to, when known.
    account: str | None = None
    #: OAuth 2.0 only: when the access token that signed in expires (refresh tokens have no known expiry).
    token_expires_at: datetime | None = None

    @property
    def uidl(self) -> bool:
        return "UIDL" in self.capabilities

    @property
    def pipelining(self) -> bool:
        return "PIPELINING" in self.capabilities

    @property
    def stls(self) -> bool:
        return "STLS" in self.capabilities
