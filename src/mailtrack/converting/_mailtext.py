"""Turning the bytes and words of a mail into text without crashing and without losing much.

* :func:`decode_header` decodes one header value: raw 8-bit bytes (UTF-8, else windows-1252) and
  RFC 2047 encoded words (any charset Python knows; an unknown one is read as UTF-8 with
  replacement characters, and said so in a note).
* :func:`one_line` makes a decoded value safe to use as one line (subjects, names): no CR, LF or
  other control characters, even when an encoded word decoded to them.
* :func:`decode_body` decodes a text part's bytes by its declared charset, falling back without
  loss (UTF-8, else windows-1252, else latin-1) and saying so in a defect.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re

__all__ = ["clean_text", "decode_body", "decode_bytes", "decode_header", "one_line", "unescape_raw"]

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(?==\?)")
_SURROGATES = re.compile("[\ud800-\udfff]")
_FOLDING = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_QP_HEX = re.compile(r"=([0-9A-Fa-f]{2})")


def clean_text(text: str) -> str:
    """*text* with lone surrogates (which no database or UTF-8 output accepts) replaced by U+FFFD."""
    return _SURROGATES.sub("\ufffd", text) if _SURROGATES.search(text) else text


# Charsets that senders declare for text that is really in a superset (as browsers and mail
# readers treat them; see the WHATWG Encoding Standard): decoding by the superset loses nothing.
_SUPERSETS = {
    "iso8859-1": "windows-1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
    "tis-620": "cp874",
    "iso8859-11": "cp874",
}


def _known_text_codecs(charset: str) -> list[str]:
    """Python codec names to try for *charset*, best first; empty when Python knows none."""
    name = charset.strip().strip("\"'").lower()
    if "*" in name:  # RFC 2231 language suffix: utf-8*en
        name = name.split("*", 1)[0]
    if name in ("unknown-8bit", "x-unknown", "unknown", ""):
        return []
    if name.endswith("-i") and name.startswith("iso-8859-"):  # iso-8859-8-i: logical order
        name = name[:-2]
    try:
        info = codecs.lookup(name)
    except LookupError:
        return []
    # bytes-to-bytes codecs (base64, zlib, rot13 …) and the escape codecs are not charsets.
    if not getattr(info, "_is_text_encoding", True) or info.name in ("unicode-escape", "raw-unicode-escape"):
        return []
    superset = _SUPERSETS.get(info.name)
    return [superset, info.name] if superset else [info.name]


def unescape_raw(value: str) -> str:
    """A header value as ``email`` keeps it (raw 8-bit bytes as surrogate escapes) as real text:
    the bytes read as UTF-8, else windows-1252, else latin-1."""
    if not _SURROGATES.search(value):
        return value
    text, _ = decode_bytes(value.encode("utf-8", "surrogateescape"), None)
    return text


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode *data* declared as *charset*; return (text, a plain-words note when it had to guess).

    Known charset: decoded by it (or by the superset senders mean by it, e.g. gb18030 for
    gb2312, windows-1252 for iso-8859-1); if the bytes are not valid in it, UTF-8 is tried,
    else the charset with replacement characters. Undeclared or unknown charset: UTF-8, else
    windows-1252, else latin-1 (which maps every byte, so nothing is lost).
    """
    names = _known_text_codecs(charset) if charset else []
    if names:
        for name in names:
            try:
                return clean_text(data.decode(name)), None
            except (UnicodeError, ValueError):
                continue
        try:
            return data.decode("utf-8"), f"is not valid {charset}; read as utf-8"
        except UnicodeDecodeError:
            pass
        if names[0] == "ascii":
            text, used = _eight_bit(data)
            return text, f"is not valid {charset}; read as {used}"
        try:
            text = data.decode(names[0], "replace")
        except (UnicodeError, ValueError, LookupError):
            text = data.decode("latin-1")
        return clean_text(text), f"is not valid {charset}; undecodable bytes replaced"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if charset is None or data.isascii():
            return text, None
        return text, f"declares the unknown charset {charset!r}; read as utf-8"
    text, used = _eight_bit(data)
    if charset is None:
        return text, f"declares no charset and is not utf-8; read as {used}"
    return text, f"declares the unknown charset {charset!r}; read as {used}"


def _eight_bit(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("windows-1252"), "windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def _decode_word(charset: str, encoding: str, payload: str, notes: list[str] | None = None) -> str | None:
    try:
        if encoding in "bB":
            data = base64.b64decode(payload + "=" * (-len(payload) % 4))
        else:
            data = _QP_HEX.sub(lambda m: chr(int(m.group(1), 16)), payload.replace("_", " ")).encode(
                "latin-1"
            )
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    if not _known_text_codecs(charset):
        # An unknown charset says nothing about the bytes: UTF-8 (the likeliest), what is not
        # UTF-8 replaced, rather than a guess that turns every byte into some letter.
        text = clean_text(data.decode("utf-8", "replace"))
        if notes is not None:
            replaced = "; undecodable bytes replaced" if "\ufffd" in text else ""
            notes.append(f"uses the unknown charset {one_line(charset)[:40]!r}; read as utf-8{replaced}")
        return text
    text, _ = decode_bytes(data, charset)
    return text


def decode_header(value: object, notes: list[str] | None = None) -> str:
    """Decode a header value as ``email`` (policy compat32) hands it out.

    Raw 8-bit bytes (kept by ``email`` as surrogate escapes) are read as UTF-8, else
    windows-1252; RFC 2047 encoded words are decoded (white space between two adjacent ones
    dropped, as the RFC says); an encoded word that cannot be decoded is kept as written. An
    encoded word in a charset Python does not know is read as UTF-8, undecodable bytes replaced,
    and a note saying so is added to *notes* (when given).
    """
    text = str(value)
    if text.isascii() and "=?" not in text:  # the usual case: nothing to decode
        return text
    text = unescape_raw(text)
    if "=?" not in text:
        return clean_text(text)
    text = _BETWEEN_WORDS.sub(r"\1", text)

    def replace(match: re.Match[str]) -> str:
        decoded = _decode_word(match.group(1), match.group(2), match.group(3), notes)
        return match.group(0) if decoded is None else decoded

    return clean_text(_ENCODED_WORD.sub(replace, text))


def one_line(text: str) -> str:
    """*text* unfolded into one line: folding removed, every other line break and control
    character turned into a space, surrounding white space stripped."""
    if text.isascii():
        if text.isprintable():  # the usual case: no break, control or surrogate
            return text.strip()
        # The next most usual: a folded field. Unfolded, with no other break or control
        # character, the general way would only turn its tabs into spaces.
        unfolded = _FOLDING.sub("", text).replace("\t", " ")
        if unfolded.isprintable():
            return unfolded.strip()
    return _one_line(text)


def _one_line(text: str) -> str:
    """:func:`one_line` the general way, for any text (its shortcuts give the same)."""
    text = _LINE_BREAKS.sub(" ", _FOLDING.sub("", text))
    text = _CONTROLS.sub(" ", text.replace("\t", " "))
    return clean_text(text).strip()


def decode_body(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode a text part; return (text, a plain-words note when it had to guess)."""
    return decode_bytes(data, charset)
