"""Base64 bodies decoded with one ``binascii`` call: what ``Message.get_payload(decode=True)``
gives, without its copies.

For a base64 part, ``email`` encodes the payload to bytes, splits it into lines, joins them again,
checks the alphabet with a regular expression and decodes (``email._encoded_words.decode_b``).
:func:`decoded_base64` deletes the line breaks in one pass and lets ``binascii`` check and
decode at once (``strict_mode``). It answers only when the result is certainly the same: the
payload is ASCII, whole groups of four, valid base64 with its padding at the very end (then
``email`` notes no defect either); for anything else it answers ``None`` and the caller asks
``get_payload``, which handles the payload as before, defects and all.

With the ``speed`` extra (pybase64, SIMD base64), pybase64 decodes first, about four times as
fast; whatever it refuses goes on to ``binascii`` as above. Where pybase64's strict decoding
takes a payload, ``binascii``'s gives the same bytes (tests/converting/test_payloads.py).
"""

from __future__ import annotations

import binascii
import functools
import sys
from collections.abc import Callable
from email.message import Message

__all__ = ["decoded_base64"]

#: pybase64's strict decoding, when the ``speed`` extra is installed.
_simd_base64: Callable[[bytes], bytes] | None
try:
    import pybase64
except ImportError:  # pragma: no cover - depends on the extras installed
    _simd_base64 = None
else:
    _simd_base64 = functools.partial(pybase64.b64decode, validate=True)

#: Checks and decodes base64 at once: ``binascii.a2b_base64(data, strict_mode=True)`` (3.11+).
_strict_base64: Callable[[bytes], bytes] | None = None
if sys.version_info >= (3, 11):  # pragma: no cover - depends on the interpreter

    def _decode_strictly(data: bytes) -> bytes:
        simd = _simd_base64
        if simd is not None:
            try:
                return simd(data)
            except (binascii.Error, ValueError):
                pass  # refused by pybase64's strict mode: binascii's decides, as without it
        return binascii.a2b_base64(data, strict_mode=True)

    _strict_base64 = _decode_strictly


def decoded_base64(part: Message, payload: object = None) -> bytes | None:
    """The decoded content of a base64 leaf *part*, or ``None`` when ``get_payload`` must decide
    (always on Python 3.10, whose ``binascii`` has no ``strict_mode``).

    Args:
        payload: what ``part.get_payload()`` gives, when the caller has it (``None``: asked here).
    """
    decode = _strict_base64
    if decode is None:
        return None
    if payload is None:
        payload = part.get_payload()
    if not isinstance(payload, str):
        return None
    if str(part.get("content-transfer-encoding", "")).lower() != "base64":
        return None
    try:
        encoded = payload.encode("ascii")
    except UnicodeEncodeError:  # surrogates or other non-ASCII text: email's own handling
        return None
    # bytes.splitlines() breaks at CR, LF and CRLF only: deleting both is the same join.
    joined = encoded.translate(None, b"\r\n")
    if len(joined) % 4 or joined.endswith(b"==="):
        # Not whole groups: email pads them. More than two "=": binascii takes them as padding,
        # email as characters outside the alphabet. Either way email notes a defect.
        return None
    try:
        return decode(joined)
    except binascii.Error:
        return None  # characters outside the alphabet, padding inside: email's lenient decoding
