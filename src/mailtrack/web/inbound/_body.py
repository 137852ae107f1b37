"""Reading a webhook's request body within its limit: spooled to a temporary file beyond a small
size, refused with 413 before it is read whole when it is too large, and taken apart (multipart,
URL-encoded form, JSON) from the spool.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import urllib.parse
from typing import IO, Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

__all__ = ["Body", "BodyTooLarge", "MalformedBody", "json_value", "read_body"]

#: Bodies (and multipart fields) up to this size stay in memory; larger ones go to a temporary file.
SPOOL_IN_MEMORY = 256 * 1024

_UNREAD = object()

#: Form fields besides the message that are kept at most this long (an envelope, a signature).
_SMALL_FIELD = 64 * 1024

#: A form is taken apart before any signature in it can be checked, so its shape is bounded:
#: at most this many fields (the services post a few dozen, one more per attachment) …
MAX_FIELDS = 1000
#: … each name at most this long …
MAX_FIELD_NAME = 256
#: … and each part at most this many headers, each at most this long (recent python-multipart
#: has limits of its own a little above these; the extra allows versions without them).
MAX_PART_HEADERS = 8
MAX_PART_HEADER = 4096


class BodyTooLarge(Exception):
    """The body is larger than the limit (answered 413)."""


class MalformedBody(Exception):
    """The body is not what its Content-Type says (answered 400)."""


def json_value(data: str | bytes, what: str) -> Any:
    """*data* parsed as JSON.

    Raises:
        MalformedBody: it is not JSON, or nested too deeply to parse (*what* names it).
    """
    try:
        return json.loads(data)
    except ValueError as exc:
        raise MalformedBody(f"{what} is not JSON ({exc})") from None
    except RecursionError:
        raise MalformedBody(f"{what} is JSON nested too deeply") from None


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)


class Body:
    """A request body held in a spool, with the form fields or JSON taken out of it on demand."""

    def __init__(self, spool: IO[bytes], size: int, content_type: str) -> None:
        self.spool = spool
        self.size = size
        self.content_type = content_type
        self._fields: dict[str, IO[bytes]] | None = None
        self._json: Any = _UNREAD

    def close(self) -> None:
        self.spool.close()
        for field in (self._fields or {}).values():
            field.close()

    def raw(self) -> bytes:
        """The whole body."""
        self.spool.seek(0)
        return self.spool.read()

    def json(self) -> Any:
        """The body as JSON.

        Raises:
            MalformedBody: it is not JSON.
        """
        if self._json is _UNREAD:
            self._json = json_value(self.raw(), "the body")
        return self._json

    def json_object(self, what: str) -> dict[str, Any]:
        """The body as a JSON object.

        Raises:
            MalformedBody: it is not JSON, or not an object (*what* names the body).
        """
        value = self.json()
        if not isinstance(value, dict):
            raise MalformedBody(f"{what} is not a JSON object")
        return value

    def parse(self) -> None:
        """Take the body apart now, as its Content-Type says (a form or JSON), so that the
        service's handler finds it done (called in a worker thread: it may take a while). A body
        that is not what it says is left for the handler, which may not need it taken apart (the
        relay's message, which ``curl --data-binary`` labels as a form)."""
        kind = self.content_type.partition(";")[0].strip().lower()
        with contextlib.suppress(MalformedBody):
            if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
                self.fields()
            elif kind in ("application/json", "text/plain"):  # SNS posts its JSON as text/plain
                self.json()

    def fields(self) -> dict[str, IO[bytes]]:
        """The form's fields (``multipart/form-data`` or URL-encoded), each value in a spool of
        its own; a field given twice keeps its first value.

        Raises:
            MalformedBody: the body is not a form, or a broken one.
        """
        if self._fields is None:
            kind, options = parse_options_header(self.content_type)
            if kind == b"multipart/form-data":
                boundary = options.get(b"boundary")
                if not boundary:
                    raise MalformedBody("a multipart/form-data body without a boundary")
                self._fields = _multipart(self.spool, boundary)
            elif kind == b"application/x-www-form-urlencoded":
                self._fields = _urlencoded(self.raw())
            else:
                shown = kind.decode("latin-1")[:80] or "none"
                raise MalformedBody(f"expected a form (multipart/form-data), got Content-Type {shown}")
        return self._fields

    def text(self, name: str, *, limit: int = _SMALL_FIELD) -> str | None:
        """A small field's value as text (``None`` when absent; cut at *limit* bytes)."""
        field = self.fields().get(name)
        if field is None:
            return None
        field.seek(0)
        return field.read(limit).decode("utf-8", "replace")

    def value(self, name: str) -> bytes | None:
        """A field's whole value as bytes (``None`` when absent)."""
        field = self.fields().get(name)
        if field is None:
            return None
        field.seek(0)
        return field.read()

    def form_pairs(self) -> list[tuple[str, str]]:
        """Every field as text, for a signature over the parameters (Mandrill's)."""
        return [(name, (self.text(name, limit=self.size) or "")) for name in self.fields()]


def _field_name(name: str) -> str:
    if len(name) > MAX_FIELD_NAME:
        raise MalformedBody(f"a form field name longer than {MAX_FIELD_NAME} characters")
    return name


def _multipart(spool: IO[bytes], boundary: bytes) -> dict[str, IO[bytes]]:
    fields: dict[str, IO[bytes]] = {}
    current: dict[str, Any] = {"parts": 0, "file": None, "header_field": b"", "header_value": b""}
    headers: dict[bytes, bytes] = {}

    def on_part_begin() -> None:
        current["parts"] += 1
        if current["parts"] > MAX_FIELDS:
            raise MalformedBody(f"a form with more than {MAX_FIELDS} fields")
        headers.clear()
        current["file"] = _spool()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        current["file"].write(data[start:end])

    def grow(key: str, data: bytes) -> None:
        current[key] += data
        if len(current["header_field"]) + len(current["header_value"]) > MAX_PART_HEADER:
            raise MalformedBody(f"a form part header longer than {MAX_PART_HEADER} bytes")

    def on_header_field(data: bytes, start: int, end: int) -> None:
        grow("header_field", data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        grow("header_value", data[start:end])

    def on_header_end() -> None:
        headers[current["header_field"].lower()] = current["header_value"]
        current["header_field"] = b""
        current["header_value"] = b""
        if len(headers) > MAX_PART_HEADERS:
            raise MalformedBody(f"a form part with more than {MAX_PART_HEADERS} headers")

    def on_part_end() -> None:
        _kind, options = parse_options_header(headers.get(b"content-disposition", b""))
        name = _field_name(options.get(b"name", b"").decode("utf-8", "replace"))
        if name and name not in fields:
            fields[name] = current["file"]
        else:
            current["file"].close()

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
        },
    )
    spool.seek(0)
    try:
        while chunk := spool.read(64 * 1024):
            parser.write(chunk)
        parser.finalize()
    except Exception as exc:  # python-multipart's errors on a broken body, and the limits above
        for field in fields.values():
            field.close()
        if current["file"] is not None:
            current["file"].close()
        if isinstance(exc, MalformedBody):
            raise
        raise MalformedBody(f"a broken multipart body ({exc})") from None
    return fields


def _urlencoded(body: bytes) -> dict[str, IO[bytes]]:
    fields: dict[str, IO[bytes]] = {}
    try:
        # Latin-1 keeps every percent-encoded byte as it was (a raw message may have 8-bit bytes).
        pairs = urllib.parse.parse_qsl(
            body.decode("ascii"), keep_blank_values=True, encoding="latin-1", max_num_fields=MAX_FIELDS
        )
    except UnicodeDecodeError:
        raise MalformedBody("a URL-encoded body with bytes outside ASCII") from None
    except ValueError:
        raise MalformedBody(f"a form with more than {MAX_FIELDS} fields") from None
    for name, value in pairs:
        name = _field_name(name.encode("latin-1").decode("utf-8", "replace"))
        if name not in fields:
            spool = _spool()
            spool.write(value.encode("latin-1"))
            fields[name] = spool
    return fields


async def read_body(request: Request, limit: int) -> Body:
    """The request's body, spooled; refused before it is read whole when over *limit* bytes.

    Raises:
        BodyTooLarge: Content-Length announces more than *limit*, or more than *limit* arrived.
        MalformedBody: Content-Length is not a number.
    """
    announced = request.headers.get("content-length")
    if announced is not None:
        if not announced.isdigit():
            raise MalformedBody("Content-Length is not a number")
        if int(announced) > limit:
            raise BodyTooLarge(f"the body has {int(announced)} bytes; at most {limit} are taken")
    spool = _spool()
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"the body has more than {limit} bytes")
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    return Body(spool, size, request.headers.get("content-type", ""))
