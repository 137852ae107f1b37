"""A Django site that receives mail through django-anymail hands each message to mailtrack:
anymail's ``inbound`` signal calls ``Importer.deliver`` with the message's raw bytes, so the
ledger, the policies and the store are those of POP3 and IMAP, and a service's retry of the same
message imports nothing.

The script sets Django up in itself, then posts a message to anymail's Postmark inbound webhook
as Postmark would (JSON with ``RawEmail``, basic credentials), twice.

Run it with ``python examples/inbound_django_anymail.py`` (needs ``pip install django
django-anymail``).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import django
from django.conf import settings

from mailtrack import Importer, MailInterface, MemoryRecordStore
from mailtrack.testing import build_message

WEBHOOK_SECRET = "postmark:a long webhook secret"

settings.configure(
    SECRET_KEY="only-for-this-example",
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["anymail"],
    ALLOWED_HOSTS=["testserver"],
    ANYMAIL={"WEBHOOK_SECRET": WEBHOOK_SECRET},
)
django.setup()

from anymail.signals import inbound  # noqa: E402 - after django.setup()
from django.urls import include, path  # noqa: E402

urlpatterns = [path("anymail/", include("anymail.urls"))]

# In a project: tracker/mail.py.
store = MemoryRecordStore()
importer = Importer(store=store)
support = MailInterface(name="support", server="pop.example.com", login="support")


def import_inbound_mail(sender: object, event: Any, esp_name: str, **kwargs: object) -> None:
    """Hand the message anymail received to mailtrack; a StoreError becomes anymail's 500, which
    makes the service retry (and deliver imports the retry once)."""
    message = event.message
    recipient = message.envelope_recipient or (message.to[0].addr_spec if message.to else None)
    importer.deliver(support, message.as_bytes(), recipient=recipient)


# In a project, @receiver(inbound) on the function, in an app's signals module, does the same.
inbound.connect(import_inbound_mail, weak=False)


if __name__ == "__main__":
    from django.test import Client

    raw = build_message(subject="Printer on fire")
    payload = json.dumps({"RawEmail": raw.decode(), "OriginalRecipient": "support@example.com"})
    credentials = base64.b64encode(WEBHOOK_SECRET.encode()).decode()
    client = Client()
    for attempt in ("first post", "the service's retry"):
        answer = client.post(
            "/anymail/postmark/inbound/",
            data=payload,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Basic {credentials}",
        )
        print(attempt, answer.status_code)
        assert answer.status_code == 200
    print([record.title for record in store.list_records()])
    assert [record.title for record in store.list_records()] == ["Printer on fire"]
