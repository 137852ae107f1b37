"""The quarantine: each message with its reason; retry, discard (after confirming), download as .eml."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..config import MailInterface
from ..exceptions import InterfaceNotFoundError, MailtrackError, QuarantineNotFoundError
from ..models import QuarantinedMessage
from ._pages import Site, redirect, render, site, whole_number
from ._records import DOWNLOAD_POLICY, content_disposition
from ._security import checked_form

__all__ = ["routes"]


def _item(request: Request) -> QuarantinedMessage:
    quarantine_id = whole_number(request.path_params["quarantine_id"], default=0, name="message")
    try:
        return site(request).store.get_quarantined(quarantine_id)
    except QuarantineNotFoundError:
        raise HTTPException(404, f"There is no quarantined message {quarantine_id}.") from None


async def _page(request: Request, *, error: str | None = None) -> Response:
    items = await run_in_threadpool(site(request).store.list_quarantined)
    notice = request.query_params.get("notice")
    return render(
        request,
        "quarantine.html",
        {"items": items, "notice": notice, "error": error},
        status=409 if error else 200,
    )


async def quarantine(request: Request) -> Response:
    return await _page(request)


async def download_raw(request: Request) -> Response:
    """The raw message exactly as the server sent it, as ``quarantined-ID.eml``."""
    item = await run_in_threadpool(_item, request)
    return Response(
        item.raw,
        media_type="message/rfc822",
        headers={
            "Content-Disposition": content_disposition("attachment", f"quarantined-{item.id}.eml"),
            "Content-Security-Policy": DOWNLOAD_POLICY,
        },
    )


def _interface(found: Site, name: str) -> MailInterface:
    interface = found.file_interface(name)
    if interface is not None:
        return interface
    return found.store.get_interface(name)


async def retry(request: Request) -> Response:
    """Import the message again with its interface's settings; it leaves the quarantine when it works."""
    await checked_form(request)
    found = site(request)
    item = await run_in_threadpool(_item, request)

    def retry_one() -> str:
        try:
            interface = _interface(found, item.interface)
        except InterfaceNotFoundError:
            return f"interface {item.interface!r} is no longer configured; add it again to retry the message"
        try:
            found.importer.retry_quarantined(item.id, interface=interface)
        except MailtrackError as exc:
            return str(exc)
        return ""

    error = await run_in_threadpool(retry_one)
    if error:
        return await _page(request, error=f"Message {item.id} still cannot be imported: {error}")
    return redirect(request, "quarantine", query=f"notice=imported:{item.id}")


async def confirm_discard(request: Request) -> Response:
    item = await run_in_threadpool(_item, request)
    return render(request, "quarantine_discard.html", {"item": item})


async def discard(request: Request) -> Response:
    """Give up on the message (#18's discard: the next run deletes it on the server)."""
    await checked_form(request)
    found = site(request)
    item = await run_in_threadpool(_item, request)
    await run_in_threadpool(found.importer.discard_quarantined, item.id)
    return redirect(request, "quarantine", query=f"notice=discarded:{item.id}")


routes = [
    Route("/quarantine", quarantine, name="quarantine"),
    Route("/quarantine/{quarantine_id}.eml", download_raw, name="download_raw"),
    Route("/quarantine/{quarantine_id}/retry", retry, methods=["POST"], name="retry"),
    Route("/quarantine/{quarantine_id}/discard", confirm_discard, name="confirm_discard"),
    Route("/quarantine/{quarantine_id}/discard", discard, methods=["POST"], name="discard"),
]
