"""Signed reply tokens: a record ID with a short HMAC, carried by the mail a host sends.

A token reads ``r42.<signature>``: ``42`` is the record, the signature the first
:data:`SIGNATURE_CHARS` characters of the lower-case base32 HMAC-SHA-256 of the record ID under a
key of :attr:`ImportPolicy.reply_keys <mailtrack.ImportPolicy.reply_keys>`. It travels in two
places of the mail :func:`~mailtrack.outgoing_headers` makes:

* the Reply-To plus-address, ``support+r42.<signature>@example.com``: whoever answers writes to
  it, so a reply names its record even when subject and References are gone;
* the Message-ID, ``<mailtrack.r42.<signature>.<random>@example.com>``: a reply's In-Reply-To
  or References then names mail the host sent for that record, without the store keeping it.

Verification takes every key (the first signs, older ones still verify, so keys rotate), compares
in constant time (:func:`hmac.compare_digest`) and reads the signature case-insensitively (some
mail systems fold the case of local parts). Anything shaped like a token that does not verify is
*forged or altered*: it names nothing, and the importer notes it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence

import attrs

from .matching import recipients
from .models import IncomingMessage

__all__ = [
    "SIGNATURE_CHARS",
    "TokenFinding",
    "find_tokens",
    "message_id_for",
    "reply_address_for",
    "sign",
    "signed_record",
    "verify",
]

#: Characters of the signature: 16 base32 characters are 80 bits.
SIGNATURE_CHARS = 16
# A record ID has at most 19 digits; longer digit runs are not tokens worth verifying.
_MAX_ID_DIGITS = 19
# Token-shaped text in a local part: r<digits>.<anything up to the next separator>.
_TOKEN = re.compile(r"r([0-9]{1,40})\.([^.+@\s]{1,64})", re.IGNORECASE)
_MESSAGE_ID_PREFIX = "mailtrack."
# Hostile headers can hold thousands of addresses or IDs: the first few are looked at.
_MAX_PLACES = 50


def _signature(key: str, record_id: int) -> str:
    digest = hmac.new(key.encode(), f"mailtrack-reply:{record_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:SIGNATURE_CHARS]


def sign(keys: Sequence[str], record_id: int) -> str:
    """The token for *record_id*, signed with the first of *keys*."""
    return f"r{int(record_id)}.{_signature(keys[0], int(record_id))}"


def verify(keys: Iterable[str], digits: str, signature: str) -> int | None:
    """The record ID when *signature* is valid for *digits* under one of *keys*, else ``None``."""
    if len(digits) > _MAX_ID_DIGITS or len(signature) != SIGNATURE_CHARS:
        return None
    record_id = int(digits)
    given = signature.lower().encode("ascii", "replace")
    valid = False
    for key in keys:  # every key is tried, so the time does not tell which one matched
        valid |= hmac.compare_digest(given, _signature(key, record_id).encode("ascii"))
    return record_id if valid else None


def reply_address_for(keys: Sequence[str], address: str, record_id: int) -> str:
    """*address* with the signed token for *record_id* as its plus-address detail.

    A local part that has a ``+`` already keeps it: ``support+acme@x`` gives
    ``support+acme+r42.<signature>@x``.
    """
    local, _, domain = address.rpartition("@")
    return f"{local}+{sign(keys, record_id)}@{domain}"


def message_id_for(keys: Sequence[str], address: str, record_id: int) -> str:
    """A new Message-ID (without angle brackets) carrying the signed token for *record_id*."""
    domain = address.rpartition("@")[2]
    return f"{_MESSAGE_ID_PREFIX}{sign(keys, record_id)}.{secrets.token_hex(8)}@{domain}"


def signed_record(keys: Sequence[str], message_id: str) -> int | None:
    """The record a Message-ID made by :func:`message_id_for` names, when its token verifies."""
    for digits, signature, _text in _in_message_id(message_id):
        return verify(keys, digits, signature)
    return None


@attrs.frozen(kw_only=True)
class TokenFinding:
    """A token-shaped text in a message: where, and the record it names when it verified."""

    #: ``"address"`` (a recipient's plus-address), ``"in-reply-to"`` or ``"references"``.
    place: str
    #: The record the token names, or ``None`` when it did not verify (forged or altered).
    record_id: int | None
    #: The token as found (untrusted text).
    text: str


def _in_local_part(address: str) -> Iterable[tuple[str, str, str]]:
    local = address.rpartition("@")[0] if "@" in address else address
    for detail in local.split("+")[1:]:
        hit = _TOKEN.fullmatch(detail)
        if hit is not None:
            yield hit.group(1), hit.group(2), detail


def _in_message_id(message_id: str) -> Iterable[tuple[str, str, str]]:
    local = message_id.rpartition("@")[0]
    if not local.lower().startswith(_MESSAGE_ID_PREFIX):
        return
    hit = _TOKEN.match(local, len(_MESSAGE_ID_PREFIX))
    if hit is not None:
        yield hit.group(1), hit.group(2), hit.group(0)


def find_tokens(message: IncomingMessage, keys: Sequence[str]) -> list[TokenFinding]:
    """The token-shaped texts of *message*, verified against *keys*, strongest place first:
    the recipient addresses, then In-Reply-To, then References (newest first).

    Without keys nothing is a token (an interface that signs nothing trusts no signature).
    """
    if not keys:
        return []
    places: list[tuple[str, Iterable[tuple[str, str, str]]]] = [
        ("address", (found for address in recipients(message) for found in _in_local_part(address))),
        (
            "in-reply-to",
            (found for mid in message.in_reply_to[:_MAX_PLACES] for found in _in_message_id(mid)),
        ),
        (
            "references",
            (found for mid in message.references[::-1][:_MAX_PLACES] for found in _in_message_id(mid)),
        ),
    ]
    findings: list[TokenFinding] = []
    for place, candidates in places:
        for digits, signature, text in candidates:
            record_id = verify(keys, digits, signature)
            findings.append(TokenFinding(place=place, record_id=record_id, text=text))
    return findings
