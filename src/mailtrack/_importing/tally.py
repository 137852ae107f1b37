"""The tally of one run and its outcome: counters and notes, turned into the saved :class:`RunReport`."""

from __future__ import annotations

import logging
from datetime import datetime

import attrs

from ..abc import RecordStore
from ..models import CommitOutcome, MessageClass, MessageInfo, RunReport

__all__ = [
    "IN_ARCHIVE",
    "MAX_NOTES",
    "ON_SERVER",
    "Place",
    "Tally",
    "defects_note",
    "label",
    "log_summary",
    "save_report",
]

logger = logging.getLogger("mailtrack")

#: Notes kept per run report; a mailbox full of oversized mail should not make a huge report.
MAX_NOTES = 100


@attrs.frozen
class Place:
    """Where the messages a run did not import stay, in the words of its notes and its report:
    nothing is deleted before the store holds it, so they stay where the run found them."""

    #: After "stay" or "left": ``"on the server"``, ``"in the archive"``.
    where: str
    #: The run table's header of :attr:`~mailtrack.RunReport.left_on_server`.
    column: str


#: A mailbox's messages (POP3, IMAP).
ON_SERVER = Place(where="on the server", column="Left on\nserver")
#: The messages of an archive import (.eml, mbox, Maildir).
IN_ARCHIVE = Place(where="in the archive", column="Left in\narchive")


#: The attributes of a Tally that its RunReport takes as they are.
_AS_IS = frozenset(
    {
        "interface",
        "started_at",
        "created",
        "updated",
        "skipped",
        "already_imported",
        "quarantined",
        "error",
        "busy",
        "stopped",
    }
)


def label(info: MessageInfo, key: str | None) -> str:
    """How notes and the log name a message: its number, and its key when it has one."""
    return f"message {info.number} (uid {key})" if key else f"message {info.number}"


def defects_note(defects: tuple[str, ...]) -> str:
    """The run's note on a message the converter found damaged (the defects stay on its detail)."""
    first = defects[0] if len(defects[0]) <= 120 else defects[0][:119] + "…"
    more = f" and {len(defects) - 1} more" if len(defects) > 1 else ""
    return f"damaged input, read as well as possible: {first}{more} (kept on its detail as defects)"


@attrs.define
class Tally:
    """The counters of one run, turned into a :class:`RunReport` at the end."""

    interface: str
    started_at: datetime
    created: int = 0
    updated: int = 0
    skipped: int = 0
    already_imported: int = 0
    quarantined: int = 0
    #: Messages the server listed; those not counted otherwise are left on the server.
    listed: int = 0
    #: Where the messages not imported stay (the notes say so).
    kept: Place = ON_SERVER
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

    def count_commit(self, outcome: CommitOutcome) -> None:
        """Count a message the store committed (or found committed by another worker)."""
        if outcome is CommitOutcome.CREATED:
            self.created += 1
        elif outcome is CommitOutcome.APPENDED:
            self.updated += 1
        elif outcome is CommitOutcome.SKIPPED:
            self.skipped += 1
        else:  # DUPLICATE Message-ID (another mailbox), ALREADY_IMPORTED by another worker
            self.already_imported += 1

    @property
    def left_on_server(self) -> int:
        """The listed messages this run did not import, skip or quarantine: they are still on
        the server, since nothing is deleted before the store holds it."""
        handled = self.created + self.updated + self.skipped + self.already_imported + self.quarantined
        return max(0, self.listed - handled)

    def report(self, finished_at: datetime) -> RunReport:
        counters = attrs.asdict(self, recurse=False, filter=lambda field, _value: field.name in _AS_IS)
        notes = list(self.notes)
        if self.notes_left_out:
            notes.append(f"… and {self.notes_left_out} more notes left out")
        return RunReport(
            **counters,
            imported=self.created + self.updated + self.skipped,
            left_on_server=self.left_on_server,
            finished_at=finished_at,
            classes=dict(self.classes),
            notes=tuple(notes),
        )


def save_report(store: RecordStore, report: RunReport) -> RunReport:
    """Save *report* in the store; a report that cannot be saved says so in its notes."""
    try:
        store.save_run(report)
    except Exception as exc:
        logger.exception("could not save the run report of interface %r", report.interface)
        return attrs.evolve(report, notes=(*report.notes, f"the run report could not be saved: {exc}"))
    return report


def log_summary(report: RunReport) -> None:
    """One line in the log for a finished run (whose messages not imported are "left in place":
    on the server, or in the archive)."""
    logger.info(
        "interface %r: %d offered: %d new records, %d follow-ups, %d skipped by policy, "
        "%d already imported, %d quarantined, %d left in place%s%s",
        report.interface,
        report.offered,
        report.created,
        report.updated,
        report.skipped,
        report.already_imported,
        report.quarantined,
        report.left_on_server,
        f"; error: {report.error}" if report.error else "",
        "; stopped on request" if report.stopped else "",
    )
