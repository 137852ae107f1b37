"""The import service: one pass over one mailbox, exactly once, nothing lost.

:class:`Importer` ties the seams together: a :class:`~mailtrack.abc.Fetcher` lists and retrieves
the messages, a :class:`~mailtrack.abc.MessageConverter` parses them, a
:class:`~mailtrack.abc.Matcher` finds the record a subject names, the policy decides, and the
:class:`~mailtrack.abc.RecordStore` commits each message together with its ledger row. A message
is deleted on the server only after the store committed it, and deletions become final only at
the end of the session.

Retrieval, conversion and storage overlap: the fetcher pipelines its requests, conversion runs in
worker processes where that pays, with a bounded number of messages in flight, and messages are
committed in batches (``batch_size``), each batch in one transaction, its deletions marked only
after that commit. :meth:`Importer.run_all` runs several mailboxes at once. :meth:`Importer.stop`
ends the runs in progress after the message in hand. The machinery of a run is in
:mod:`mailtrack._importing` (:mod:`mailtrack._importing.run` describes a message's way through it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import attrs

from ._importing.conversions import start_pool
from ._importing.events import CommitListener
from ._importing.holders import default_worker_id
from ._importing.intake_api import IntakeMethods
from ._importing.policy import SenderAuthorizer, check_sender_policy
from ._importing.quarantine_api import QuarantineMethods
from ._importing.session import run_mailbox
from ._importing.settings import POOL_FROM, Setup, Throughput, positive, start_method, whole_number
from ._importing.stopping import StopRequest
from ._importing.threads import map_bounded
from ._importing.workers import WorkerPool
from .abc import FetcherFactory, Matcher, MessageConverter, RecordStore
from .auth._running import tokens_in
from .config import MailInterface, MailProtocol
from .matching import SubjectIdMatcher
from .models import ConnectionCheck, RunReport

if TYPE_CHECKING:
    # explain() and watch() import their modules when called: a run never loads them.
    from ._importing.explaining import Explanation

__all__ = ["CommitListener", "Importer", "SenderAuthorizer"]

logger = logging.getLogger("mailtrack")


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _default_store() -> RecordStore:
    from .stores import MemoryRecordStore

    return MemoryRecordStore()


def _default_converter() -> MessageConverter:
    from .converting import MailParserConverter

    return MailParserConverter()


def _default_fetcher_factory() -> FetcherFactory:
    # Imported here so that using the importer with another fetcher never loads the wire and ssl.
    from .fetching import fetcher_for

    return fetcher_for


@attrs.define(kw_only=True)
class Importer(IntakeMethods, QuarantineMethods):
    """Imports the messages of mail interfaces into a record store.

    Every part is replaceable; the defaults make a working importer that keeps its records in
    memory and fetches with POP3.

    Args:
        store: where records, the ledger, the quarantine and run reports live.
        matcher: finds the record ID a subject names.
        converter: turns raw bytes into an :class:`~mailtrack.IncomingMessage`.
        fetcher_factory: makes a :class:`~mailtrack.abc.Fetcher` for an interface
            (by default :func:`mailtrack.fetching.fetcher_for`: ``POP3Fetcher`` or ``IMAPFetcher``
            by the interface's ``protocol``; :class:`mailtrack.testing.FakeMailbox` for tests).
        sender_authorizer: decides, for ``SenderPolicy.CALLBACK``, whether a message's sender
            may add to an existing record: ``sender_authorizer(record, message) -> bool``.
        on_committed: called after each commit that opened a record or added a follow-up to
            one, with a :class:`~mailtrack.CommitEvent` (the record as committed, the new
            detail, created or appended, the fields set): where a host sends its notifications
            and runs the side effects of an edit. Never before the commit, never twice for one
            message (not for messages skipped, imported already or seen under another
            mailbox). It runs in the importing thread (in :meth:`run_all`, several at once), so
            keep it short: put slow work on a queue. An exception it raises is logged and noted
            in the run report; it neither undoes nor stops the import.
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
            stores. ``None`` (the default) decides for each run: on Linux with three CPUs or
            more (two for the runs of ``run_all``, which share them), the default converter and
            at least 16 messages to import, one process per CPU (at most four); otherwise none.
            ``0`` converts in the importing thread. A converter of your own runs in worker
            processes only when you ask for them; unless the workers are forked it must be
            picklable and defined in a module (not in the main script, which workers never
            import); otherwise it is used in the importing thread, with a warning in the log.
            Workers die with the importer's process however it ends, and never write to its
            stdout or stderr.
        conversion_start_method: how the worker processes start: ``"fork"``,
            ``"forkserver"`` or ``"spawn"`` (where the platform has it). ``None`` (the default)
            chooses when they start: on Linux ``fork`` while the process runs a single thread
            (the fastest start), else ``forkserver`` (mailtrack's own fork server, started once
            per process), since a fork beside other threads can leave the worker stuck on a
            lock another thread held at that moment; ``spawn`` elsewhere. None of them imports
            the host's main module: a script needs no ``if __name__ == "__main__":`` guard.
        max_parallel_runs: mailboxes :meth:`run_all` polls at once (threads; 16 by default:
            they mostly wait on the network). The store must be safe to use from several
            threads, as the built-in stores are; 1 polls them one after the other. Each run
            holds one store connection at a time, so no more runs go at once than the store has
            connections (:attr:`~mailtrack.abc.RecordStore.max_connections`: 64 for
            :class:`~mailtrack.stores.SQLRecordStore`'s own engine).

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
    on_committed: CommitListener | None = None
    clock: Callable[[], datetime] = _utcnow
    worker_id: str = attrs.field(factory=default_worker_id)
    lease_seconds: float = attrs.field(default=300.0, validator=positive)
    batch_size: int = attrs.field(default=100, validator=whole_number(1, 10_000))
    batch_wait: float = attrs.field(default=2.0, validator=positive)
    conversion_workers: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(whole_number(0, 64))
    )
    conversion_start_method: str | None = attrs.field(default=None, validator=start_method)
    max_parallel_runs: int = attrs.field(default=16, validator=whole_number(1, 1024))
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
        with tokens_in(self.store):
            return run_mailbox(self._setup(), interface, None)

    def run_all(self, interfaces: Iterable[MailInterface] | None = None) -> list[RunReport]:
        """Run every enabled interface; one's failure or slowness never holds up the others.

        Up to :attr:`max_parallel_runs` mailboxes are polled at once, each in a thread of its
        own, sharing the conversion worker processes. The reports come in the order of the
        interfaces. Ctrl-C in the calling thread stops the importer (:meth:`stop`): the runs
        under way end after their message in hand, and ``KeyboardInterrupt`` is raised again.

        Args:
            interfaces: the interfaces to run; ``None`` means those saved in the store.
                Disabled interfaces are skipped either way, and so are those of ``protocol =
                "deliver"`` (no mailbox to poll).

        Raises:
            StoreError: the saved interfaces could not be listed.
        """
        chosen = self.store.list_interfaces() if interfaces is None else list(interfaces)
        # An interface of protocol "deliver" has no mailbox: its mail is handed over.
        chosen = [
            interface
            for interface in chosen
            if interface.enabled and interface.protocol is not MailProtocol.DELIVER
        ]
        setup = self._setup()
        parallel = min(self.max_parallel_runs, len(chosen))
        # Each run holds one store connection at a time: no more runs than the store can serve.
        limit = self.store.max_connections
        if isinstance(limit, int) and 0 < limit < parallel:
            logger.info("polling %d mailboxes at once, as many as the store has connections", limit)
            parallel = limit
        throughput = setup.throughput
        workers = (
            throughput.workers_for(POOL_FROM, self.converter, shared=True)
            if parallel > 1 and not self._stop.is_set()
            else 0
        )
        # Started before the run threads, so that the workers fork from a quiet process.
        pool: WorkerPool | None = start_pool(self.converter, workers, self.conversion_start_method)
        interrupted = True
        try:
            reports = map_bounded(
                lambda interface: self._run_with_tokens(setup, interface, pool),
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

    def _run_with_tokens(self, setup: Setup, interface: MailInterface, pool: WorkerPool | None) -> RunReport:
        with tokens_in(self.store):  # in the run's own thread
            return run_mailbox(setup, interface, pool)

    def watch(
        self,
        interfaces: Iterable[MailInterface] | Callable[[], Iterable[MailInterface]] | None = None,
        *,
        every: float = 300.0,
        refresh: float = 30.0,
        on_report: Callable[[RunReport], None] | None = None,
    ) -> None:
        """Keep importing until :meth:`stop`: IMAP folders within seconds of new mail, every
        other mailbox at *every* seconds.

        Each enabled IMAP interface whose server offers IDLE (RFC 2177) keeps one connection of
        its own that waits for new mail (read-only; IDLE is issued again every 25 minutes, and a
        dropped connection is made again after 1 s, then 2, 4 … up to 5 minutes); new mail starts
        a run of that interface at once. POP3 interfaces and IMAP servers without IDLE are
        polled at *every* seconds; so are IMAP folders with IDLE, in case a notice was missed.
        Runs are the same as :meth:`run` (one at a time, each under the mailbox's lease, so
        several workers on one store never import one mailbox at once). Of several workers
        watching one store, only the one holding a folder's watch lease (``NAME#idle``, renewed
        every *refresh* seconds, at most a third of ``lease_seconds``) keeps its IDLE connection;
        the others poll that folder, and one of them takes the watch over when the holder is gone.

        :meth:`stop` (from a signal handler or another thread) ends the watch after the batch in
        progress is committed; the IDLE connections are closed.

        Args:
            interfaces: the interfaces to watch: a list, or a callable that returns them (asked
                again every *refresh* seconds, so interfaces added, edited, disabled or removed
                meanwhile are taken up); ``None`` means those saved in the store (read again
                every *refresh* seconds too). Disabled interfaces are skipped.
            every: seconds between two polls of an interface.
            refresh: seconds between two readings of *interfaces*.
            on_report: called with the report of each run, in the watching thread.
        """
        if callable(interfaces):
            source = interfaces
        elif interfaces is None:
            source = self.store.list_interfaces
        else:
            fixed = list(interfaces)

            def source() -> Iterable[MailInterface]:
                return fixed

        from ._importing.watching import Watch

        watch = Watch(setup=self._setup(), source=source, every=every, refresh=refresh, on_report=on_report)
        with tokens_in(self.store):  # the runs happen in this thread
            watch.run()

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
        """Test the connection before saving an interface: log in, look at the mailbox, log out.

        Never raises for connection problems: they are in the result's ``error``. An interface of
        ``protocol = "deliver"`` has no mailbox: the result says so.
        """
        if interface.protocol is MailProtocol.DELIVER:
            return ConnectionCheck(interface=interface.name, ok=True)
        try:
            with tokens_in(self.store):
                return self.fetcher_factory(interface).check()
        except Exception as exc:
            logger.exception("checking interface %r failed unexpectedly", interface.name)
            return ConnectionCheck(
                interface=interface.name,
                ok=False,
                error=f"the connection check failed unexpectedly ({type(exc).__name__}: {exc})",
            )

    def explain(self, interface: MailInterface, raw: bytes) -> Explanation:
        """What :meth:`run` would do with the message *raw* coming through *interface*, and why,
        without writing anything (no record, ledger row, quarantine entry or run report).

        The answer names the message's class (normal mail or auto-reply, bounce, own mail), the
        evidence found (a signed reply token, In-Reply-To/References, the subject's tag), the
        sender policy's verdict and the action: a new record, an append to record #N, a skip, a
        quarantine. The words are those of the run's notes.

        Raises:
            ConfigError: the interface's sender policy needs a ``sender_authorizer``.
            StoreError: looking up records failed.

        Example:
            >>> from mailtrack.testing import build_message
            >>> interface = MailInterface(name="support", server="pop.example.com", login="support")
            >>> Importer().explain(interface, build_message(subject="Printer on fire")).summary
            'new record'
        """
        from ._importing.explaining import explain

        check_sender_policy(interface, self.sender_authorizer)
        return explain(
            bytes(raw),
            interface=interface,
            store=self.store,
            matcher=self.matcher,
            converter=self.converter,
            sender_authorizer=self.sender_authorizer,
            received_at=self.clock(),
        )

    def _setup(self) -> Setup:
        """What the runs of this importer share, as the importer is now."""
        return Setup(
            store=self.store,
            matcher=self.matcher,
            converter=self.converter,
            fetcher_factory=self.fetcher_factory,
            sender_authorizer=self.sender_authorizer,
            clock=self.clock,
            worker_id=self.worker_id,
            lease_seconds=self.lease_seconds,
            throughput=Throughput(
                batch_size=self.batch_size,
                batch_wait=self.batch_wait,
                conversion_workers=self.conversion_workers,
                conversion_start_method=self.conversion_start_method,
                max_parallel_runs=self.max_parallel_runs,
            ),
            stop=self._stop,
            on_committed=self.on_committed,
        )
