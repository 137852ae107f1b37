"""Mail that does not wait in a mailbox: one message handed over by a host or an MTA's pipe
(:meth:`mailtrack.Importer.deliver`, ``mailtrack deliver``), and archives of messages (.eml
files, mbox files, Maildir folders: :meth:`mailtrack.Importer.import_archive`, ``mailtrack
import``).

Both go through the same converter, policy, batches, ledger and quarantine as a POP3 or IMAP
run (:mod:`mailtrack._importing`); this package holds what is particular to them: the reports
of a delivery (:mod:`._delivery`) and the readers of archives.
"""

from __future__ import annotations

from ._delivery import DeliveryOutcome, DeliveryReport
from ._verdicts import ArchiveVerdict

__all__ = ["ArchiveVerdict", "DeliveryOutcome", "DeliveryReport"]
