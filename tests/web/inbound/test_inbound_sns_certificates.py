"""SNS certificates come only from SNS's own hosts (real region names, never an S3 bucket's), are
issued to sns.amazonaws.com, are fetched only for a configured topic, and a failure is not
fetched again at once."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from _inbound import CERT_URL, FakeSNS, make_app
from mailtrack import MemoryRecordStore
from mailtrack.testing import build_message
from mailtrack.web.inbound._sns import FAILURE_TTL, SNSVerifier, is_sns_url

RAW = build_message(subject="From SES", message_id="<ses@example.com>")


@pytest.mark.parametrize(
    "host",
    [
        "sns.us-east-1.amazonaws.com",
        "sns.us-gov-west-1.amazonaws.com",
        "sns.ap-southeast-2.amazonaws.com",
        "sns.eu-central-2.amazonaws.com",
        "sns.cn-north-1.amazonaws.com.cn",
    ],
)
def test_sns_hosts_of_real_regions_are_accepted(host: str) -> None:
    assert is_sns_url(f"https://{host}/SimpleNotificationService-0123.pem", suffix=".pem")


@pytest.mark.parametrize(
    "host",
    [
        "sns.s3.amazonaws.com",
        "sns.s3-us-west-2.amazonaws.com",
        "sns.s3-external-1.amazonaws.com",
        "sns.attacker-1.amazonaws.com",
        "sns.us-east-1.amazonaws.com.evil.example",
        "sns.us-east-1.amazonaws.com.cn",
        "sns.amazonaws.com",
    ],
)
def test_hosts_that_are_not_an_sns_region_are_refused(host: str) -> None:
    assert not is_sns_url(f"https://{host}/SimpleNotificationService-0123.pem", suffix=".pem")


def _post(client: TestClient, message: dict[str, str]) -> int:
    return client.post("/ses", json=message, headers={"Content-Type": "text/plain"}).status_code


def test_certificate_not_issued_to_sns_is_refused() -> None:
    sns = FakeSNS(common_name="bucket.example.com")
    store = MemoryRecordStore()
    with TestClient(make_app(store, sns)) as client:
        assert _post(client, sns.notification(RAW)) == 403
    assert store.list_records() == []


def test_other_topic_fetches_no_certificate() -> None:
    sns = FakeSNS()
    store = MemoryRecordStore()
    with TestClient(make_app(store, sns)) as client:
        other = sns.notification(RAW, TopicArn="arn:aws:sns:us-east-1:999999999999:someone-else")
        assert _post(client, other) == 403
    assert sns.fetched == []
    assert store.list_records() == []


def test_refused_certificate_is_not_fetched_again_at_once() -> None:
    sns = FakeSNS(common_name="bucket.example.com")
    with TestClient(make_app(MemoryRecordStore(), sns)) as client:
        assert _post(client, sns.notification(RAW)) == 403
        assert _post(client, sns.notification(RAW)) == 403
    assert sns.fetched == [CERT_URL]


def test_failed_fetch_is_tried_again_after_a_while() -> None:
    now = [1000.0]
    calls: list[str] = []

    def failing_get(url: str) -> bytes:
        calls.append(url)
        raise OSError("connection refused")

    verifier = SNSVerifier(failing_get, clock=lambda: now[0])
    message = FakeSNS().notification(RAW)
    assert "could not be fetched" in (verifier.problem(message) or "")
    assert "could not be fetched" in (verifier.problem(message) or "")
    assert calls == [CERT_URL]
    now[0] += FAILURE_TTL + 1
    assert verifier.problem(message) is not None
    assert calls == [CERT_URL, CERT_URL]
