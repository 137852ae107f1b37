"""Mail from an e-mail service into a FastAPI application: mailtrack's inbound routes mounted
beside the tracker's own, and a message posted to the relay route as an MTA (or ``curl``) would.

Run it with ``python examples/inbound_fastapi.py`` (needs ``pip install '.[inbound]' fastapi``).
"""

from __future__ import annotations

import base64

from fastapi import FastAPI
from starlette.testclient import TestClient

from mailtrack import Importer, MailInterface, MemoryRecordStore
from mailtrack.testing import build_message
from mailtrack.web.inbound import BasicAuthSettings, InboundSettings, create_inbound_app

PASSWORD = "a long relay password"  # in production: password_env or password_file

store = MemoryRecordStore()
support = MailInterface(
    name="support", server="pop.example.com", login="support", aliases=("support@example.com",)
)
settings = InboundSettings(interfaces=("support",), relay=BasicAuthSettings(user="relay", password=PASSWORD))

app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    """One of the tracker's own routes."""
    return {"status": "ok"}


app.mount(
    "/inbound", create_inbound_app(importer=Importer(store=store), settings=settings, interfaces=[support])
)

if __name__ == "__main__":
    credentials = base64.b64encode(f"relay:{PASSWORD}".encode()).decode()
    headers = {
        "Authorization": f"Basic {credentials}",
        "Content-Type": "message/rfc822",
        "X-Original-To": "support@example.com",
    }
    message = build_message(subject="Printer on fire")
    with TestClient(app) as client:
        answer = client.post("/inbound/relay", content=message, headers=headers)
        print(answer.status_code, answer.json())
        assert answer.json()["outcome"] == "created", answer.text
        # The service's retry of the same message imports nothing.
        again = client.post("/inbound/relay", content=message, headers=headers)
        print("the retry:", again.json()["outcome"])
    print([record.title for record in store.list_records()])
    assert len(store.list_records()) == 1
