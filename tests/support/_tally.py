"""The bookkeeping of the robustness tests: the exactly-once audit, and the tally of what was tried.

:func:`audit` looks at both sides after a test's runs, the store and the server's mailbox, and
counts messages lost and duplicated (every test then asserts both are 0). :func:`record` adds
to the tally: bad inputs tried, faults injected, messages audited, lost, duplicated. The tally
is written (JSON lines) only when ``$MAILTRACK_TALLY`` names a file; ``scripts/tally.py`` sets it,
runs the robustness tests and prints the sums.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

import attrs

from mailtrack import MailParserConverter, ParseError, RecordStore

__all__ = ["Audit", "audit", "record"]

_CONVERTER = MailParserConverter()
_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


def record(
    *, bad_inputs: int = 0, faults: int = 0, messages: int = 0, lost: int = 0, duplicated: int = 0
) -> None:
    """Add to the tally (a no-op unless ``$MAILTRACK_TALLY`` is set)."""
    path = os.environ.get("MAILTRACK_TALLY")
    if not path:
        return
    line = json.dumps(
        {
            "bad_inputs": bad_inputs,
            "faults": faults,
            "messages": messages,
            "lost": lost,
            "duplicated": duplicated,
        }
    )
    # One short append per call: lines from several processes never interleave.
    with open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


@attrs.frozen(kw_only=True)
class Audit:
    """What became of every message a test put on the server."""

    #: Messages neither in the ledger, nor in the quarantine, nor on the server any more; or in
    #: the ledger as a record-making message without a detail.
    lost: tuple[str, ...]
    #: Messages with more than one detail, or both in the ledger and in the quarantine.
    duplicated: tuple[str, ...]
    #: UIDs in the ledger / in the quarantine / still on the server.
    imported: frozenset[str]
    quarantined: frozenset[str]
    on_server: frozenset[str]


def message_id(raw: bytes) -> str | None:
    """The Message-ID the converter gives *raw* (derived from the content when it has none)."""
    try:
        return _CONVERTER.convert(raw, received_at=_EPOCH).message_id
    except ParseError:
        return None


def audit(
    store: RecordStore,
    interface: str,
    originals: Mapping[str, bytes],
    on_server: Iterable[str],
    *,
    details_expected: bool = True,
) -> Audit:
    """Check every message in *originals* (UID → raw bytes) against the store and the server.

    Args:
        store: the store the runs imported into.
        interface: the interface name the runs used.
        originals: every message the test put on the server, by UID.
        on_server: the UIDs still on the server.
        details_expected: every message that reached the ledger should have become a detail
            (False where policy may skip messages, e.g. random bytes that look like a bounce).
    """
    left = frozenset(on_server)
    uids = list(originals)
    imported = frozenset(store.imported_uids(interface, uids))
    quarantined = frozenset(uid for uid in uids if store.is_quarantined(interface, uid))
    details = Counter(detail.message_id for record in store.list_records() for detail in record.details)
    lost: list[str] = []
    duplicated: list[str] = []
    for uid, raw in originals.items():
        if uid not in imported and uid not in quarantined and uid not in left:
            lost.append(uid)
            continue
        if uid in imported and uid in quarantined:
            duplicated.append(uid)
        mid = message_id(raw) if uid in imported else None
        if mid is None:
            continue
        if details[mid] > 1:
            duplicated.append(uid)
        elif details[mid] == 0 and details_expected:
            lost.append(uid)
    result = Audit(
        lost=tuple(lost),
        duplicated=tuple(duplicated),
        imported=imported,
        quarantined=quarantined,
        on_server=left,
    )
    record(messages=len(originals), lost=len(lost), duplicated=len(duplicated))
    return result
