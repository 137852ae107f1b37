"""Realistic raw RFC 5322 messages for tests, built with the standard library's ``EmailMessage``."""

from __future__ import annotations

import email.policy
import email.utils
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from email.message import EmailMessage

__all__ = ["DEFAULT_DATE", "build_message"]

#: The Date of a built message unless one is given (fixed, so tests are repeatable).
DEFAULT_DATE = datetime(2024, 5, 6, 9, 30, tzinfo=timezone.utc)

_Addresses = str | Sequence[str]


def build_message(
    *,
    subject: str | None = "Printer on the second floor is jammed",
    sender: str | None = "Alice Example <alice@example.com>",
    to: _Addresses = "Support <support@example.com>",
    cc: _Addresses = (),
    text: str | None = "Hello,\n\nthe printer jams on every second page.\n\nAlice\n",
    html: str | None = None,
    attachments: Iterable[tuple[str, str, bytes]] = (),
    inline_images: Iterable[tuple[str, str, bytes]] = (),
    message_id: str | None = None,
    date: datetime | str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    charset: str = "utf-8",
) -> bytes:
    """A raw message (CRLF line ends, as POP3 delivers it) with the given parts.

    Args:
        subject: the Subject (``None``: no Subject header).
        sender: the From header (``None``: no From header).
        to: one address or several (``()``: no To header); ``cc`` likewise.
        text: the plain-text body (``None``: none).
        html: an HTML body; with *text* the two become ``multipart/alternative``.
        attachments: ``(filename, content_type, content)`` for each attached file.
        inline_images: ``(content_id, content_type, content)`` for each image the HTML shows
            with ``<img src="cid:content_id">`` (``multipart/related``); needs *html*.
        message_id: the Message-ID, with or without angle brackets; ``None`` makes a unique one,
            ``""`` leaves the header out.
        date: the Date (a datetime, or a header value taken as is); default :data:`DEFAULT_DATE`.
        in_reply_to: the In-Reply-To message ID; *references*: the References IDs.
        headers: extra header fields, added in order (pairs allow a name twice, e.g. Received).
        charset: the charset of the text and HTML bodies (e.g. ``"iso-8859-1"``); the bodies
            must be encodable in it.

    Example:
        >>> raw = build_message(subject="Re: [#42] printer", text="Fixed?")
        >>> b"Subject: Re: [#42] printer" in raw
        True
    """
    message = EmailMessage(policy=email.policy.default)
    if sender is not None:
        message["From"] = sender
    if to:
        message["To"] = _join(to)
    if cc:
        message["Cc"] = _join(cc)
    if subject is not None:
        message["Subject"] = subject
    if date is None:
        date = DEFAULT_DATE
    message["Date"] = date if isinstance(date, str) else email.utils.format_datetime(date)
    if message_id is None:
        message_id = f"{uuid.uuid4().hex}@mailtrack.test"
    if message_id:
        message["Message-ID"] = _angle(message_id)
    if in_reply_to:
        message["In-Reply-To"] = _angle(in_reply_to)
    if references:
        message["References"] = " ".join(_angle(reference) for reference in references)
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        message[name] = value

    images = list(inline_images)
    if images and html is None:
        raise ValueError("inline_images need an html body that refers to them")
    if text is not None:
        message.set_content(text, charset=charset)
    if html is not None:
        if text is not None:
            message.add_alternative(html, subtype="html", charset=charset)
            html_part = message.get_body(preferencelist=("html",))
            assert isinstance(html_part, EmailMessage)
        else:
            message.set_content(html, subtype="html", charset=charset)
            html_part = message
        for content_id, content_type, content in images:
            maintype, subtype = _split_type(content_type)
            html_part.add_related(content, maintype, subtype, cid=_angle(content_id), disposition="inline")
    if text is None and html is None:
        message.set_content("", charset=charset)
    for filename, content_type, content in attachments:
        maintype, subtype = _split_type(content_type)
        # Bytes go in base64, so the content arrives byte-identical whatever its type.
        message.add_attachment(content, maintype, subtype, filename=filename)
    return message.as_bytes(policy=email.policy.SMTP)


def _join(addresses: _Addresses) -> str:
    return addresses if isinstance(addresses, str) else ", ".join(addresses)


def _angle(message_id: str) -> str:
    message_id = message_id.strip()
    return message_id if message_id.startswith("<") else f"<{message_id}>"


def _split_type(content_type: str) -> tuple[str, str]:
    maintype, _, subtype = content_type.partition("/")
    if not maintype or not subtype:
        raise ValueError(f"content type must look like 'image/png', not {content_type!r}")
    return maintype, subtype
