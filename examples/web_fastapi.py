"""mailtrack's pages mounted in a FastAPI application, behind the host's own sign-in.

The host keeps its routes and its way of knowing who is signed in; mailtrack's pages (mail
interfaces, records, quarantine) live under ``/mail``, and ``authorize`` lets only the host's
administrators in. Here the "sign-in" is a header a reverse proxy would set; use your session.

Run it with (needs ``pip install 'mailtrack[web]' fastapi``)::

    python examples/web_fastapi.py          # imports one message, then asks the pages as a browser would
    python examples/web_fastapi.py --serve  # serves http://127.0.0.1:8000/mail/ (header X-User: admin)
"""

from __future__ import annotations

import sys

from fastapi import FastAPI
from starlette.requests import Request
from starlette.testclient import TestClient

from mailtrack import Importer, MemoryRecordStore
from mailtrack.testing import POP3TestServer, build_message
from mailtrack.web import create_app

ADMINISTRATORS = {"admin"}


def is_administrator(request: Request) -> str | None:
    """The host's rule: the signed-in user (set by the host's proxy or session), if an administrator."""
    user = request.headers.get("x-user")
    return user if user in ADMINISTRATORS else None


store = MemoryRecordStore()
host = FastAPI(title="Acme help desk")


@host.get("/")
def home() -> dict[str, str]:
    return {"help desk": "the mail pages are under /mail/"}


host.mount("/mail", create_app(store=store, authorize=is_administrator))


def main() -> None:
    message = build_message(subject="The printer on floor 3 is on fire")
    with POP3TestServer([message], user="support", password="demo-password") as server:
        interface = server.interface(name="support", project="helpdesk")
        store.save_interface(interface)
        Importer(store=store).run(interface).raise_for_error()
    if "--serve" in sys.argv:
        import uvicorn

        uvicorn.run(host, host="127.0.0.1", port=8000)
        return
    with TestClient(host) as browser:
        refused = browser.get("/mail/records")
        page = browser.get("/mail/records", headers={"X-User": "admin"})
        record = browser.get("/mail/records/1", headers={"X-User": "admin"})
    print("without sign-in:", refused.status_code)
    print(
        "as admin:", page.status_code, "- record #1 listed:", "The printer on floor 3 is on fire" in page.text
    )
    print("record page links under the mount:", 'href="/mail/records/1/details/1/headers"' in record.text)
    assert refused.status_code == 403
    assert page.status_code == 200
    assert 'href="/mail/records/1/details/1/headers"' in record.text


if __name__ == "__main__":
    main()
