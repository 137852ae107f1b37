"""A request that fails its check (401, 403) leaves a warning in the log that says which check
failed, so that an administrator with a wrong key sees why, and never the secret, the password
or the signature; a relay without any recipient is told what to send."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from _inbound import (
    MAILGUN_KEY,
    MANDRILL_KEY,
    FakeSNS,
    basic,
    mailgun_fields,
    make_app,
    mandrill_form,
    multipart,
)
from mailtrack import MemoryRecordStore
from mailtrack.testing import build_message

RAW = build_message(subject="Refused")
WRONG_PASSWORD = "wrong \x1b[31mpassword"
FORGED_KEY = "key-forged-0123456789abcdef"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(make_app(MemoryRecordStore(), FakeSNS())) as test_client:
        yield test_client


def warnings(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


def test_wrong_relay_password_is_logged_without_the_password(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    answer = client.post("/relay", content=RAW, headers=basic("relay", WRONG_PASSWORD))
    assert answer.status_code == 401
    logged = warnings(caplog)
    assert "inbound relay: refused (401): the relay route needs the user name and password" in logged
    assert "password" not in logged.replace("user name and password", "")
    assert basic("relay", WRONG_PASSWORD)["Authorization"].split()[1] not in logged


def test_forged_mailgun_signature_is_logged_without_key_or_signature(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    fields = mailgun_fields(RAW, key=FORGED_KEY)
    signature = next(value for name, value in fields if name == "signature")
    body, content_type = multipart(fields)
    answer = client.post("/mailgun/mime", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 403
    logged = warnings(caplog)
    assert "inbound mailgun: refused (403): the Mailgun signature does not match" in logged
    for secret in (str(signature), FORGED_KEY, MAILGUN_KEY):
        assert secret not in logged


def test_missing_mailgun_signature_is_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    body, content_type = multipart([f for f in mailgun_fields(RAW) if f[0] != "signature"])
    assert (
        client.post("/mailgun/mime", content=body, headers={"Content-Type": content_type}).status_code == 401
    )
    assert "inbound mailgun: refused (401): the request carries no Mailgun signature" in warnings(caplog)


def test_forged_mandrill_signature_is_logged_without_the_key(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body, headers = mandrill_form([RAW], key=FORGED_KEY)
    assert client.post("/mandrill", content=body, headers=headers).status_code == 403
    logged = warnings(caplog)
    assert "inbound mandrill: refused (403): the Mandrill signature does not match" in logged
    for secret in (headers["X-Mandrill-Signature"], FORGED_KEY, MANDRILL_KEY):
        assert secret not in logged


def test_foreign_sns_topic_is_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    sns = FakeSNS()
    message = sns.sign({**sns.notification(RAW), "TopicArn": "arn:aws:sns:us-east-1:999999999999:other"})
    assert client.post("/ses", json=message).status_code == 403
    assert "inbound ses: refused (403)" in warnings(caplog)


def test_relay_without_a_recipient_says_where_to_give_one(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    answer = client.post("/relay", content=RAW, headers={"Content-Type": "message/rfc822", **basic("relay")})
    assert answer.status_code == 400
    expected = "no recipient reported (X-Original-To header or ?recipient=), and no inbound.catch_all is set"
    assert answer.json()["message"] == expected
    assert expected in warnings(caplog)
    assert "none reported" not in answer.text
