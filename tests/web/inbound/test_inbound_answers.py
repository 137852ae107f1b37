"""The answers that make the services do the right thing: a retry imports nothing twice, a store
that is down answers 503 (the retry then imports once), malformed mail is quarantined and
answered 2xx, an oversize body 413, an unknown recipient the catch-all or a refusal."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

import attrs
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from _inbound import SALES, SUPPORT, basic, make_app, settings
from mailtrack import Importer, MailInterface, MemoryRecordStore
from mailtrack.exceptions import MessageRefusedError, StoreError
from mailtrack.models import CommitResult, ImportAction, QuarantinedMessage
from mailtrack.testing import build_message
from mailtrack.web.inbound import create_inbound_app

RAW = build_message(subject="Printer on fire")
RELAY = {"Content-Type": "message/rfc822", **basic("relay")}


class FlakyStore(MemoryRecordStore):
    """A memory store that fails every write (commit, quarantine) while :attr:`down` is set (a
    database that went away), and refuses messages over :attr:`refuse_over` bytes as a store too
    small for them does. (``commit_many`` of the memory store calls ``commit`` for each item.)"""

    down = False
    refuse_over: int | None = None

    def _check(self, action: ImportAction) -> None:
        if self.down:
            raise StoreError("the database is unavailable (connection refused)")
        message = getattr(action, "message", None)
        if self.refuse_over is not None and message is not None and message.size > self.refuse_over:
            raise MessageRefusedError("the database refused the message: larger than max_allowed_packet")

    def commit(self, interface: str, uid: str, action: ImportAction) -> CommitResult:
        self._check(action)
        return super().commit(interface, uid, action)

    def quarantine(self, interface: str, uid: str, raw: bytes, error: str) -> QuarantinedMessage:
        if self.down:
            raise StoreError("the database is unavailable (connection refused)")
        if self.refuse_over is not None and len(raw) > self.refuse_over:
            raise MessageRefusedError("the database refused the message: larger than max_allowed_packet")
        return super().quarantine(interface, uid, raw, error)


@pytest.fixture
def store() -> FlakyStore:
    return FlakyStore()


@pytest.fixture
def client(store: FlakyStore) -> Iterator[TestClient]:
    with TestClient(make_app(store)) as test_client:
        yield test_client


def _relay(
    client: TestClient, raw: bytes, recipient: str = "support@example.com"
) -> tuple[int, dict[str, str]]:
    answer = client.post("/relay", params={"recipient": recipient}, content=raw, headers=RELAY)
    return answer.status_code, answer.json()


def test_same_message_twice_makes_one_record(client: TestClient, store: FlakyStore) -> None:
    assert _relay(client, RAW)[1]["outcome"] == "created"
    # The service's retry (or a second service) with the same message, LF line ends this time.
    status, body = _relay(client, RAW.replace(b"\r\n", b"\n"))
    assert (status, body["outcome"]) == (200, "already_imported")
    assert len(store.list_records()) == 1


def test_store_down_answers_503_and_the_retry_imports_once(client: TestClient, store: FlakyStore) -> None:
    store.down = True
    answer = client.post("/relay", content=RAW, headers={**RELAY, "X-Original-To": "support@example.com"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "60"
    assert store.list_records() == []
    store.down = False
    assert _relay(client, RAW) == (200, {"status": 200, "outcome": "created", "interface": "support"})
    assert _relay(client, RAW)[1]["outcome"] == "already_imported"
    assert len(store.list_records()) == 1


def test_a_disabled_interface_answers_503_and_the_retry_imports_once_enabled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryRecordStore()
    disabled = attrs.evolve(SUPPORT, enabled=False)
    importer = Importer(store=store, conversion_workers=0)

    def app(support: MailInterface) -> Starlette:
        return create_inbound_app(importer=importer, settings=settings(), interfaces=[support, SALES])

    with TestClient(app(disabled)) as client:
        answer = client.post(
            "/relay", params={"recipient": "support@example.com"}, content=RAW, headers=RELAY
        )
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "60"
        assert "'support' is disabled" in answer.json()["message"]
    assert "'support' is disabled" in caplog.text
    assert (store.list_records(), store.list_quarantined()) == ([], [])
    with TestClient(app(SUPPORT)) as client:  # enabled again: the service's retry is imported
        assert _relay(client, RAW)[1]["outcome"] == "created"
    assert [record.title for record in store.list_records()] == ["Printer on fire"]


def test_mailtrack_web_delivers_to_saved_interfaces_as_they_are_now() -> None:
    """``mailtrack web``'s routes look a store-saved interface up again for each message: one
    disabled on the pages after the server started takes no mail (503), and takes it again
    once enabled."""
    from mailtrack import Config
    from mailtrack.cli._inbound import with_inbound
    from mailtrack.web import create_app

    store = MemoryRecordStore()
    store.save_interface(SUPPORT)
    config = Config(inbound=settings(interfaces=("support",)))
    pages = create_app(store=store, authorize=lambda _request: True, config=config)
    with TestClient(with_inbound(pages, config, store)) as client:
        store.save_interface(attrs.evolve(SUPPORT, enabled=False))  # disabled on the pages
        relay = {**RELAY, "X-Original-To": "support@example.com"}
        assert client.post("/inbound/relay", content=RAW, headers=relay).status_code == 503
        assert store.list_records() == []
        store.save_interface(attrs.evolve(SUPPORT, project="edited"))  # enabled, and edited
        answer = client.post("/inbound/relay", content=RAW, headers=relay)
        assert (answer.status_code, answer.json()["outcome"]) == (200, "created")
        store.delete_interface("support")  # deleted on the pages: kept by the service, retried
        other = build_message(subject="After the deletion")
        answer = client.post("/inbound/relay", content=other, headers=relay)
        assert answer.status_code == 503
        assert "'support' is no longer there" in answer.json()["message"]
    assert [record.project for record in store.list_records()] == ["edited"]


def test_message_the_store_cannot_hold_is_refused_not_retried(
    client: TestClient, store: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.refuse_over = 10_000
    status, body = _relay(client, build_message(subject="Too big", text="x" * 20_000))
    assert status == 400  # not 503: a retry would be refused again
    assert "cannot hold this message" in body["message"]
    assert "refused the message" in caplog.text
    assert _relay(client, RAW)[0] == 200  # the store works for other mail


def test_malformed_message_is_quarantined_and_answered_2xx(client: TestClient, store: FlakyStore) -> None:
    raw = (resources.files("mailtrack._demo") / "messages" / "10-nested-too-deep.eml").read_bytes()
    status, body = _relay(client, raw)
    assert (status, body["outcome"]) == (200, "quarantined")
    assert [entry.interface for entry in store.list_quarantined()] == ["support"]
    assert store.list_records() == []


def test_body_over_the_limit_is_413(store: FlakyStore) -> None:
    with TestClient(make_app(store, max_body_bytes=10_000)) as client:
        big = build_message(subject="Big", text="x" * 20_000)
        assert client.post("/relay", content=big, headers=RELAY).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
            yield big[:8000]
            yield big[8000:]

        assert client.post("/relay", content=chunks(), headers=RELAY).status_code == 413
        assert (
            client.post(
                "/relay", content=RAW, headers={**RELAY, "X-Original-To": "support@example.com"}
            ).status_code
            == 200
        )
    assert [record.title for record in store.list_records()] == ["Printer on fire"]


def test_recipient_chooses_the_interface(client: TestClient, store: FlakyStore) -> None:
    assert (
        _relay(client, build_message(subject="To sales"), "Sales+EU@Example.com")[1]["interface"] == "sales"
    )
    assert (
        _relay(client, build_message(subject="To support"), "support@example.com")[1]["interface"]
        == "support"
    )


def test_unknown_recipient_is_refused_without_a_catch_all(
    client: TestClient, store: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    status, body = _relay(client, RAW, "nobody@example.com")
    assert status == 400
    assert "inbound.catch_all" in body["message"]
    assert "nobody@example.com" in caplog.text  # logged, not dropped silently
    assert store.list_records() == []


def test_unknown_recipient_goes_to_the_catch_all(store: FlakyStore) -> None:
    with TestClient(make_app(store, catch_all="sales")) as client:
        status, body = _relay(client, RAW, "nobody@example.com")
        assert (status, body["interface"]) == (200, "sales")
        # No recipient reported at all: the catch-all too.
        answer = client.post("/relay", content=build_message(subject="No envelope"), headers=RELAY)
        assert answer.json()["interface"] == "sales"


def test_secrets_are_never_in_the_settings_repr() -> None:
    shown = repr(settings())
    assert "correct horse" not in shown
    assert "key-3ax6" not in shown
