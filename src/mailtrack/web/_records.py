"""The records list and the record page: details, the sandboxed HTML frame, the raw header, attachments."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .._html import display_html
from ..exceptions import RecordNotFoundError
from ..models import Attachment, Detail, Record
from ._pages import path_for, render, site, whole_number

__all__ = ["DOWNLOAD_POLICY", "FRAME_POLICY", "content_disposition", "routes", "text_blocks"]

#: The policy of the frame that shows a message's HTML: no script, no form, no plugin, nothing
#: from the network; only the message's own images (``cid:``) and inline styles; sandboxed.
FRAME_POLICY = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
)
#: The policy of a download: nothing in it may load or run, should a browser ever show it. (No
#: ``sandbox``: Chromium refuses downloads whose response is sandboxed.)
DOWNLOAD_POLICY = "default-src 'none'; frame-ancestors 'none'"
#: Images a browser shows without running anything; only these are served inline (``cid:``).
_INLINE_IMAGES = frozenset({"image/png", "image/gif", "image/jpeg", "image/webp", "image/bmp"})


def content_disposition(disposition: str, filename: str) -> str:
    """A ``Content-Disposition`` value with an ASCII fallback and the UTF-8 name (RFC 6266)."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\%;' else "_" for ch in filename)
    return (
        f"{disposition}; filename=\"{fallback or 'download'}\"; filename*=UTF-8''{quote(filename, safe='')}"
    )


def text_blocks(text: str) -> list[dict[str, Any]]:
    """The text in blocks, quoted history (``>`` lines) apart so that the page can fold it."""
    blocks: list[dict[str, Any]] = []
    for line in text.splitlines():
        quoted = line.lstrip().startswith(">")
        if blocks and blocks[-1]["quoted"] == quoted:
            blocks[-1]["lines"].append(line)
        else:
            blocks.append({"quoted": quoted, "lines": [line]})
    return [{"quoted": b["quoted"], "text": "\n".join(b["lines"]), "count": len(b["lines"])} for b in blocks]


def _record(request: Request) -> Record:
    record_id = whole_number(request.path_params["record_id"], default=0, name="record")
    try:
        return site(request).store.get_record(record_id, load_content=False)
    except RecordNotFoundError:
        raise HTTPException(404, f"There is no record #{record_id}.") from None


def _detail(record: Record, detail_id: str) -> Detail:
    found = next((d for d in record.details if str(d.id) == detail_id), None)
    if found is None:
        raise HTTPException(404, f"Record #{record.id} has no detail {detail_id}.")
    return found


def _attachment(record: Record, attachment_id: str) -> Attachment:
    for detail in record.details:
        for attachment in detail.attachments:
            if str(attachment.id) == attachment_id:
                return attachment
    raise HTTPException(404, f"Record #{record.id} has no attachment {attachment_id}.")


async def records(request: Request) -> Response:
    found = site(request)
    project = request.query_params.get("project") or None
    page = max(whole_number(request.query_params.get("page"), default=1, name="page"), 1)
    size = found.page_size
    listed = await run_in_threadpool(
        found.store.list_records, project, limit=size + 1, offset=(page - 1) * size, order="updated"
    )
    projects = sorted(
        {i.project for i in found.config.interfaces} | {i.project for i in found.store.list_interfaces()}
    )
    return render(
        request,
        "records.html",
        {
            "records": listed[:size],
            "project": project,
            "projects": projects,
            "page": page,
            "more": len(listed) > size,
        },
    )


async def record(request: Request) -> Response:
    shown = await run_in_threadpool(_record, request)
    details = [{"detail": d, "blocks": text_blocks(d.text)} for d in shown.details]
    return render(request, "record.html", {"record": shown, "details": details})


async def detail_html(request: Request) -> Response:
    """The sanitised HTML of one detail, for the sandboxed frame of the record page."""
    shown = await run_in_threadpool(_record, request)
    detail = _detail(shown, request.path_params["detail_id"])

    def image_url(attachment: Attachment) -> str:
        return path_for(request, "inline_image", record_id=shown.id, attachment_id=attachment.id)

    html = display_html(detail, cid_url=image_url) or ""
    page = f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{html}</body></html>'
    return HTMLResponse(page, headers={"Content-Security-Policy": FRAME_POLICY})


async def headers(request: Request) -> Response:
    """The raw header block as sent, as text (the "Raw header" link)."""
    shown = await run_in_threadpool(_record, request)
    detail = _detail(shown, request.path_params["detail_id"])
    return render(request, "headers.html", {"record": shown, "detail": detail})


async def _content(request: Request, attachment: Attachment) -> bytes:
    assert attachment.id is not None
    return await run_in_threadpool(site(request).store.get_attachment_content, attachment.id)


async def download(request: Request) -> Response:
    """An attachment, byte-identical, always as a download under its safe name."""
    shown = await run_in_threadpool(_record, request)
    attachment = _attachment(shown, request.path_params["attachment_id"])
    content = await _content(request, attachment)
    return Response(
        content,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": content_disposition("attachment", attachment.filename),
            "Content-Security-Policy": DOWNLOAD_POLICY,
        },
    )


async def inline_image(request: Request) -> Response:
    """An image the HTML names by ``cid:``, for the frame; anything but a raster image is refused."""
    shown = await run_in_threadpool(_record, request)
    attachment = _attachment(shown, request.path_params["attachment_id"])
    kind = attachment.content_type.split(";", 1)[0].strip().lower()
    if kind not in _INLINE_IMAGES or attachment.active_content:
        raise HTTPException(404, "Only images are shown inline; download the file instead.")
    content = await _content(request, attachment)
    return Response(
        content,
        media_type=kind,
        headers={
            "Content-Disposition": content_disposition("inline", attachment.filename),
            "Content-Security-Policy": DOWNLOAD_POLICY,
        },
    )


routes = [
    Route("/records", records, name="records"),
    Route("/records/{record_id}", record, name="record"),
    Route("/records/{record_id}/details/{detail_id}/html", detail_html, name="detail_html"),
    Route("/records/{record_id}/details/{detail_id}/headers", headers, name="headers"),
    Route("/records/{record_id}/attachments/{attachment_id}", download, name="download"),
    Route("/records/{record_id}/attachments/{attachment_id}/image", inline_image, name="inline_image"),
]
