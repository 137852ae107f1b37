"""The ways in that need no mailbox, as methods of :class:`mailtrack.Importer`: a message handed
over (:meth:`~IntakeMethods.deliver`) and archives (:meth:`~IntakeMethods.import_archive`,
:meth:`~IntakeMethods.explain_archive`).

:class:`IntakeMethods` is a base class of :class:`~mailtrack.Importer` (which keeps the polling
side): it holds the public methods, and :mod:`.delivery` and :mod:`.archive` the work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ..abc import RecordStore
from ..config import MailInterface
from ..models import RunReport
from .settings import Setup

if TYPE_CHECKING:
    # The work is imported by each method when called: a program that polls mailboxes only
    # never loads the archive readers or the delivery path.
    from ..intake import DeliveryReport
    from ..intake._verdicts import ArchiveVerdict
    from .explaining import Explanation

__all__ = ["IntakeMethods"]


class IntakeMethods:
    """:meth:`deliver`, :meth:`import_archive` and :meth:`explain_archive` of :class:`~mailtrack.Importer`."""

    store: RecordStore

    def _setup(self) -> Setup:
        raise NotImplementedError  # the Importer's

    def explain(self, interface: MailInterface, raw: bytes) -> Explanation:
        raise NotImplementedError  # the Importer's

    def _interface(self, interface: MailInterface | str) -> MailInterface:
        return self.store.get_interface(interface) if isinstance(interface, str) else interface

    def deliver(
        self, interface: MailInterface | str, raw: bytes, *, recipient: str | None = None
    ) -> DeliveryReport:
        """Import one message handed over by the host: a mail server's pipe (``mailtrack
        deliver``), a webhook of a mail service, an SMTP server of the host's own.

        It takes the way a message of a run takes (converter, attachment rules, policy, commit
        with its ledger row, quarantine, :attr:`on_committed`), without a mailbox: the message
        is kept in the ledger under its content digest, so the same message delivered twice
        (a mail server that retries) is imported once, and a Message-ID that is a detail already
        becomes no second detail. Deliveries to one interface may run at once, in threads or
        processes; no run report is saved for them.

        Malformed mail is never an error: it is imported as well as possible, or quarantined
        with its raw bytes and the reason (then the outcome says ``QUARANTINED``).

        Args:
            interface: the interface (a :class:`MailInterface`, or the name of one saved in the
                store) whose project, defaults, routes and policy apply. Any interface will do:
                one of ``protocol = "deliver"``, or a POP3/IMAP one that also receives mail this way.
            raw: the message as the mail server hands it over (LF or CRLF line ends).
            recipient: the envelope recipient it was delivered to (Postfix's
                ``${original_recipient}``): routing (:attr:`MailInterface.routes`) looks at it
                first, and mail claiming to come from it is own mail (a loop).

        Raises:
            InterfaceNotFoundError: no interface is saved under that name.
            InterfaceDisabledError: the interface is disabled (``enabled = false``): nothing was
                imported; the caller keeps the message and delivers it again later
                (``mailtrack deliver`` exits with 75, the inbound routes answer 503).
            ConfigError: the interface's sender policy needs a ``sender_authorizer``.
            MessageRefusedError: the store cannot hold this message, not even in the quarantine
                (it is too large for the store): delivering it again will not help.
            StoreError: the store is unreachable or locked; nothing was written: deliver it again
                later (``mailtrack deliver`` exits with 75, so the mail server keeps it and retries).

        Example:
            >>> from mailtrack.testing import build_message
            >>> interface = MailInterface(name="support", server="pop.example.com", login="support")
            >>> raw = build_message(subject="Printer on fire")
            >>> importer = Importer()
            >>> importer.deliver(interface, raw).outcome.value
            'created'
            >>> importer.deliver(interface, raw).outcome.value  # the mail server tried again
            'already_imported'
        """
        from .delivery import deliver_message

        return deliver_message(self._setup(), self._interface(interface), bytes(raw), recipient=recipient)

    def import_archive(
        self,
        paths: Iterable[str],
        interface: MailInterface | str,
        *,
        history: bool = False,
        delete_after: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> RunReport:
        """Import the messages of archives: .eml files, mbox files (mboxrd or mboxo; ``From ``
        quoting undone), Maildir folders (``new/`` and ``cur/``, with Maildir++ subfolders), and
        folders of these, searched all the way down.

        It is a run of *interface* (the same conversion, policy, batches, ledger, quarantine and
        saved :class:`~mailtrack.RunReport`), reading the archives instead of a mailbox. Each
        message is kept in the ledger under where it was found (``mbox:PATH@OFFSET``,
        ``maildir:UNIQUE-NAME``, ``eml:PATH``) with its content digest, so an import that was
        interrupted (Ctrl-C, :meth:`stop`, a crash, SIGKILL) and started again continues where it
        stopped and imports nothing twice, and a message the interface imported before by
        another way (POP3, IMAP, delivery, another copy of the archive) is not imported again.
        mbox files are read as a stream, never whole. What cannot be imported (a path that does
        not exist, a device, a symbolic link loop, a file that is no mail, a message over
        ``max_message_bytes``, a file that vanished while it was read, a ``From`` line in a body
        that was not quoted, an mbox file cut short) is a note in the report; the rest is
        imported.

        Files are never changed. Runs of the interface may go on meanwhile: the import holds
        the lease ``NAME#import``, not the mailbox's.

        Args:
            paths: files and folders.
            interface: the interface (or the name of one saved in the store) whose project,
                defaults, routes and policy apply, and whose ledger keeps the messages. Its
                ``max_messages_per_run`` and ``after_import`` do not apply.
            history: old mail moved in: each message keeps its own Date as the time of its
                detail (``received_at``) and of the record it opens (``created_at``), and the
                details and records are marked ``history``, so that the host can leave them out
                of its notifications (:class:`~mailtrack.CommitEvent` carries the detail).
            delete_after: delete each file once the store committed every message it holds
                (an mbox file only when all its messages were; quarantined ones count only with
                ``policy.delete_quarantined``). Without it nothing is deleted.
            on_progress: called with the position reached among the messages found and their
                number, as the messages are read (from a thread of the importer).

        Raises:
            InterfaceNotFoundError: no interface is saved under that name.
        """
        from .archive import import_archive

        chosen = self._interface(interface)
        return import_archive(
            self._setup(),
            chosen,
            list(paths),
            delete_after=delete_after,
            history=history,
            progress=on_progress,
        )

    def explain_archive(
        self,
        paths: Iterable[str],
        interface: MailInterface | str,
        *,
        on_note: Callable[[str], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[ArchiveVerdict]:
        """What :meth:`import_archive` would do with each message of *paths*, without writing
        anything (``mailtrack import --dry-run``): one verdict per message, ``already imported``
        or the summary of :meth:`explain` (its whole explanation beside it).

        Each message is explained against the store as it is now: a message that answers an
        earlier one of the same archive is explained as if that were not imported yet.

        Args:
            on_note: told the lines about what cannot be imported (as the import's notes).
            on_progress: as for :meth:`import_archive`.

        Raises:
            InterfaceNotFoundError: no interface is saved under that name.
            ConfigError: the interface's sender policy needs a ``sender_authorizer``.
            StoreError: looking up the ledger or records failed.
        """
        from .archive import explain_archive

        chosen = self._interface(interface)
        return explain_archive(
            self.explain,
            self._setup(),
            chosen,
            list(paths),
            note=on_note or (lambda _line: None),
            progress=on_progress,
        )
