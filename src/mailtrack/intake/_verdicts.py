"""What an archive import would do with one message: :class:`ArchiveVerdict` (the dry run)."""

from __future__ import annotations

import attrs

from .._importing.explaining import Explanation

__all__ = ["ArchiveVerdict"]


@attrs.frozen(kw_only=True)
class ArchiveVerdict:
    """What :meth:`mailtrack.Importer.import_archive` would do with one message of an archive
    (:meth:`~mailtrack.Importer.explain_archive`, ``mailtrack import --dry-run``)."""

    #: The ledger key the message would be kept under: where it was found
    #: (``mbox:PATH@OFFSET``, ``maildir:UNIQUE-NAME``, ``eml:PATH``).
    key: str
    #: ``"already imported"`` when the ledger holds the key; else the explanation's summary
    #: (``"new record"``, ``"append to record #12"`` …).
    summary: str
    #: Why, in full (:meth:`mailtrack.Importer.explain`); ``None`` when it was imported already.
    explanation: Explanation | None = None
