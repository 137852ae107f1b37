"""Safe attachment file names.

A name that comes with a mail is chosen by whoever sent it. Before anybody writes it to a disk
or puts it in a ``Content-Disposition`` header, :func:`safe_filename` turns it into a plain
base name: no directories, no ``..``, no control, format (bidi) or unassigned characters, none of
the characters Windows forbids, no reserved Windows device names (``CON``, ``nul.txt``), no
leading dots, no trailing dots or spaces, and a bounded length that keeps the extension.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Set

__all__ = ["MAX_FILENAME_BYTES", "MAX_FILENAME_CHARS", "extension_for", "safe_filename", "unique_filename"]

#: Longest safe name in characters.
MAX_FILENAME_CHARS = 200
#: Longest safe name in UTF-8 bytes (most file systems allow 255 bytes per name).
MAX_FILENAME_BYTES = 240
#: An extension longer than this is not kept apart when a name is shortened.
_MAX_EXTENSION_CHARS = 16

# Categories dropped outright: controls (NUL, C0, DEL, C1), format characters (bidi overrides
# such as U+202E, zero-width joiners, BOM, soft hyphen), surrogates, private use, unassigned,
# line and paragraph separators.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Characters that Windows does not allow in a name, and the path separators everywhere.
_FORBIDDEN = frozenset('<>:"/\\|?*')
_RESERVED_WINDOWS = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"{device}{n}" for device in ("COM", "LPT") for n in (*"123456789", "\u00b9", "\u00b2", "\u00b3")}
)
_SPACES = re.compile(r"\s+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9_+-]*\Z")

# Extensions for the types mail carries most, so that unnamed parts get the same name on every
# machine (mimetypes alone may read the system's mime.types).
_EXTENSIONS = {
    "application/gzip": ".gz",
    "application/json": ".json",
    "application/msword": ".doc",
    "application/octet-stream": ".bin",
    "application/pdf": ".pdf",
    "application/pgp-signature": ".asc",
    "application/pkcs7-signature": ".p7s",
    "application/x-pkcs7-signature": ".p7s",
    "application/zip": ".zip",
    "application/ms-tnef": ".dat",
    "application/vnd.ms-tnef": ".dat",
    "image/gif": ".gif",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/png": ".png",
    "image/svg+xml": ".svg",
    "image/webp": ".webp",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/enriched": ".txt",
    "text/html": ".html",
    "text/plain": ".txt",
    "text/rfc822-headers": ".txt",
    "text/richtext": ".rtx",
    "text/rtf": ".rtf",
    "application/rtf": ".rtf",
    "text/x-vcard": ".vcf",
    "text/vcard": ".vcf",
}
# Python's built-in table only, never the machine's mime.types: the same type gives the same name
# everywhere.
_BUILTIN_TYPES = mimetypes.MimeTypes(filenames=())


def extension_for(content_type: str) -> str:
    """The usual extension (with its dot) for *content_type*, or ``".bin"`` when there is none."""
    kind = content_type.strip().lower()
    known = _EXTENSIONS.get(kind)
    if known:
        return known
    guessed = _BUILTIN_TYPES.guess_extension(kind, strict=False)
    if guessed and _EXTENSION.match(guessed):
        return guessed
    return ".bin"


def _clean_characters(name: str) -> str:
    cleaned: list[str] = []
    for char in name:
        if char in _FORBIDDEN:
            cleaned.append("_")
        elif char.isspace():  # tab, line breaks, no-break and other spaces
            cleaned.append(" ")
        elif unicodedata.category(char) in _DROPPED_CATEGORIES:
            continue
        else:
            cleaned.append(char)
    return _SPACES.sub(" ", "".join(cleaned))


def _split_extension(name: str) -> tuple[str, str]:
    match = _EXTENSION.search(name)
    if match is None or match.start() == 0 or len(match.group()) > _MAX_EXTENSION_CHARS:
        return name, ""
    return name[: match.start()], match.group()


def _fits(name: str, max_chars: int) -> bool:
    return len(name) <= max_chars and len(name.encode("utf-8")) <= MAX_FILENAME_BYTES


def _shorten(name: str, max_chars: int) -> str:
    if _fits(name, max_chars):
        return name
    stem, extension = _split_extension(name)
    stem = stem[: max(1, max_chars - len(extension))]
    while stem and not _fits(stem + extension, max_chars):
        stem = stem[:-1]
    return (stem.rstrip(" .") or "file") + extension


def _is_reserved(name: str) -> bool:
    # Windows maps "nul.txt", "NUL .tar.gz" and "con" to devices: the part before the first dot
    # decides, trailing spaces ignored.
    stem = name.split(".", 1)[0].rstrip(" ")
    return stem.upper() in _RESERVED_WINDOWS


def safe_filename(name: str, *, fallback: str, max_chars: int = MAX_FILENAME_CHARS) -> str:
    """Turn *name* (as the sender gave it, decoded) into a name safe to use as a file name.

    Only the last path component is kept (``../../etc/passwd`` gives ``passwd``, ``C:\\x\\a.txt``
    gives ``a.txt``). Characters that are dangerous or invisible are dropped, those that Windows
    forbids become ``_``, runs of white space become one space; leading dots and spaces and
    trailing dots and spaces go; a reserved Windows device name gets a ``_`` in front; a name
    longer than *max_chars* characters (or :data:`MAX_FILENAME_BYTES` UTF-8 bytes) is shortened,
    keeping its extension.

    Args:
        name: The name from the mail (may be empty or hostile).
        fallback: Used when nothing usable is left (it is made safe the same way).
        max_chars: Longest result in characters.

    Returns:
        A non-empty name without directory parts, at most *max_chars* characters.
    """
    text = unicodedata.normalize("NFC", name)
    components = [part for part in re.split(r"[/\\]", text) if part.strip(" .")]
    text = components[-1] if components else ""
    text = _clean_characters(text).strip(" .")
    if not text or not text.strip("_ "):
        if fallback == name:
            return "file"
        return safe_filename(fallback, fallback="file", max_chars=max_chars)
    if _is_reserved(text):
        text = "_" + text
    return _shorten(text, max_chars)


def unique_filename(name: str, taken: Set[str], *, max_chars: int = MAX_FILENAME_CHARS) -> str:
    """*name*, or ``stem-2.ext``, ``stem-3.ext`` … so that it is not in *taken* (compared case-folded).

    Args:
        name: A name already made safe by :func:`safe_filename`.
        taken: Case-folded names in use.
        max_chars: Longest result in characters.
    """
    if name.casefold() not in taken:
        return name
    stem, extension = _split_extension(name)
    number = 2
    while True:
        suffix = f"-{number}"
        trimmed = stem
        while trimmed and not _fits(trimmed + suffix + extension, max_chars):
            trimmed = trimmed[:-1]
        candidate = (trimmed or "file") + suffix + extension
        if candidate.casefold() not in taken:
            return candidate
        number += 1
