"""The walk of a parsed MIME tree: the body text, the HTML and the attachments of one message.

mail-parser's own walk is not used: it names unnamed parts randomly, re-encodes attachment bytes
and drops undecodable text. Here attachment content is the decoded MIME part byte for byte,
names are deterministic and safe, and text in an unknown or wrong charset is decoded without loss
where possible (with a defect saying so). The walk is iterative (trees may be deep) and checks
``max_parts`` / ``max_depth`` again: the authority is the tree ``email`` built, the pre-scan only
kept that from going wild.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from email import policy as email_policy
from email.generator import BytesGenerator
from email.message import Message

from ..config import ParseLimits
from ..exceptions import ParseError
from ..models import Attachment
from ._defects import Defects
from ._filenames import extension_for, safe_filename, unique_filename
from ._mailtext import clean_text, decode_body, decode_header, one_line, unescape_raw
from ._payloads import decoded_base64

__all__ = ["MAX_ID_LENGTH", "Parts"]

_CONTENT_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_NEWLINES = re.compile(r"\r\n?")
_BODY_TYPES = ("text/plain", "text/html")
#: Longest Message-ID or Content-ID kept (RFC 5322's line length).
MAX_ID_LENGTH = 998


class Parts:
    """The bodies and attachments of one parsed message.

    Args:
        raw: the message's bytes (for the line ending of re-serialised ``message/*`` parts).
        check_time: raises :class:`~mailtrack.ParseError` when the time budget is spent; called
            with the place (``"at MIME part 3"``) before every part.
    """

    def __init__(
        self, raw: bytes, limits: ParseLimits, defects: Defects, check_time: Callable[[str], None]
    ) -> None:
        self.raw = raw
        self.limits = limits
        self.defects = defects
        self.check_time = check_time

    def walk(self, message: Message) -> tuple[list[str], list[str], list[Attachment]]:
        """The ``text/plain`` bodies, the ``text/html`` bodies and the attachments, in order."""
        texts: list[str] = []
        htmls: list[str] = []
        attachments: list[Attachment] = []
        taken: set[str] = set()
        entities = self._entities(message)
        for index, part, embedded, payload in entities:
            self.check_time(f"at MIME part {index}")
            if embedded:
                continue
            if isinstance(payload, list):
                if part.get_content_maintype() == "message":
                    attachments.append(self._attachment(index, part, payload, taken))
                continue
            content_type = self._content_type(index, part)
            if _is_body(part, content_type):
                text = self._body_text(index, part, payload, content_type)
                if content_type == "text/html":
                    htmls.append(text)
                elif text:
                    texts.append(_NEWLINES.sub("\n", text))
            else:
                attachments.append(self._attachment(index, part, payload, taken))
        for index, part, embedded, _ in entities:
            if embedded:
                continue
            where = "the message" if index == 0 else f"part {index} ({part.get_content_type()})"
            for defect in part.defects:
                doc = (type(defect).__doc__ or type(defect).__name__).strip().splitlines()[0]
                self.defects.add(f"{where}: {doc}")
        return texts, htmls, attachments

    def _entities(self, message: Message) -> list[tuple[int, Message, bool, object]]:
        """Every MIME entity depth first: (index, part, inside a message/* attachment?, its
        ``get_payload()``).

        The payload is asked once here: for a leaf, ``get_payload()`` checks the whole text for
        raw 8-bit bytes (and then decodes it by the declared charset) on every call.
        """
        found: list[tuple[int, Message, bool, object]] = []
        stack: list[tuple[Message, int, bool]] = [(message, 0, False)]
        while stack:
            part, depth, embedded = stack.pop()
            if len(found) >= self.limits.max_parts:
                raise ParseError(
                    f"message has more than {self.limits.max_parts} MIME parts (limit max_parts)"
                )
            if depth > self.limits.max_depth:
                raise ParseError(
                    f"message nests MIME parts more than {self.limits.max_depth} deep (limit max_depth)"
                )
            children = part.get_payload()
            found.append((len(found), part, embedded, children))
            if isinstance(children, list):
                inner = embedded or part.get_content_maintype() == "message"
                stack.extend(
                    (child, depth + 1, inner) for child in reversed(children) if isinstance(child, Message)
                )
        return found

    def _content_type(self, index: int, part: Message) -> str:
        kind = part.get_content_type()
        if kind.startswith("multipart/"):
            # A multipart without (a usable) boundary: email keeps its body as text.
            return "text/plain"
        if not _CONTENT_TYPE.fullmatch(kind):
            self.defects.add(f"part {index} has an unreadable Content-Type; treated as binary data")
            return "application/octet-stream"
        return kind

    def _body_text(self, index: int, part: Message, payload: object, content_type: str) -> str:
        data = self._content(index, part, payload)
        text, note = decode_body(data, _charset(part))
        if note:
            self.defects.add(f"the {content_type} part {index} {note}")
        return text

    def _content(self, index: int, part: Message, payload: object) -> bytes:
        if isinstance(payload, list):
            return b"".join(
                _flatten(child, _line_ending(self.raw)) for child in payload if isinstance(child, Message)
            )
        fast = decoded_base64(part, payload)
        if fast is not None:
            return fast
        try:
            data = part.get_payload(decode=True)
        except Exception:  # any decoder failure: keep the raw bytes
            self.defects.add(f"part {index} could not be decoded; its raw content was kept")
            return payload.encode("ascii", "surrogateescape") if isinstance(payload, str) else b""
        return data if isinstance(data, bytes) else b""

    def _attachment(self, index: int, part: Message, payload: object, taken: set[str]) -> Attachment:
        content_type = (
            part.get_content_type()
            if part.get_content_maintype() == "message"
            else self._content_type(index, part)
        )
        original = _filename(part)
        name = safe_filename(original, fallback=f"part-{index}{extension_for(content_type)}")
        name = unique_filename(name, taken)
        taken.add(name.casefold())
        content = self._content(index, part, payload)
        content_id = _content_id(part)
        disposition = part.get_content_disposition()
        inline = disposition == "inline" or (disposition is None and content_id is not None)
        return Attachment(
            filename=name,
            original_filename=original,
            content_type=content_type,
            content_id=content_id,
            disposition="inline" if inline else "attachment",
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            content=content,
        )


def _is_body(part: Message, content_type: str) -> bool:
    return (
        content_type in _BODY_TYPES and part.get_content_disposition() != "attachment" and not _filename(part)
    )


def _charset(part: Message) -> str | None:
    charset = part.get_param("charset")
    if isinstance(charset, tuple):  # RFC 2231 form
        charset = charset[2]
    if not isinstance(charset, str):
        return None
    charset = one_line(decode_header(charset)).strip("\"' ")
    return charset or None


def _filename(part: Message) -> str:
    # email hands out a header with raw 8-bit bytes as a Header that turns them into U+FFFD;
    # the fields are read as real text instead (UTF-8, else windows-1252), keeping the name.
    fields = [
        (field, unescape_raw(str(value)))
        for field, value in part.raw_items()
        if field.lower() in ("content-disposition", "content-type")
    ]
    # get_filename() reads a parameter named filename or name (any case; the only other
    # character whose lower case holds one of their letters, U+0130, adds a combining dot):
    # where "name" is not written, there is none, and parsing the parameters would only fail
    # or find nothing (both give "").
    if not any("name" in value.lower() for _, value in fields):
        return ""
    return _filename_in(fields)


def _filename_in(fields: list[tuple[str, str]]) -> str:
    """The file name that Content-Disposition and Content-Type *fields* give, by ``email``."""
    probe = Message()
    for field, value in fields:
        probe[field] = value
    try:
        name = probe.get_filename()
    except (ValueError, LookupError, TypeError):
        return ""
    if not name:
        return ""
    return clean_text(decode_header(name)).replace("\x00", "")


def _content_id(part: Message) -> str | None:
    value = part.get("content-id")
    if value is None:
        return None
    text = one_line(decode_header(value))
    found = re.search(r"<([^<>]*)>", text)
    text = (found.group(1) if found else text).strip()
    return text[:MAX_ID_LENGTH] or None


def _line_ending(raw: bytes) -> str:
    return "\r\n" if b"\r\n" in raw[:4096] else "\n"


def _flatten(message: Message, linesep: str) -> bytes:
    buffer = io.BytesIO()
    generator = BytesGenerator(
        buffer, mangle_from_=False, maxheaderlen=0, policy=email_policy.compat32.clone(linesep=linesep)
    )
    generator.flatten(message, linesep=linesep)
    return buffer.getvalue()
