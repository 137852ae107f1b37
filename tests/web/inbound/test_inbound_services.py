"""Each service's documented request imports the message once; what fails its check imports nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from _inbound import (
    FakeSNS,
    basic,
    mailgun_fields,
    make_app,
    mandrill_form,
    multipart,
    postmark_json,
    sendgrid_fields,
)
from mailtrack import MemoryRecordStore
from mailtrack.testing import build_message

RAW = build_message(subject="Printer on fire", message_id="<fire@example.com>")


@pytest.fixture
def store() -> MemoryRecordStore:
    return MemoryRecordStore()


@pytest.fixture
def sns() -> FakeSNS:
    return FakeSNS()


@pytest.fixture
def client(store: MemoryRecordStore, sns: FakeSNS) -> Iterator[TestClient]:
    with TestClient(make_app(store, sns)) as test_client:
        yield test_client


def _titles(store: MemoryRecordStore) -> list[str]:
    return [record.title for record in store.list_records()]


def _post_mailgun(client: TestClient, fields: list[tuple[str, bytes | str]]) -> int:
    body, content_type = multipart(fields)
    return client.post("/mailgun/mime", content=body, headers={"Content-Type": content_type}).status_code


def test_mailgun_forward_to_mime_url_imports_the_message(
    client: TestClient, store: MemoryRecordStore
) -> None:
    body, content_type = multipart(mailgun_fields(RAW))
    answer = client.post("/mailgun/mime", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "created"
    assert _titles(store) == ["Printer on fire"]
    [record] = store.list_records()
    assert store.get_record(record.id).details[0].message_id == "fire@example.com"


def test_mailgun_url_encoded_forward_is_taken_too(client: TestClient, store: MemoryRecordStore) -> None:
    fields = {
        name: value.decode() if isinstance(value, bytes) else value for name, value in mailgun_fields(RAW)
    }
    answer = client.post("/mailgun/mime", data=fields)
    assert answer.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert answer.status_code == 200, answer.text
    assert _titles(store) == ["Printer on fire"]


def test_mailgun_forged_signature_is_refused(client: TestClient, store: MemoryRecordStore) -> None:
    assert _post_mailgun(client, mailgun_fields(RAW, key="key-not-the-signing-key-at-all")) == 403
    assert store.list_records() == []


def test_mailgun_without_signature_is_refused(client: TestClient, store: MemoryRecordStore) -> None:
    fields = [field for field in mailgun_fields(RAW) if field[0] != "signature"]
    assert _post_mailgun(client, fields) == 401
    assert store.list_records() == []


def test_mailgun_replayed_token_is_refused(client: TestClient, store: MemoryRecordStore) -> None:
    fields = mailgun_fields(RAW, token="a" * 50)
    assert _post_mailgun(client, fields) == 200
    # The captured signature with another message: refused, nothing imported.
    other = build_message(subject="Forged with a captured signature")
    replay = [(name, other if name == "body-mime" else value) for name, value in fields]
    assert _post_mailgun(client, replay) == 403
    assert _titles(store) == ["Printer on fire"]


@pytest.mark.parametrize("age", [-3600, 301, 3600])
def test_mailgun_timestamp_far_from_now_is_refused(
    client: TestClient, store: MemoryRecordStore, age: int
) -> None:
    assert _post_mailgun(client, mailgun_fields(RAW, timestamp=int(time.time()) - age)) == 403
    assert store.list_records() == []


def test_mailgun_without_body_mime_names_the_setting(
    client: TestClient, store: MemoryRecordStore, caplog: pytest.LogCaptureFixture
) -> None:
    body, content_type = multipart(mailgun_fields(None))
    answer = client.post("/mailgun", content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 406  # Mailgun does not retry a 406
    assert "ends in 'mime'" in answer.json()["message"]
    assert "ends in 'mime'" in caplog.text
    assert store.list_records() == []


def test_postmark_raw_email_imports_the_message(client: TestClient, store: MemoryRecordStore) -> None:
    answer = client.post("/postmark", json=postmark_json(RAW), headers=basic("postmark"))
    assert answer.status_code == 200, answer.text
    assert _titles(store) == ["Printer on fire"]


@pytest.mark.parametrize(
    ("user", "password"), [("postmark", "wrong password here"), ("other", None), (None, None)]
)
def test_postmark_wrong_credentials_are_refused(
    client: TestClient, store: MemoryRecordStore, user: str | None, password: str | None
) -> None:
    headers = {} if user is None else basic(user, *([password] if password else []))
    answer = client.post("/postmark", json=postmark_json(RAW), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic ")
    assert store.list_records() == []


def test_postmark_without_raw_email_names_the_setting(client: TestClient, store: MemoryRecordStore) -> None:
    answer = client.post("/postmark", json=postmark_json(None), headers=basic("postmark"))
    assert answer.status_code == 403  # Postmark stops retrying on 403
    assert "Include raw email content in JSON payload" in answer.json()["message"]
    assert store.list_records() == []


@pytest.mark.parametrize(
    ("path", "headers", "what"), [("/postmark", basic("postmark"), "Postmark"), ("/ses", {}, "SNS")]
)
def test_a_json_body_that_is_not_an_object_is_refused_by_name(
    client: TestClient, store: MemoryRecordStore, path: str, headers: dict[str, str], what: str
) -> None:
    answer = client.post(path, json=[postmark_json(RAW)], headers=headers)
    assert answer.status_code == 400
    assert f"the {what} body is not a JSON object" in answer.text
    assert store.list_records() == []


def test_sendgrid_raw_mime_imports_the_message(client: TestClient, store: MemoryRecordStore) -> None:
    body, content_type = multipart(sendgrid_fields(RAW))
    answer = client.post(
        "/sendgrid", content=body, headers={"Content-Type": content_type, **basic("sendgrid")}
    )
    assert answer.status_code == 200, answer.text
    assert _titles(store) == ["Printer on fire"]


def test_sendgrid_wrong_password_is_refused(client: TestClient, store: MemoryRecordStore) -> None:
    body, content_type = multipart(sendgrid_fields(RAW))
    headers = {"Content-Type": content_type, **basic("sendgrid", "not the password!!")}
    assert client.post("/sendgrid", content=body, headers=headers).status_code == 401
    assert store.list_records() == []


def test_sendgrid_without_raw_option_names_the_setting(client: TestClient, store: MemoryRecordStore) -> None:
    body, content_type = multipart(sendgrid_fields(None))
    answer = client.post(
        "/sendgrid", content=body, headers={"Content-Type": content_type, **basic("sendgrid")}
    )
    assert answer.status_code == 400
    assert "POST the raw, full MIME message" in answer.json()["message"]
    assert store.list_records() == []


def test_mandrill_head_probe_is_answered(client: TestClient) -> None:
    assert client.head("/mandrill").status_code == 200


def test_mandrill_url_check_by_post_is_answered_and_imports_nothing(
    client: TestClient, store: MemoryRecordStore
) -> None:
    body, headers = mandrill_form([], key="test-webhook")
    assert client.post("/mandrill", content=body, headers=headers).status_code == 200
    # The generic key signs nothing else: a message with it is refused.
    body, headers = mandrill_form([RAW], key="test-webhook")
    assert client.post("/mandrill", content=body, headers=headers).status_code == 403
    assert store.list_records() == []


def test_mandrill_events_import_every_message(client: TestClient, store: MemoryRecordStore) -> None:
    second = build_message(subject="Second in the batch")
    body, headers = mandrill_form([RAW, second])
    answer = client.post("/mandrill", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert sorted(_titles(store)) == ["Printer on fire", "Second in the batch"]


def test_mandrill_forged_signature_is_refused(client: TestClient, store: MemoryRecordStore) -> None:
    body, headers = mandrill_form([RAW], key="another-webhook-key-0000000")
    assert client.post("/mandrill", content=body, headers=headers).status_code == 403
    body, headers = mandrill_form([RAW])
    del headers["X-Mandrill-Signature"]
    assert client.post("/mandrill", content=body, headers=headers).status_code == 401
    assert store.list_records() == []


def test_ses_notification_imports_the_content(
    client: TestClient, store: MemoryRecordStore, sns: FakeSNS
) -> None:
    answer = client.post("/ses", json=sns.notification(RAW))
    assert answer.status_code == 200, answer.text
    assert _titles(store) == ["Printer on fire"]
    # The certificate was fetched once from SNS, and kept.
    assert client.post("/ses", json=sns.notification(build_message(subject="Again"))).status_code == 200
    assert sns.fetched == [sns.notification(RAW)["SigningCertURL"]]


def test_ses_signature_version_1_is_checked_too(
    client: TestClient, store: MemoryRecordStore, sns: FakeSNS
) -> None:
    message = sns.notification(RAW)
    assert client.post("/ses", json=sns.sign(message, version="1")).status_code == 200
    assert _titles(store) == ["Printer on fire"]


def test_ses_forged_content_is_refused(client: TestClient, store: MemoryRecordStore, sns: FakeSNS) -> None:
    genuine = sns.notification(RAW)
    forged = sns.notification(build_message(subject="Forged"))
    genuine["Message"] = forged["Message"]  # the signature of another message
    assert client.post("/ses", json=genuine).status_code == 403
    assert store.list_records() == []


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/SimpleNotificationService-x.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
        "http://sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://user@sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.txt",
    ],
)
def test_ses_certificate_outside_sns_is_never_fetched(
    client: TestClient, store: MemoryRecordStore, sns: FakeSNS, url: str
) -> None:
    message = sns.notification(RAW, SigningCertURL=url)
    answer = client.post("/ses", json=message)
    assert answer.status_code == 403
    assert "SigningCertURL" in answer.json()["message"]
    assert sns.fetched == []
    assert store.list_records() == []


def test_ses_other_topic_is_refused(client: TestClient, store: MemoryRecordStore, sns: FakeSNS) -> None:
    message = sns.notification(RAW, TopicArn="arn:aws:sns:us-east-1:999999999999:someone-elses")
    assert client.post("/ses", json=sns.sign(message)).status_code == 403
    assert store.list_records() == []


def test_ses_subscription_is_confirmed_at_sns(client: TestClient, sns: FakeSNS) -> None:
    message = sns.subscription()
    assert client.post("/ses", json=message, headers={"Content-Type": "text/plain"}).status_code == 200
    assert sns.fetched[-1] == message["SubscribeURL"]


def test_ses_subscription_url_outside_sns_is_not_visited(client: TestClient, sns: FakeSNS) -> None:
    message = sns.subscription()
    message["SubscribeURL"] = "https://evil.example.com/confirm"
    answer = client.post("/ses", json=sns.sign(message))
    assert answer.status_code == 503
    assert all("evil" not in url for url in sns.fetched)


def test_ses_without_content_names_the_setting(
    client: TestClient, store: MemoryRecordStore, sns: FakeSNS
) -> None:
    import json as _json

    message = sns.notification(RAW)
    ses = _json.loads(message["Message"])
    del ses["content"]
    message["Message"] = _json.dumps(ses)
    answer = client.post("/ses", json=sns.sign(message))
    assert answer.status_code == 400
    assert "SNS action" in answer.json()["message"]
    assert store.list_records() == []


def test_relay_takes_the_message_as_body(client: TestClient, store: MemoryRecordStore) -> None:
    headers = {"Content-Type": "message/rfc822", "X-Original-To": "sales@example.com", **basic("relay")}
    answer = client.post("/relay", content=RAW, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["interface"] == "sales"
    assert _titles(store) == ["Printer on fire"]


def test_relay_takes_curls_data_binary_as_it_is(client: TestClient, store: MemoryRecordStore) -> None:
    # curl --data-binary @msg.eml labels the body as a form; the relay takes it as the message.
    raw = (
        b"From: alice@example.com\r\nTo: support@example.com\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\n"
        b"Message-ID: <8bit@example.com>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b"8-bit text: \xc3\xa9\xc3\xa8 & = % +\r\n"
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Original-To": "support@example.com"}
    answer = client.post("/relay", content=raw, headers={**headers, **basic("relay")})
    assert answer.status_code == 200, answer.text
    [record] = store.list_records()
    assert record.title == "Caf\u00e9"
    assert "\u00e9\u00e8 & = % +" in store.get_record(record.id).details[0].text


def test_relay_wrong_password_is_refused(client: TestClient, store: MemoryRecordStore) -> None:
    answer = client.post("/relay", content=RAW, headers=basic("relay", "wrong password again"))
    assert answer.status_code == 401
    assert store.list_records() == []
