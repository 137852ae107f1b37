"""The import service: one pass over one mailbox, exactly once, nothing lost.

:class:`Importer` ties the seams together: a :class:`~mailtrack.abc.Fetcher` lists and retrieves
the messages, a :class:`~mailtrack.abc.MessageConverter` parses them, a
:class:`~mailtrack.abc.Matcher` finds the record a subject names, the policy decides, and the
:class:`~mailtrack.abc.RecordStore` commits each message together with its ledger row. A message
is deleted on the server only after the store committed it, and deletions become final only at
the end of the session.

Retrieval, conversion and storage overlap: the fetcher pipelines its requests, conversion runs in
worker processes where that pays (:mod:`mailtrack._importing.workers`), with a bounded number of
messages in flight, and messages are committed in batches (``batch_size``), each batch in one
transaction, its deletions marked only after that commit. :meth:`Importer.run_all` runs several
mailboxes at once. :meth:`Importer.stop` ends the runs in progress after the message in hand.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs

from ._importing.conversions import Conversions, Ticket, start_pool
from ._importing.holders import default_worker_id, describe_holder, holder_is_gone
from ._importing.stopping import StopRequest
from ._importing.threads import Prefetch, map_bounded
from ._importing.workers import WorkerPool, automatic_workers, available_start_methods
from ._policy import (
    Decision,
    Quarantine,
    SenderAuthorizer,
    check_sender_policy,
    class_action,
    decide,
    new_record,
)
from .abc import Fetcher, FetcherFactory, Matcher, MessageConverter, RecordStore
from .classifying import classify
from .config import ClassAction, MailInterface
from .exceptions import (
    ConfigError,
    FetchError,
    MailtrackError,
    MessageRefusedError,
    ParseError,
    RecordNotFoundError,
    StoreError,
)
from .matching import SubjectIdMatcher
from .models import (
    AppendToRecord,
    CommitOutcome,
    CommitResult,
    ConnectionCheck,
    CreateRecord,
    ImportAction,
    IncomingMessage,
    MessageClass,
    MessageInfo,
    RunReport,
    SkipMessage,
)

__all__ = ["Importer", "SenderAuthorizer"]

logger = logging.getLogger("mailtrack")

#: Notes kept per run report; a mailbox full of oversized mail should not make a huge report.
MAX_NOTES = 100
ANOTHER_WORKER = "another worker is importing this mailbox"
UNCONFIRMED_DELETIONS = "the server did not confirm the deletions; they will be retried next run"
_LEDGER = "ledger"
_QUARANTINE = "quarantine"


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _default_store() -> RecordStore:
    from .stores import MemoryRecordStore

    return MemoryRecordStore()


def _default_converter() -> MessageConverter:
    from .converting import MailParserConverter

    return MailParserConverter()


def _default_fetcher_factory() -> FetcherFactory:
    # Imported here so that using the importer with another fetcher never loads poplib and ssl.
    from .fetching.pop3 import POP3Fetcher

    return POP3Fetcher


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{attribute.name}: must be a positive number, not {value!r}")


def _count_from(low: int, high: int) -> Callable[[object, attrs.Attribute[Any], object], None]:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is None and attribute.name == "conversion_workers":
            return
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(f"{attribute.name}: must be a whole number from {low} to {high}, not {value!r}")

    return check


def _start_method(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    available = available_start_methods()
    if value is not None and value not in available:
        choices = ", ".join(repr(method) for method in available)
        raise ConfigError(f"{attribute.name}: must be None or one of {choices}, not {value!r}")


#: Mailboxes with fewer messages to import are converted in the importing thread (automatic
#: setting): handing a few messages to worker processes costs more than it saves.
POOL_FROM = 16
#: Most raw bytes of one batch: a batch of large messages is committed before it has batch_size.
BATCH_BYTES = 32 * 1024 * 1024
#: Most raw bytes handed to conversion workers and not yet taken back.
IN_FLIGHT_BYTES = 32 * 1024 * 1024
#: From this many messages to retrieve on, a thread retrieves ahead of the conversion and the
#: store (at most PREFETCH_MESSAGES / PREFETCH_BYTES ahead), so the network never waits for them.
PREFETCH_FROM = 16
PREFETCH_MESSAGES = 64
PREFETCH_BYTES = 16 * 1024 * 1024


@attrs.define
class _InFlight:
    """A retrieved message whose conversion has started."""

    info: MessageInfo
    key: str
    raw: bytes
    ticket: Ticket


@attrs.define
class _Pending:
    """A converted and decided message waiting for the commit of its batch."""

    info: MessageInfo
    key: str
    raw: bytes
    action: ImportAction


@attrs.define
class _Flow:
    """The messages of one run between retrieval and the store: in conversion, then in a batch."""

    fetcher: Fetcher
    interface: MailInterface
    tally: _Tally
    conversions: Conversions
    in_flight: collections.deque[_InFlight] = attrs.Factory(collections.deque)
    in_flight_bytes: int = 0
    batch: list[_Pending] = attrs.Factory(list)
    batch_bytes: int = 0
    #: time.monotonic() when the first message of the batch was added.
    batch_started: float = 0.0


class _Stop(Exception):
    """The run cannot go on (the store failed, the lease was lost); committed work stays valid."""


class _LeaseLost(_Stop):
    """Another worker took the mailbox over; the store still works."""


@attrs.define
class _Tally:
    """The counters of one run, turned into a :class:`RunReport` at the end."""

    interface: str
    started_at: datetime
    imported: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    error: str | None = None
    busy: bool = False
    stopped: bool = False
    classes: dict[str, int] = attrs.Factory(dict)
    notes: list[str] = attrs.Factory(list)
    notes_left_out: int = 0

    def note(self, text: str) -> None:
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)
        else:
            self.notes_left_out += 1

    def count_class(self, message_class: MessageClass) -> None:
        self.classes[message_class.value] = self.classes.get(message_class.value, 0) + 1

    def report(self, finished_at: datetime) -> RunReport:
        notes = list(self.notes)
        if self.notes_left_out:
            notes.append(f"… and {self.notes_left_out} more notes left out")
        return RunReport(
            interface=self.interface,
            started_at=self.started_at,
            finished_at=finished_at,
            imported=self.imported,
            created=self.created,
            updated=self.updated,
            skipped=self.skipped,
            failed=self.failed,
            error=self.error,
            classes=dict(self.classes),
            notes=tuple(notes),
            busy=self.busy,
            stopped=self.stopped,
        )


@attrs.define
class _Lease:
    """The lease on one interface, renewed while the run works (at a third of its length)."""

    store: RecordStore
    name: str
    owner: str
    seconds: float
    _renewed_at: float = attrs.field(init=False, factory=time.monotonic)

    def renew(self) -> None:
        if time.monotonic() - self._renewed_at < self.seconds / 3:
            return
        try:
            held = self.store.acquire_lease(self.name, self.owner, self.seconds)
        except StoreError as exc:
            raise _Stop(f"the record store failed while renewing the lease: {exc}") from exc
        if not held:
            raise _LeaseLost(
                "the lease on this mailbox expired and another worker took it over; the run stopped"
            )
        self._renewed_at = time.monotonic()


@attrs.define(kw_only=True)
class Importer:
    """Imports the messages of mail interfaces into a record store.

    Every part is replaceable; the defaults make a working importer that keeps its records in
    memory and fetches with POP3.

    Args:
        store: where records, the ledger, the quarantine and run reports live.
        matcher: finds the record ID a subject names.
        converter: turns raw bytes into an :class:`~mailtrack.IncomingMessage`.
        fetcher_factory: makes a :class:`~mailtrack.abc.Fetcher` for an interface
            (``POP3Fetcher`` by default; :class:`mailtrack.testing.FakeMailbox` for tests).
        sender_authorizer: decides, for ``SenderPolicy.CALLBACK``, whether a message's sender
            may add to an existing record: ``sender_authorizer(record, message) -> bool``.
        clock: returns the current time (timezone-aware); for the report and ``received_at``.
        worker_id: this importer's name in the per-interface lease. The default names the host,
            the process and (on Linux) what tells this process from a later one with the same
            pid, so that a worker on the same host can take over the lease of one that died
            (killed, crashed) at once instead of waiting for it to expire.
        lease_seconds: how long the lease lasts without renewal (the last resort for a dead
            worker's lease: one on another host, or with a worker ID of your own, expires).
        batch_size: messages committed together, in one store transaction
            (:meth:`~mailtrack.abc.RecordStore.commit_many`); their deletions on the server are
            marked only after that commit. A batch the store refuses is committed again one
            message at a time, so that one bad message is quarantined alone. After a crash, at
            most the uncommitted batch is imported again by the next run (exactly once still).
            A message whose decision could depend on the batch (it names a record a message of
            the batch adds to; machine mail, which follows its thread) waits for the batch's
            commit, so that batching never changes what becomes of a message. 1 commits every
            message on its own (slower: a transaction and, with SQLite, a disk sync each).
        batch_wait: most seconds a converted message waits for its batch to fill up. It is
            checked when a message arrives, so a server that is slow to send the next message
            stretches it by that one transfer (at most the interface's ``timeout``).
        conversion_workers: processes that convert messages while the importer retrieves and
            stores. ``None`` (the default) decides for each run: on Linux with two CPUs or
            more, the default converter and at least 16 messages to import, one process per CPU
            (at most four); otherwise none. ``0`` converts in the importing thread. A converter
            of your own runs in worker processes only when you ask for them; unless the workers
            are forked it must be picklable and defined in a module (not in the main script,
            which workers never import); otherwise it is used in the importing thread, with a
            warning in the log. Workers die with the importer's process however it ends, and
            never write to its stdout or stderr.
        conversion_start_method: how the worker processes start: ``"fork"``,
            ``"forkserver"`` or ``"spawn"`` (where the platform has it). ``None`` (the default)
            chooses when they start: on Linux ``fork`` while the process runs a single thread
            (the fastest start), else ``forkserver`` (mailtrack's own fork server, started once
            per process), since a fork beside other threads can leave the worker stuck on a
            lock another thread held at that moment; ``spawn`` elsewhere. None of them imports
            the host's main module: a script needs no ``if __name__ == "__main__":`` guard.
        max_parallel_runs: mailboxes :meth:`run_all` polls at once (threads; 16 by default:
            they mostly wait on the network, and on a 2-core machine 200 mailboxes at 50 ms
            went 1.2-1.3x faster than with 8, while 32 and 64 gained nothing more). The store
            must be safe to use from several threads, as the built-in stores are; 1 polls them
            one after the other. Each run holds one store connection at a time, so no more
            runs go at once than the store has connections (``max_connections`` of a store
            that has it: 64 for :class:`~mailtrack.stores.SQLRecordStore`'s own engine).

    Example:
        >>> from mailtrack.testing import FakeMailbox, build_message
        >>> mailbox = FakeMailbox([build_message(subject="Printer on fire")])
        >>> importer = Importer(fetcher_factory=mailbox.fetcher)
        >>> interface = MailInterface(name="support", server="pop.example.com", login="support")
        >>> report = importer.run(interface)
        >>> (report.created, report.error, len(mailbox))
        (1, None, 0)
    """

    store: RecordStore = attrs.field(factory=_default_store)
    matcher: Matcher = attrs.field(factory=SubjectIdMatcher)
    converter: MessageConverter = attrs.field(factory=_default_converter)
    fetcher_factory: FetcherFactory = attrs.field(factory=_default_fetcher_factory)
    sender_authorizer: SenderAuthorizer | None = None
    clock: Callable[[], datetime] = _utcnow
    worker_id: str = attrs.field(factory=default_worker_id)
    lease_seconds: float = attrs.field(default=300.0, validator=_positive)
    batch_size: int = attrs.field(default=100, validator=_count_from(1, 10_000))
    batch_wait: float = attrs.field(default=2.0, validator=_positive)
    conversion_workers: int | None = attrs.field(default=None, validator=_count_from(0, 64))
    conversion_start_method: str | None = attrs.field(default=None, validator=_start_method)
    max_parallel_runs: int = attrs.field(default=16, validator=_count_from(1, 1024))
    _stop: StopRequest = attrs.field(init=False, factory=StopRequest, repr=False, eq=False)

    # -- public API ------------------------------------------------------------------------------

    def run(self, interface: MailInterface) -> RunReport:
        """Import the new messages of one mailbox; return (and save) what happened.

        Never raises for a failed connection, a broken message or a failing store: the
        report's ``error`` says what stopped the run, its ``notes`` what else is worth knowing.
        When another worker holds the mailbox's lease, nothing is done: the report says so
        (``busy``, with the holder in ``error``) and is not saved, so that ``last_run`` stays
        the working worker's. After :meth:`stop`, the run ends after the message in hand
        (``stopped``). Only ``KeyboardInterrupt`` and ``SystemExit`` pass through, after the
        session was dropped without committing deletions, the worker processes were stopped
        and the report was saved.
        """
        return self._run_one(interface, None)

    def run_all(self, interfaces: Iterable[MailInterface] | None = None) -> list[RunReport]:
        """Run every enabled interface; one's failure or slowness never holds up the others.

        Up to :attr:`max_parallel_runs` mailboxes are polled at once, each in a thread of its
        own, sharing the conversion worker processes. The reports come in the order of the
        interfaces. Ctrl-C in the calling thread stops the importer (:meth:`stop`): the runs
        under way end after their message in hand, and ``KeyboardInterrupt`` is raised again.

        Args:
            interfaces: the interfaces to run; ``None`` means those saved in the store.
                Disabled interfaces are skipped either way.

        Raises:
            StoreError: the saved interfaces could not be listed.
        """
        chosen = self.store.list_interfaces() if interfaces is None else list(interfaces)
        chosen = [interface for interface in chosen if interface.enabled]
        parallel = min(self.max_parallel_runs, len(chosen))
        # Each run holds one store connection at a time: no more runs than the store can serve.
        limit = getattr(self.store, "max_connections", None)
        if isinstance(limit, int) and 0 < limit < parallel:
            logger.info("polling %d mailboxes at once, as many as the store has connections", limit)
            parallel = limit
        workers = self._conversion_workers(POOL_FROM) if parallel > 1 and not self._stop.is_set() else 0
        # Started before the run threads, so that the workers fork from a quiet process.
        pool = start_pool(self.converter, workers, self.conversion_start_method)
        interrupted = True
        try:
            reports = map_bounded(
                lambda interface: self._run_one(interface, pool),
                chosen,
                workers=parallel,
                name="mailtrack-run",
                # Ctrl-C reaches this thread only: the runs in the others stop after their message.
                on_interrupt=self._stop.set,
            )
            interrupted = False
            return reports
        finally:
            if pool is not None:
                pool.close(now=interrupted)

    def stop(self) -> None:
        """Ask the runs of this importer to stop after the message in hand.

        Safe to call from a signal handler and from any thread. What was converted is
        committed, deletions of committed messages are confirmed, the lease is released, the
        worker processes stop; the rest stays on the server for the next run. The reports say
        ``stopped``. Runs and watches started afterwards stop at once: an importer that was
        asked to stop stays stopped (make a new one to start again).

        Example (a script stopped by ``kill``, systemd, Celery or a container runtime)::

            importer = Importer(store=store)
            signal.signal(signal.SIGTERM, lambda signum, frame: importer.stop())
            importer.run_all(interfaces)
        """
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    def check(self, interface: MailInterface) -> ConnectionCheck:
        """Test the connection (the wizard's "Next"): log in, look at the mailbox, log out.

        Never raises for connection problems: they are in the result's ``error``.
        """
        try:
            return self.fetcher_factory(interface).check()
        except Exception as exc:
            logger.exception("checking interface %r failed unexpectedly", interface.name)
            return ConnectionCheck(
                interface=interface.name,
                ok=False,
                error=f"the connection check failed unexpectedly ({type(exc).__name__}: {exc})",
            )

    def retry_quarantined(
        self, quarantine_id: int, *, interface: MailInterface | None = None
    ) -> CommitResult:
        """Import a quarantined message again (after a fix, or when a human says it is fine).

        The raw bytes are converted again and committed under the quarantined
        ``(interface, uid)``, then the message leaves the quarantine. The policy is not allowed
        to quarantine it a second time: machine mail whose class action is ``QUARANTINE`` is
        treated as ``NORMAL``, and a sender refused by the sender policy opens a new record.

        Args:
            quarantine_id: the quarantined message's ID.
            interface: the interface whose project, defaults and policy apply; by default the
                one saved in the store under the quarantined message's interface name.

        Raises:
            QuarantineNotFoundError: no quarantined message has that ID.
            InterfaceNotFoundError: *interface* was not given and none is saved under that name.
            ConfigError: the interface's sender policy needs a ``sender_authorizer``.
            ParseError: the message still cannot be converted (its quarantine error is updated).
            MailtrackError: the ``sender_authorizer`` failed (its quarantine error is updated).
            StoreError: the store failed.
        """
        quarantined = self.store.get_quarantined(quarantine_id)
        if interface is None:
            interface = self.store.get_interface(quarantined.interface)
        check_sender_policy(interface, self.sender_authorizer)
        try:
            message = self.converter.convert(quarantined.raw, received_at=self.clock())
        except Exception as exc:
            reason = _conversion_failure(exc)
            self.store.quarantine(quarantined.interface, quarantined.uid, quarantined.raw, reason)
            raise ParseError(reason) from exc
        decision = decide(
            message,
            classify(message, interface.policy),
            interface=interface,
            store=self.store,
            matcher=self.matcher,
            sender_authorizer=self.sender_authorizer,
            retry=True,
        )
        if isinstance(decision.outcome, Quarantine):
            reason = decision.outcome.reason
            self.store.quarantine(quarantined.interface, quarantined.uid, quarantined.raw, reason)
            raise MailtrackError(reason)
        result = self._commit(quarantined.interface, quarantined.uid, decision.outcome, interface, [])
        self.store.release_quarantined(quarantine_id)
        return result

    # -- one run ---------------------------------------------------------------------------------

    def _run_one(self, interface: MailInterface, pool: WorkerPool | None) -> RunReport:
        """:meth:`run`, converting on *pool* (shared by :meth:`run_all`) when it is given."""
        tally = _Tally(interface=interface.name, started_at=self.clock())
        if self._stop.is_set():
            tally.stopped = True
            tally.note("not started: the importer was asked to stop")
            return tally.report(self.clock())
        try:
            self._run(interface, tally, pool)
        except (KeyboardInterrupt, SystemExit):
            tally.error = "the run was interrupted; messages not yet imported stay on the server"
            self._save(tally.report(self.clock()))
            raise
        except Exception as exc:
            logger.exception("unexpected error while importing from interface %r", interface.name)
            tally.error = f"unexpected error while importing ({type(exc).__name__}: {exc}); see the log"
        report = tally.report(self.clock())
        if report.busy:
            # The worker holding the lease saves the report that counts; this one did nothing.
            logger.info("interface %r: %s; skipped", report.interface, report.error)
            return report
        report = self._save(report)
        logger.info(
            "interface %r: %d imported (%d created, %d updated), %d skipped, %d failed%s%s",
            report.interface,
            report.imported,
            report.created,
            report.updated,
            report.skipped,
            report.failed,
            f"; error: {report.error}" if report.error else "",
            "; stopped on request" if report.stopped else "",
        )
        return report

    def _take_lease(self, interface: MailInterface, tally: _Tally) -> bool:
        """Take the mailbox's lease, or take it over from a holder on this host that is no
        longer running; otherwise the report says who holds it and until when."""
        name = interface.name
        if self.store.acquire_lease(name, self.worker_id, self.lease_seconds):
            return True
        holder = self.store.lease_holder(name)
        if holder is None:
            # Released (or expired) just now: one more try.
            if self.store.acquire_lease(name, self.worker_id, self.lease_seconds):
                return True
            tally.error = ANOTHER_WORKER
        elif holder.owner != self.worker_id and holder_is_gone(holder.owner):
            if self.store.take_over_lease(name, self.worker_id, self.lease_seconds, holder.owner):
                message = (
                    f"took over the lease of {describe_holder(holder.owner)}, which is no longer running"
                )
                logger.warning("interface %r: %s", name, message)
                tally.note(message)
                return True
            tally.error = ANOTHER_WORKER
        else:
            until = holder.expires_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            tally.error = f"{ANOTHER_WORKER} ({describe_holder(holder.owner)}, lease until {until})"
        tally.busy = True
        return False

    def _run(self, interface: MailInterface, tally: _Tally, pool: WorkerPool | None) -> None:
        try:
            check_sender_policy(interface, self.sender_authorizer)
        except ConfigError as exc:
            tally.error = str(exc)
            return
        try:
            if not self._take_lease(interface, tally):
                return
        except StoreError as exc:
            tally.error = f"the record store failed, nothing was imported: {exc}"
            return
        try:
            self._session(
                interface, tally, _Lease(self.store, interface.name, self.worker_id, self.lease_seconds), pool
            )
        finally:
            try:
                self.store.release_lease(interface.name, self.worker_id)
            except StoreError:
                # It expires on its own after lease_seconds.
                logger.warning("could not release the lease on interface %r", interface.name, exc_info=True)

    def _session(
        self, interface: MailInterface, tally: _Tally, lease: _Lease, pool: WorkerPool | None
    ) -> None:
        fetcher: Fetcher | None = None
        try:
            fetcher = self.fetcher_factory(interface)
            listing = fetcher.open()
        except (FetchError, ConfigError) as exc:
            tally.error = str(exc)
            if fetcher is not None:
                _abandon(fetcher)
            return
        except BaseException:
            if fetcher is not None:
                _abandon(fetcher)
            raise
        try:
            self._import_listing(fetcher, interface, listing, tally, lease, pool)
        except FetchError as exc:
            _abandon(fetcher)
            tally.error = (
                f"the connection to the mail server failed during the import: {exc}; "
                "messages not yet imported stay on the server for the next run"
            )
            return
        except _Stop as stop:
            tally.error = str(stop)
        except BaseException:
            _abandon(fetcher)
            raise
        # Only messages the store committed were marked for deletion, so QUIT is safe even
        # after the store failed.
        try:
            fetcher.close(commit=True)
        except Exception as exc:
            if not isinstance(exc, FetchError):
                logger.exception("closing the session of interface %r failed", interface.name)
            if tally.error is None:
                tally.error = UNCONFIRMED_DELETIONS
            else:
                tally.note(UNCONFIRMED_DELETIONS)

    def _import_listing(
        self,
        fetcher: Fetcher,
        interface: MailInterface,
        listing: Sequence[MessageInfo],
        tally: _Tally,
        lease: _Lease,
        pool: WorkerPool | None,
    ) -> None:
        name = interface.name
        try:
            known = [info.uid for info in listing if info.uid is not None]
            imported = self.store.imported_uids(name, known) if known else set()
        except StoreError as exc:
            raise _Stop(f"the record store failed, nothing was imported: {exc}") from exc
        wanted: list[MessageInfo] = []
        # Numbers of listed messages whose UID the store knows, to be looked at again (see _recheck).
        recheck: dict[int, str] = {}
        for info in listing:
            if info.uid is not None:
                place = self._known(name, info.uid, imported)
                if place is not None:
                    if not _goes_from_server(interface, place):
                        tally.skipped += 1  # left on the server by leave_copy or the quarantine policy
                        continue
                    recheck[info.number] = place
            if info.size > interface.max_message_bytes:
                tally.skipped += 1
                tally.note(
                    f"{_label(info, info.uid)} is {info.size} bytes, more than max_message_bytes "
                    f"({interface.max_message_bytes}): not imported, left on the server"
                )
                continue
            wanted.append(info)
        if pool is not None:
            conversions = Conversions(self.converter, pool, owns_pool=False)
        else:
            # Now, before the thread that retrieves ahead: how they start suits the process as it is.
            workers = 0 if self._stop.is_set() else self._conversion_workers(len(wanted))
            own = start_pool(self.converter, workers, self.conversion_start_method)
            conversions = Conversions(self.converter, own, owns_pool=True)
        flow = _Flow(fetcher=fetcher, interface=interface, tally=tally, conversions=conversions)
        interrupted = True
        try:
            self._stream(flow, wanted, recheck, lease)
            interrupted = False
        finally:
            conversions.close(now=interrupted)

    def _conversion_workers(self, count: int) -> int:
        """Worker processes for converting *count* messages (see :attr:`conversion_workers`)."""
        if self.conversion_workers is not None:
            return self.conversion_workers if count > 1 else 0
        from .converting import MailParserConverter

        if count < POOL_FROM or type(self.converter) is not MailParserConverter:
            return 0
        return automatic_workers()

    def _stream(self, flow: _Flow, wanted: list[MessageInfo], recheck: dict[int, str], lease: _Lease) -> None:
        """Retrieve, convert, decide and commit, the stages overlapping within bounds."""
        retrieved: Iterator[tuple[MessageInfo, bytes]] = flow.fetcher.retrieve_many(wanted)
        if len(wanted) >= PREFETCH_FROM and getattr(flow.fetcher, "marks_deletions_locally", False) is True:
            # The fetcher says its delete() touches no connection (POP3Fetcher sends the DELEs
            # at close), so deletions may be marked here while that thread retrieves.
            retrieved = Prefetch(
                retrieved,
                size=lambda item: len(item[1]),
                max_items=PREFETCH_MESSAGES,
                max_bytes=PREFETCH_BYTES,
                name=f"mailtrack-retrieve-{flow.interface.name}",
            )
        try:
            self._consume(flow, retrieved, recheck, lease)
        except (KeyboardInterrupt, SystemExit):
            # Drop the connection first, so that a thread waiting for a stalled server stops now.
            _abandon(flow.fetcher)
            raise
        finally:
            # Before the session ends: a pipelining fetcher reads the replies still on their way
            # (the connection stays in step for the DELEs), and the prefetching thread stops.
            close = getattr(retrieved, "close", None)
            if close is not None:
                close()

    def _consume(
        self,
        flow: _Flow,
        retrieved: Iterator[tuple[MessageInfo, bytes]],
        recheck: dict[int, str],
        lease: _Lease,
    ) -> None:
        try:
            for info, raw in retrieved:
                # The batch waited while this message came in: commit it first if that was long.
                if flow.batch and time.monotonic() - flow.batch_started >= self.batch_wait:
                    self._commit_batch(flow)
                place = recheck.get(info.number)
                if place is None:
                    self._start(flow, info, raw)
                else:
                    # Rare: looked at on its own, against a store holding everything before it.
                    self._settle(flow, everything=True)
                    self._commit_batch(flow)
                    self._recheck(flow.fetcher, flow.interface, info, raw, place, flow.tally)
                self._settle(flow, everything=False)
                if self._stop.is_set():
                    flow.tally.stopped = True
                    flow.tally.note("stopped on request; the messages not yet retrieved stay on the server")
                    break
                try:
                    lease.renew()
                except _LeaseLost:
                    # The batch is committed all the same, as it would have been message by
                    # message: the ledger keeps each message once, whoever commits it too.
                    self._commit_batch(flow)
                    raise
        except FetchError:
            # What was retrieved before the connection failed is imported all the same; its
            # deletions die with the session, and the next run deletes it by the ledger.
            self._settle(flow, everything=True)
            self._commit_batch(flow)
            raise
        self._settle(flow, everything=True)
        self._commit_batch(flow)

    def _start(self, flow: _Flow, info: MessageInfo, raw: bytes) -> None:
        """Start converting a retrieved message (unless its content key shows it was handled)."""
        # Without UIDL the content is the key: the same bytes are the same message.
        key = info.uid if info.uid is not None else "sha256:" + hashlib.sha256(raw).hexdigest()
        if info.uid is None and self._already_handled(
            flow.fetcher, flow.interface, info, key, None, flow.tally
        ):
            return
        ticket = flow.conversions.submit(raw, self.clock())
        flow.in_flight.append(_InFlight(info=info, key=key, raw=raw, ticket=ticket))
        flow.in_flight_bytes += len(raw)

    def _settle(self, flow: _Flow, *, everything: bool) -> None:
        """Take back the conversions that are done (or all, or while too many are in flight)."""
        while flow.in_flight and (
            everything
            or flow.conversions.done(flow.in_flight[0].ticket)
            or len(flow.in_flight) > flow.conversions.most_in_flight
            or flow.in_flight_bytes > IN_FLIGHT_BYTES
        ):
            item = flow.in_flight.popleft()
            flow.in_flight_bytes -= len(item.raw)
            try:
                message = flow.conversions.result(item.ticket)
            except Exception as exc:
                self._conversion_failed(
                    flow.fetcher, flow.interface, item.info, item.key, item.raw, exc, flow.tally
                )
                continue
            if flow.batch and self._sees_the_batch(flow, message):
                self._commit_batch(flow)
            pending = self._decided(
                flow.fetcher, flow.interface, item.info, item.key, item.raw, message, flow.tally
            )
            if pending is None:
                continue
            if not flow.batch:
                flow.batch_started = time.monotonic()
            flow.batch.append(pending)
            flow.batch_bytes += len(pending.raw)
            if len(flow.batch) >= self.batch_size or flow.batch_bytes >= BATCH_BYTES:
                self._commit_batch(flow)

    def _sees_the_batch(self, flow: _Flow, message: IncomingMessage) -> bool:
        """Whether deciding *message* may look at what the uncommitted batch writes: the record
        its subject names, when a message of the batch adds to it (its participants may grow)
        or when it does not exist yet and the batch opens records (one may get that number);
        or, for machine mail that follows its thread (In-Reply-To, References), any record the
        batch opens or adds to. Such a message is decided after the batch's commit."""
        touched = {item.action.record_id for item in flow.batch if isinstance(item.action, AppendToRecord)}
        opens = sum(isinstance(item.action, CreateRecord) for item in flow.batch)
        if not touched and not opens:
            return False
        interface = flow.interface
        try:
            named = self.matcher.match(message.subject)
            if named is not None and (
                named in touched
                or (
                    opens
                    and not self.store.has_record(named, interface.project)
                    and self._may_open(named, opens)
                )
            ):
                return True
            message_class = classify(message, interface.policy)
        except Exception:
            return True  # deciding fails too and quarantines it; committing first costs nothing
        follows_thread = class_action(message_class, interface.policy) is ClassAction.APPEND_OR_IGNORE
        return follows_thread and bool(message.in_reply_to or message.references)

    def _may_open(self, record_id: int, opens: int) -> bool:
        """Whether a batch opening *opens* records may give one of them the ID *record_id*.

        Stores that know the IDs of their next records (``next_record_ids``, as
        :class:`~mailtrack.stores.SQLRecordStore` on SQLite) tell; for others it may. Another
        writer opening records meanwhile (another run of :meth:`run_all`, another process) shifts
        those IDs, the same race as its commit landing just before or after a message is decided.
        """
        next_ids = getattr(self.store, "next_record_ids", None)
        if not callable(next_ids):
            return True
        ids = next_ids(opens)
        return not isinstance(ids, range) or record_id in ids

    def _commit_batch(self, flow: _Flow) -> None:
        """Commit the batch in one transaction, then mark its messages for deletion."""
        batch, flow.batch, flow.batch_bytes = flow.batch, [], 0
        if not batch:
            return
        fetcher, interface, tally = flow.fetcher, flow.interface, flow.tally
        if len(batch) == 1:
            self._commit_one(fetcher, interface, batch[0], tally)
            return
        try:
            results = self.store.commit_many([(interface.name, item.key, item.action) for item in batch])
        except (StoreError, RecordNotFoundError):
            logger.info("committing a batch of %d failed; committing its messages one by one", len(batch))
            for item in batch:
                try:
                    done = self.store.is_imported(interface.name, item.key)
                except StoreError as exc:
                    raise _Stop(f"the record store failed: {exc}") from exc
                if done:  # committed by the batch before it failed (stores that are not all-or-nothing)
                    self._committed(fetcher, interface, item, _assumed_result(item.action), tally)
                else:
                    self._commit_one(fetcher, interface, item, tally)
            return
        for item, result in zip(batch, results, strict=True):
            self._committed(fetcher, interface, item, result, tally)

    def _known(self, name: str, key: str, imported: set[str] | None) -> str | None:
        """``"ledger"``, ``"quarantine"`` or ``None``: where the store has *key* of interface *name*."""
        try:
            if key in imported if imported is not None else self.store.is_imported(name, key):
                return _LEDGER
            return _QUARANTINE if self.store.is_quarantined(name, key) else None
        except StoreError as exc:
            raise _Stop(f"the record store failed: {exc}") from exc

    def _already_handled(
        self,
        fetcher: Fetcher,
        interface: MailInterface,
        info: MessageInfo,
        key: str,
        imported: set[str] | None,
        tally: _Tally,
    ) -> bool:
        """Skip (and maybe delete) a message whose content key is in the ledger or the quarantine."""
        known = self._known(interface.name, key, imported)
        if known is None:
            return False
        tally.skipped += 1
        if _goes_from_server(interface, known):
            fetcher.delete(info)
        return True

    def _recheck(
        self,
        fetcher: Fetcher,
        interface: MailInterface,
        info: MessageInfo,
        raw: bytes,
        known: str,
        tally: _Tally,
    ) -> None:
        """A listed UID the store knows, in a mailbox the importer empties: the same message
        (a run committed it but its deletion never happened: it died before QUIT, or QUIT
        failed), or a new message under a UID the server reused after deleting ours (RFC 1939
        allows that)? Deleting it unread could lose a new message, so it was retrieved to tell.

        The same message is deleted. Another one is imported under ``<uid>#sha256:<digest>``.
        """
        name = interface.name
        key = f"{info.uid}#sha256:{hashlib.sha256(raw).hexdigest()}"
        if self._already_handled(fetcher, interface, info, key, None, tally):
            return  # a message under a reused UID, handled in an earlier run
        try:
            if known == _LEDGER:
                same = self._nothing_new(raw, interface, info, key)
            else:
                same = any(
                    held.uid == info.uid and held.raw == raw for held in self.store.list_quarantined(name)
                )
        except StoreError as exc:
            raise _Stop(f"the record store failed: {exc}") from exc
        if same:
            tally.skipped += 1
            fetcher.delete(info)
            return
        tally.note(
            f"{_label(info, info.uid)}: the UID is in the {known}, but this message is not in the store "
            f"(the server reused the UID of a deleted message): imported under {key}"
        )
        self._import_one(fetcher, interface, info, raw, tally, key=key)

    def _nothing_new(self, raw: bytes, interface: MailInterface, info: MessageInfo, key: str) -> bool:
        """Whether importing *raw* would add nothing: a detail holds it already (found by its
        Message-ID, which the converter derives from the content when the mail has none), or
        the policy skips it (machine mail, dropped or referring to no record)."""
        try:
            message = self.converter.convert(raw, received_at=self.clock())
        except Exception:
            return False  # it cannot be what was committed; importing it quarantines it
        if self.store.find_record_by_message_id(message.message_id) is not None:
            return True
        return isinstance(self._decide(message, interface, info, key, None).outcome, SkipMessage)

    def _import_one(
        self,
        fetcher: Fetcher,
        interface: MailInterface,
        info: MessageInfo,
        raw: bytes,
        tally: _Tally,
        *,
        key: str | None = None,
    ) -> None:
        if key is None:
            # Without UIDL the content is the key: the same bytes are the same message.
            key = info.uid if info.uid is not None else "sha256:" + hashlib.sha256(raw).hexdigest()
            if info.uid is None and self._already_handled(fetcher, interface, info, key, None, tally):
                return
        try:
            message = self.converter.convert(raw, received_at=self.clock())
        except Exception as exc:
            self._conversion_failed(fetcher, interface, info, key, raw, exc, tally)
            return
        pending = self._decided(fetcher, interface, info, key, raw, message, tally)
        if pending is not None:
            self._commit_one(fetcher, interface, pending, tally)

    def _conversion_failed(
        self,
        fetcher: Fetcher,
        interface: MailInterface,
        info: MessageInfo,
        key: str,
        raw: bytes,
        exc: Exception,
        tally: _Tally,
    ) -> None:
        if not isinstance(exc, ParseError):
            logger.warning("the converter failed on %s", _label(info, key), exc_info=exc)
        self._quarantine(fetcher, interface, info, key, raw, _conversion_failure(exc), tally)

    def _decided(
        self,
        fetcher: Fetcher,
        interface: MailInterface,
        info: MessageInfo,
        key: str,
        raw: bytes,
        message: IncomingMessage,
        tally: _Tally,
    ) -> _Pending | None:
        """The message with the action to commit, or ``None`` when the policy quarantined it."""
        decision = self._decide(message, interface, info, key, tally)
        for note in decision.notes:
            tally.note(f"{_label(info, key)}: {note}")
        if isinstance(decision.outcome, Quarantine):
            self._quarantine(fetcher, interface, info, key, raw, decision.outcome.reason, tally)
            return None
        return _Pending(info=info, key=key, raw=raw, action=decision.outcome)

    def _commit_one(self, fetcher: Fetcher, interface: MailInterface, item: _Pending, tally: _Tally) -> None:
        """Commit one message in a transaction of its own (quarantined when the store fails)."""
        info, key = item.info, item.key
        commit_notes: list[str] = []
        try:
            result = self._commit(interface.name, key, item.action, interface, commit_notes)
        except StoreError as exc:
            reason = f"the record store could not save it: {exc}"
            self._quarantine(fetcher, interface, info, key, item.raw, reason, tally)
            return
        for note in commit_notes:
            tally.note(f"{_label(info, key)}: {note}")
        self._committed(fetcher, interface, item, result, tally)

    def _committed(
        self, fetcher: Fetcher, interface: MailInterface, item: _Pending, result: CommitResult, tally: _Tally
    ) -> None:
        """Count a committed message; only now may it be marked for deletion."""
        outcome = result.outcome
        if outcome is CommitOutcome.CREATED:
            tally.created += 1
        elif outcome is CommitOutcome.APPENDED:
            tally.updated += 1
        else:  # SKIPPED by policy, DUPLICATE Message-ID, ALREADY_IMPORTED by another worker
            tally.skipped += 1
        if outcome is not CommitOutcome.ALREADY_IMPORTED:
            tally.imported += 1
        if not interface.leave_copy:
            _mark_for_deletion(fetcher, item.info)

    def _decide(
        self,
        message: IncomingMessage,
        interface: MailInterface,
        info: MessageInfo,
        key: str,
        tally: _Tally | None,
    ) -> Decision:
        """The policy's decision; a failure to decide is a decision to quarantine.

        Args:
            tally: counts the message's class, when given.
        """
        try:
            message_class = classify(message, interface.policy)
            if tally is not None:
                tally.count_class(message_class)
            return decide(
                message,
                message_class,
                interface=interface,
                store=self.store,
                matcher=self.matcher,
                sender_authorizer=self.sender_authorizer,
            )
        except StoreError as exc:
            reason = f"the record store failed while looking up records: {exc}"
        except Exception as exc:
            logger.exception("deciding what to do with %s failed", _label(info, key))
            reason = f"deciding what to do with it failed ({type(exc).__name__}: {exc})"
        return Decision(outcome=Quarantine(reason=reason))

    def _commit(
        self, name: str, key: str, action: ImportAction, interface: MailInterface, notes: list[str]
    ) -> CommitResult:
        try:
            return self.store.commit(name, key, action)
        except RecordNotFoundError:
            if not isinstance(action, AppendToRecord):
                raise
        # The record was deleted between the lookup and the commit: open a new one instead.
        notes.append(f"record #{action.record_id} disappeared before the commit; opened a new record")
        return self.store.commit(name, key, new_record(action.message, interface, action.message_class))

    def _quarantine(
        self,
        fetcher: Fetcher,
        interface: MailInterface,
        info: MessageInfo,
        key: str,
        raw: bytes,
        reason: str,
        tally: _Tally,
    ) -> None:
        try:
            self.store.quarantine(interface.name, key, raw, reason)
        except MessageRefusedError as exc:
            # The store works but cannot hold this message, not even its raw bytes. It stays on
            # the server; in neither the ledger nor the quarantine, it is tried (and noted) again
            # on every run, until the store's limit or max_message_bytes is changed.
            logger.warning("%s could not be stored or quarantined (%s): %s", _label(info, key), reason, exc)
            tally.failed += 1
            tally.note(
                f"{_label(info, key)}, {len(raw)} bytes, was not imported and stays on the server "
                f"(tried again next run): the store cannot hold it: {exc}"
            )
            return
        except StoreError as exc:
            raise _Stop(
                f"the record store failed ({exc}); the run stopped and messages not yet "
                "imported stay on the server"
            ) from exc
        tally.failed += 1
        tally.note(f"{_label(info, key)} quarantined: {reason}")
        if interface.policy.delete_quarantined:
            _mark_for_deletion(fetcher, info)

    def _save(self, report: RunReport) -> RunReport:
        try:
            self.store.save_run(report)
        except Exception as exc:
            logger.exception("could not save the run report of interface %r", report.interface)
            return attrs.evolve(report, notes=(*report.notes, f"the run report could not be saved: {exc}"))
        return report


def _goes_from_server(interface: MailInterface, known: str) -> bool:
    """Whether a message the store knows (in the ledger or the quarantine) is to go from the server."""
    if known == _LEDGER:
        return not interface.leave_copy
    return interface.policy.delete_quarantined


def _assumed_result(action: ImportAction) -> CommitResult:
    """The outcome of an action a failed batch had committed before it failed (its own result
    was lost with the batch): what the action asked for. A Message-ID that was a detail already
    (``DUPLICATE``) is then counted as created or appended; the store is right either way."""
    if isinstance(action, SkipMessage):
        return CommitResult(outcome=CommitOutcome.SKIPPED)
    if isinstance(action, AppendToRecord):
        return CommitResult(outcome=CommitOutcome.APPENDED, record_id=action.record_id)
    return CommitResult(outcome=CommitOutcome.CREATED)


def _label(info: MessageInfo, key: str | None) -> str:
    return f"message {info.number} (uid {key})" if key else f"message {info.number}"


def _conversion_failure(exc: Exception) -> str:
    if isinstance(exc, ParseError):
        return str(exc) or "the message could not be parsed"
    return f"the converter failed ({type(exc).__name__}: {exc})"


def _mark_for_deletion(fetcher: Fetcher, info: MessageInfo) -> None:
    """Mark a message the store holds for deletion. A session that failed cannot (what was
    retrieved before the failure is still committed); the message then stays on the server
    and the next run deletes it, by the ledger or the quarantine."""
    try:
        fetcher.delete(info)
    except FetchError:
        logger.debug("could not mark message %d for deletion", info.number, exc_info=True)


def _abandon(fetcher: Fetcher) -> None:
    """Drop the session without QUIT: the server keeps every message."""
    try:
        fetcher.close(commit=False)
    except Exception:
        logger.debug("dropping the session failed", exc_info=True)
