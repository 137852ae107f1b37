"""Which record a message belongs to: the evidence, weighed in the interface's order.

Three kinds of evidence name a record (:attr:`ImportPolicy.evidence_order
<mailtrack.ImportPolicy.evidence_order>`, strongest first by default):

``token``
    a valid signed reply token in a recipient's plus-address (``support+r42.…@example.com``):
    the sender answered mail the host sent for record 42.
``references``
    In-Reply-To or References naming the Message-ID of a stored detail, or of mail the host sent
    for a record (a signed Message-ID made by :func:`~mailtrack.outgoing_headers`). In-Reply-To
    first, then References newest first: the closest ancestor wins.
``subject``
    the record tag in the subject (``[#42]``, or the interface's :attr:`~mailtrack.MailInterface.tag`).

Each is looked for; the first kind in the order that names a record of the interface's project
decides. When another kind names a different record, a note says which won and why. A forged or
altered token names nothing and is noted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from .._reply_tokens import TokenFinding, find_tokens, signed_record
from ..abc import Matcher, RecordStore
from ..config import MailInterface
from ..models import IncomingMessage

__all__ = ["Evidence", "Found", "MAX_THREAD_LOOKUPS", "gather", "thread_ids"]

#: Hostile References headers can list thousands of IDs; the newest few are what matters.
MAX_THREAD_LOOKUPS = 20

_KIND_WORDS = {
    "token": "the signed reply token",
    "references": "In-Reply-To/References",
    "subject": "the subject",
}


@attrs.frozen(kw_only=True)
class Evidence:
    """One kind of evidence naming one record."""

    #: ``"token"``, ``"references"`` or ``"subject"``.
    kind: str
    record_id: int
    #: Whether the record exists in the interface's project.
    found: bool
    #: What was found, in plain words (``"the subject names #42"``).
    words: str


@attrs.frozen(kw_only=True)
class Found:
    """All evidence a message carries, and the record it decides on."""

    evidence: tuple[Evidence, ...] = ()
    #: The evidence that decides (the first kind in the order naming a record of the project).
    chosen: Evidence | None = None
    #: A valid token in a recipient's address or in In-Reply-To names :attr:`chosen`'s record:
    #: the sender received the host's mail for it (counts for the sender policy).
    vouched: bool = False
    #: Lines for the run's notes (conflicts, forged tokens, records of other projects).
    notes: tuple[str, ...] = ()

    def of(self, kind: str) -> Evidence | None:
        """The evidence of *kind*, or ``None``."""
        return next((item for item in self.evidence if item.kind == kind), None)


def thread_ids(message: IncomingMessage) -> list[str]:
    """The Message-IDs threading looks up: In-Reply-To, then References newest first (bounded)."""
    candidates = dict.fromkeys(
        (*message.in_reply_to[:MAX_THREAD_LOOKUPS], *message.references[::-1][:MAX_THREAD_LOOKUPS])
    )
    return list(candidates)[:MAX_THREAD_LOOKUPS]


def gather(
    message: IncomingMessage,
    *,
    interface: MailInterface,
    store: RecordStore,
    matcher: Matcher,
    existing: set[tuple[int, str]] | None = None,
) -> Found:
    """Look for every kind of evidence in *message* and choose by the interface's order.

    Args:
        existing: ``(record ID, project)`` of records known to exist, not asked again; the
            records found to exist are added.

    Raises:
        StoreError: looking up records failed.
    """
    order = interface.policy.evidence_order
    project = interface.project
    known: dict[int, bool] = {}
    found_before = set() if existing is None else existing

    def exists(record_id: int) -> bool:
        """Whether the record is one of the project's (asked once per record and message, and
        not again once it was found)."""
        if (record_id, project) in found_before:
            return True
        if record_id not in known:
            known[record_id] = store.has_record(record_id, project)
            if known[record_id]:
                found_before.add((record_id, project))
        return known[record_id]

    notes: list[str] = []
    evidence: list[Evidence] = []
    tokens = find_tokens(message, interface.policy.reply_keys) if {"token", "references"} & set(order) else []
    forged = [finding for finding in tokens if finding.record_id is None]
    if forged:
        more = f" and {len(forged) - 1} more" if len(forged) > 1 else ""
        notes.append(
            f"a forged or altered reply token ({forged[0].text!r} in {forged[0].place}{more}) was ignored"
        )
    if "token" in order:
        item = _from_tokens(exists, [t for t in tokens if t.place == "address"])
        if item is not None:
            evidence.append(item)
    if "references" in order:
        item = _from_references(exists, store, message, interface.policy.reply_keys)
        if item is not None:
            evidence.append(item)
    if "subject" in order:
        named = matcher.match(message.subject)
        if named is not None:
            found = exists(named)
            evidence.append(
                Evidence(kind="subject", record_id=named, found=found, words=f"the subject names #{named}")
            )
    for item in evidence:
        if not item.found:
            notes.append(f"{item.words}, which is no record of project {project!r}")
    ranked = sorted((item for item in evidence if item.found), key=lambda item: order.index(item.kind))
    chosen = ranked[0] if ranked else None
    if chosen is not None:
        for other in ranked[1:]:
            if other.record_id != chosen.record_id:
                notes.append(
                    f"{chosen.words} but {other.words}; #{chosen.record_id} wins ({_KIND_WORDS[chosen.kind]} "
                    f"comes before {_KIND_WORDS[other.kind]} in the evidence order)"
                )
    vouched = chosen is not None and any(
        t.record_id == chosen.record_id and t.place in ("address", "in-reply-to") for t in tokens
    )
    return Found(evidence=tuple(evidence), chosen=chosen, vouched=vouched, notes=tuple(notes))


def _from_tokens(exists: Callable[[int], bool], tokens: list[TokenFinding]) -> Evidence | None:
    valid = [t for t in tokens if t.record_id is not None]
    if not valid:
        return None
    first = valid[0]
    assert first.record_id is not None
    found = exists(first.record_id)
    return Evidence(
        kind="token",
        record_id=first.record_id,
        found=found,
        words=f"the signed reply token names #{first.record_id}",
    )


def _from_references(
    exists: Callable[[int], bool], store: RecordStore, message: IncomingMessage, keys: Sequence[str]
) -> Evidence | None:
    ids = thread_ids(message)
    if not ids:
        return None
    stored = store.record_ids_by_message_ids(ids)
    first_other: int | None = None
    for message_id in ids:
        record_id = stored.get(message_id)
        what = "a message of"
        if record_id is None:
            record_id = signed_record(keys, message_id)
            what = "mail sent for"
        if record_id is None:
            continue
        words = f"In-Reply-To/References name {what} #{record_id}"
        if exists(record_id):
            return Evidence(kind="references", record_id=record_id, found=True, words=words)
        if first_other is None:
            first_other = record_id
    if first_other is None:
        return None
    return Evidence(
        kind="references",
        record_id=first_other,
        found=False,
        words=f"In-Reply-To/References name a message of #{first_other}",
    )
