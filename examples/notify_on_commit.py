"""Reacting to new mail: a listener that sends a notification after each commit.

``Importer(on_committed=listener)`` calls the listener once for every message that opened a
record or added a follow-up, right after the store committed it, with a
:class:`mailtrack.CommitEvent` (the record, the new detail, created or appended, the fields
set). Here the listener does what a tracker's "on ticket change" hook would:

* it queues a chat notification, which a sender thread posts as JSON to a webhook (a small HTTP
  server on 127.0.0.1 stands in for Slack, Teams or Mattermost): the listener itself stays
  quick, since it runs in the importing thread;
* for a new record, it writes the customer's acknowledgement: its subject names the record
  (``[#1] …``), so that the reply comes back to it, and :func:`mailtrack.outgoing_headers`
  adds the fields that keep auto-replies from answering it (no mail loop).

The notification service fails once on purpose: the import goes on, and the failure is one
line in the run report's notes.

Run it with::

    python examples/notify_on_commit.py
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.request
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from mailtrack import (
    CommitEvent,
    Importer,
    ImportPolicy,
    MailInterface,
    MemoryRecordStore,
    outgoing_headers,
)
from mailtrack.testing import FakeMailbox, build_message

SUPPORT = MailInterface(
    name="support",
    server="pop.example.com",
    login="support@acme.example",
    policy=ImportPolicy(loop_header_value="acme-helpdesk-1"),
)


class Webhook(BaseHTTPRequestHandler):
    """The chat service: keeps every JSON body it is sent."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class Notifier:
    """The host's hook: a quick listener, and a thread that does the slow part."""

    def __init__(self, webhook_url: str) -> None:
        self.webhook_url = webhook_url
        self.outbox: list[EmailMessage] = []  # what the host's mail sender would send
        self.pending: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.sender = threading.Thread(target=self._post_all, name="notifier")
        self.sender.start()
        self.calls = 0

    def __call__(self, event: CommitEvent) -> None:
        """The ``on_committed`` listener."""
        self.calls += 1
        if self.calls == 2:
            raise ConnectionError("the chat service is down")  # a failing hook: noted, no harm
        what = "new request" if event.created else "follow-up"
        sender = event.detail.sender.address if event.detail.sender else "unknown sender"
        self.pending.put({"text": f"#{event.record.id} {event.record.title}: {what} from {sender}"})
        if event.created and event.detail.sender is not None:
            self.outbox.append(self._acknowledgement(event))

    def _acknowledgement(self, event: CommitEvent) -> EmailMessage:
        assert event.detail.sender is not None
        answer = EmailMessage()
        answer["From"] = SUPPORT.login
        answer["To"] = event.detail.sender.address
        answer["Subject"] = f"[#{event.record.id}] Re: {event.record.title}"
        for name, value in outgoing_headers(SUPPORT.policy).items():
            answer[name] = value
        answer["In-Reply-To"] = f"<{event.detail.message_id}>"
        answer.set_content(f"We received your request; it is number {event.record.id}.\n")
        return answer

    def _post_all(self) -> None:
        while (payload := self.pending.get()) is not None:
            request = urllib.request.Request(  # noqa: S310 - an http:// URL of our own
                self.webhook_url,
                data=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - as above
                pass

    def close(self) -> None:
        self.pending.put(None)
        self.sender.join()


def main() -> None:
    server = HTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, name="webhook", daemon=True).start()
    notifier = Notifier(f"http://127.0.0.1:{server.server_port}/hooks/helpdesk")
    mailbox = FakeMailbox(
        [
            build_message(subject="Printer on fire", sender="Alice <alice@customer.example>"),
            build_message(subject="VPN drops every hour", sender="Bob <bob@customer.example>"),
            build_message(subject="Re: [#1] Printer on fire", sender="Alice <alice@customer.example>"),
        ]
    )
    store = MemoryRecordStore()
    report = Importer(store=store, fetcher_factory=mailbox.fetcher, on_committed=notifier).run(SUPPORT)
    notifier.close()
    server.shutdown()

    print(f"imported: {report.created} new records, {report.updated} follow-ups; ok: {report.ok}")
    for note in report.notes:
        print("note:", note)
    for payload in Webhook.received:
        print("chat:", payload["text"])
    for answer in notifier.outbox:
        print("acknowledgement to", answer["To"], "-", answer["Subject"])

    assert (report.created, report.updated, report.ok) == (2, 1, True)
    assert len(Webhook.received) == 2  # the second event's hook failed; the import did not
    assert any("the chat service is down" in note for note in report.notes)
    assert [answer["Subject"] for answer in notifier.outbox] == ["[#1] Re: Printer on fire"]


if __name__ == "__main__":
    main()
