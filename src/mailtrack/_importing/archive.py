"""Archives imported as a run: :meth:`mailtrack.Importer.import_archive` and its dry run.

An archive import is a run of the interface over an :class:`~mailtrack.intake._archive.ArchiveFetcher`:
the same listing sort (what the ledger holds is skipped, so an import that was interrupted
continues where it stopped), conversion workers, policy, batches, ledger, quarantine and run
report as a POP3 or IMAP run. The messages stay where they are (``after_import = "keep"``),
unless ``delete_after`` asks for the files to go once the store committed what they hold; every
message of the archives is looked at (no ``max_messages_per_run``). The run takes the lease
``NAME#import``: polls of the interface go on beside it, and two imports into one interface
take turns.

The dry run (:func:`explain_archive`) lists and reads the same messages and asks
:func:`~mailtrack._importing.explaining.explain` what would become of each, writing nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import attrs

from ..config import MailInterface
from ..intake._archive import ArchiveFetcher, Progress
from ..intake._verdicts import ArchiveVerdict
from ..models import RunReport
from .explaining import Explanation
from .session import run_mailbox
from .settings import Setup
from .tally import IN_ARCHIVE, Tally

__all__ = ["IMPORT_LEASE_SUFFIX", "explain_archive", "import_archive"]

#: The lease of archive imports into interface NAME is ``NAME#import``.
IMPORT_LEASE_SUFFIX = "#import"


def archive_interface(interface: MailInterface, *, delete_after: bool) -> MailInterface:
    """The interface as an archive import uses it: every message, kept unless *delete_after*."""
    return attrs.evolve(
        interface,
        leave_copy=False,
        after_import="delete" if delete_after else "keep",
        max_messages_per_run=None,
    )


def import_archive(
    setup: Setup,
    interface: MailInterface,
    paths: Sequence[str],
    *,
    delete_after: bool = False,
    history: bool = False,
    progress: Progress | None = None,
) -> RunReport:
    """Import the messages of *paths* through *interface*; see :meth:`mailtrack.Importer.import_archive`."""
    tally = Tally(interface=interface.name, started_at=setup.clock(), kept=IN_ARCHIVE)
    chosen = archive_interface(interface, delete_after=delete_after)
    fetcher = ArchiveFetcher(
        paths=list(paths),
        max_message_bytes=interface.max_message_bytes,
        note=tally.note,
        delete_after=delete_after,
        progress=progress,
    )
    archive_setup = attrs.evolve(setup, fetcher_factory=lambda _interface: fetcher, history=history)
    return run_mailbox(
        archive_setup, chosen, None, tally=tally, lease_name=interface.name + IMPORT_LEASE_SUFFIX
    )


def explain_archive(
    explain: Callable[[MailInterface, bytes], Explanation],
    setup: Setup,
    interface: MailInterface,
    paths: Sequence[str],
    *,
    note: Callable[[str], None],
    progress: Progress | None = None,
) -> Iterator[ArchiveVerdict]:
    """What importing *paths* would do with each message, writing nothing; lines about what
    cannot be imported go through *note*. Each message is explained against the store as it
    is now (one that answers an earlier message of the same archive is explained as if that
    were not imported yet).

    Raises:
        StoreError: looking up the ledger or records failed.
    """
    fetcher = ArchiveFetcher(
        paths=list(paths), max_message_bytes=interface.max_message_bytes, note=note, progress=progress
    )
    listing = fetcher.open()
    try:
        for info, raw in fetcher.retrieve_many(listing):
            assert info.uid is not None
            if setup.store.is_imported(interface.name, info.uid):
                yield ArchiveVerdict(key=info.uid, summary="already imported")
                continue
            explanation = explain(interface, raw)
            yield ArchiveVerdict(key=info.uid, summary=explanation.summary, explanation=explanation)
    finally:
        fetcher.close(commit=False)
