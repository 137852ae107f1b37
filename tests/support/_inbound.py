"""For the inbound tests: each service's request built as its documentation describes it (field
names, encodings, signatures), an SNS signing certificate of our own, the app over a real store.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from mailtrack import Importer, MailInterface, RecordStore
from mailtrack.config._inbound import (
    BasicAuthSettings,
    InboundSettings,
    MailgunSettings,
    MandrillSettings,
    SESSettings,
)
from mailtrack.exceptions import StoreError
from mailtrack.intake import DeliveryReport
from mailtrack.web.inbound import _sns, create_inbound_app, mandrill_signature

MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
MANDRILL_KEY = "mandrill-webhook-key-0123456789"
PASSWORD = "correct horse battery staple"
MANDRILL_URL = "https://tracker.example.com/inbound/mandrill"
TOPIC = "arn:aws:sns:us-east-1:123456789012:inbound-mail"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"
SUPPORT = MailInterface(
    name="support", server="pop.example.com", login="support", aliases=("support@example.com",)
)
SALES = MailInterface(name="sales", server="pop.example.com", login="sales", aliases=("sales@example.com",))


def settings(**changes: Any) -> InboundSettings:
    """Every service switched on; *changes* replace fields."""
    values: dict[str, Any] = {
        "interfaces": ("support", "sales"),
        "catch_all": None,
        "mailgun": MailgunSettings(signing_key=MAILGUN_KEY),
        "postmark": BasicAuthSettings(user="postmark", password=PASSWORD),
        "sendgrid": BasicAuthSettings(user="sendgrid", password=PASSWORD),
        "mandrill": MandrillSettings(url=MANDRILL_URL, webhook_key=MANDRILL_KEY),
        "ses": SESSettings(topic_arns=(TOPIC,)),
        "relay": BasicAuthSettings(user="relay", password=PASSWORD),
    }
    values.update(changes)
    return InboundSettings(**values)


@attrs.define
class FakeSNS:
    """The SNS side: a signing key and certificate, and the HTTPS GETs mailtrack makes."""

    key: rsa.RSAPrivateKey = attrs.field(factory=lambda: rsa.generate_private_key(65537, 2048))
    fetched: list[str] = attrs.Factory(list)
    common_name: str = "sns.amazonaws.com"

    @property
    def pem(self) -> bytes:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.common_name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.PEM)

    def http_get(self, url: str) -> bytes:
        self.fetched.append(url)
        if url.endswith(".pem"):
            return self.pem
        return b"<ConfirmSubscriptionResponse/>"

    def sign(self, message: dict[str, str], version: str = "2") -> dict[str, str]:
        message = {
            **message,
            "SignatureVersion": version,
            "SigningCertURL": message.get("SigningCertURL", CERT_URL),
        }
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303
        signature = self.key.sign(_sns.string_to_sign(message), padding.PKCS1v15(), algorithm)
        return {**message, "Signature": base64.b64encode(signature).decode("ascii")}

    def notification(
        self, raw: bytes, recipients: Sequence[str] = ("support@example.com",), **extra: str
    ) -> dict[str, str]:
        ses = {
            "notificationType": "Received",
            "mail": {"messageId": uuid.uuid4().hex, "destination": list(recipients)},
            "receipt": {
                "recipients": list(recipients),
                "action": {"type": "SNS", "topicArn": TOPIC, "encoding": "BASE64"},
            },
            "content": base64.b64encode(raw).decode("ascii"),
        }
        message = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": TOPIC,
            "Subject": "Amazon SES Email Receipt Notification",
            "Message": json.dumps(ses),
            "Timestamp": "2026-12-04T12:00:00.000Z",
            **extra,
        }
        return self.sign(message)

    def subscription(self) -> dict[str, str]:
        token = secrets.token_hex(32)
        return self.sign(
            {
                "Type": "SubscriptionConfirmation",
                "MessageId": str(uuid.uuid4()),
                "Token": token,
                "TopicArn": TOPIC,
                "Message": f"You have chosen to subscribe to the topic {TOPIC}.",
                "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
                f"&TopicArn={TOPIC}&Token={token}",
                "Timestamp": "2026-12-04T12:00:00.000Z",
            }
        )


class LockedOnce:
    """An importer whose store is locked (``StoreError``) for its *nth* delivery only."""

    def __init__(self, store: RecordStore, nth: int) -> None:
        self.importer = Importer(store=store, conversion_workers=0)
        self.nth = nth
        self.calls = 0

    def deliver(
        self, interface: MailInterface, raw: bytes, *, recipient: str | None = None
    ) -> DeliveryReport:
        self.calls += 1
        if self.calls == self.nth:
            raise StoreError("database is locked")
        return self.importer.deliver(interface, raw, recipient=recipient)


def locked_once_app(store: RecordStore, nth: int) -> tuple[Any, LockedOnce]:
    """The app of :func:`make_app` whose importer's store is locked for the *nth* delivery."""
    importer = LockedOnce(store, nth)
    app = create_inbound_app(
        importer=importer, settings=settings(), interfaces=[SUPPORT, SALES], sns_http_get=FakeSNS().http_get
    )
    return app, importer


def make_app(store: RecordStore, sns: FakeSNS | None = None, **changes: Any) -> Any:
    importer = Importer(store=store, conversion_workers=0)
    return create_inbound_app(
        importer=importer,
        settings=settings(**changes),
        interfaces=[SUPPORT, SALES],
        sns_http_get=(sns or FakeSNS()).http_get,
    )


def multipart(fields: Iterable[tuple[str, bytes | str]]) -> tuple[bytes, str]:
    """A multipart/form-data body of plain fields (as Mailgun and SendGrid post them)."""
    boundary = "----mailtrack" + secrets.token_hex(8)
    parts = []
    for name, value in fields:
        data = value.encode("utf-8") if isinstance(value, str) else value
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + data + b"\r\n"
        )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def mailgun_fields(
    raw: bytes | None,
    *,
    recipient: str = "support@example.com",
    timestamp: int | None = None,
    token: str | None = None,
    key: str = MAILGUN_KEY,
) -> list[tuple[str, bytes | str]]:
    """The fields of a Mailgun route's forward() to a URL ending in ``mime``."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    fields: list[tuple[str, bytes | str]] = [
        ("recipient", recipient),
        ("sender", "alice@example.com"),
        ("from", "Alice Example <alice@example.com>"),
        ("subject", "Printer on the second floor is jammed"),
    ]
    if raw is not None:
        fields.append(("body-mime", raw))
    return [*fields, ("timestamp", stamp), ("token", token), ("signature", signature)]


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


def postmark_json(raw: bytes | None, recipient: str = "support@example.com") -> dict[str, Any]:
    """Postmark's inbound JSON (the fields mailtrack reads, and a few it ignores)."""
    payload: dict[str, Any] = {
        "From": "alice@example.com",
        "To": recipient,
        "OriginalRecipient": recipient,
        "Subject": "Printer on the second floor is jammed",
        "MessageID": str(uuid.uuid4()),
        "TextBody": "parsed text that mailtrack never uses",
        "Headers": [],
        "Attachments": [],
    }
    if raw is not None:
        payload["RawEmail"] = raw.decode("utf-8")
    return payload


def sendgrid_fields(
    raw: bytes | None, recipient: str = "support@example.com"
) -> list[tuple[str, bytes | str]]:
    """SendGrid Inbound Parse with "POST the raw, full MIME message" (``email``) or without (``text``)."""
    fields: list[tuple[str, bytes | str]] = [
        ("headers", "From: alice@example.com\n"),
        ("dkim", "{@example.com : pass}"),
        ("to", recipient),
        ("from", "alice@example.com"),
        ("sender_ip", "192.0.2.1"),
        ("envelope", json.dumps({"to": [recipient], "from": "alice@example.com"})),
        ("subject", "Printer on the second floor is jammed"),
        ("charsets", json.dumps({"to": "UTF-8", "subject": "UTF-8", "from": "UTF-8"})),
        ("SPF", "pass"),
    ]
    fields.append(("email", raw) if raw is not None else ("text", "parsed text"))
    return fields


def mandrill_form(
    raws: Sequence[bytes], recipient: str = "support@example.com", key: str = MANDRILL_KEY
) -> tuple[bytes, dict[str, str]]:
    """Mandrill's URL-encoded ``mandrill_events`` POST with its ``X-Mandrill-Signature``."""
    events = [
        {
            "event": "inbound",
            "ts": int(time.time()),
            "msg": {"raw_msg": raw.decode("utf-8"), "email": recipient, "from_email": "alice@example.com"},
        }
        for raw in raws
    ]
    params = [("mandrill_events", json.dumps(events))]
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Mandrill-Signature": mandrill_signature(key, MANDRILL_URL, params),
    }
    return urllib.parse.urlencode(params).encode("ascii"), headers


class HTTPClient:
    """A keep-alive HTTP/1.1 connection to a served app (the standard library's, no test client)."""

    def __init__(self, url: str) -> None:
        import http.client

        host, _, port = url.removeprefix("http://").partition(":")
        self._connection = http.client.HTTPConnection(host, int(port), timeout=120)

    def __enter__(self) -> HTTPClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._connection.close()

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        self._connection.request(method, path, body=body, headers=headers or {})
        answer = self._connection.getresponse()
        return answer.status, answer.read()

    def post_json(self, path: str, payload: object, headers: dict[str, str] | None = None) -> int:
        data = json.dumps(payload).encode()
        return self.request("POST", path, data, {"Content-Type": "application/json", **(headers or {})})[0]
