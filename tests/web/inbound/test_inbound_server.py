"""The inbound routes through a real server (uvicorn on 127.0.0.1) and real SQL stores: each
service's request, a body refused before it is sent whole, and 50 clients posting 20 distinct
messages each, twice (1,000 records, no duplicates, no error)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from _browser import served
from _inbound import (
    FakeSNS,
    HTTPClient,
    basic,
    mailgun_fields,
    make_app,
    mandrill_form,
    multipart,
    postmark_json,
    sendgrid_fields,
)
from mailtrack.stores import SQLRecordStore
from mailtrack.testing import build_message

CLIENTS = 50
PER_CLIENT = 20


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLRecordStore]:
    with SQLRecordStore(f"sqlite:///{tmp_path / 'inbound.db'}") as store:
        yield store


def test_each_service_through_uvicorn(sqlite_store: SQLRecordStore) -> None:
    sns = FakeSNS()
    with served(make_app(sqlite_store, sns)) as url, HTTPClient(url) as client:
        body, content_type = multipart(mailgun_fields(build_message(subject="mailgun")))
        assert client.request("POST", "/mailgun/mime", body, {"Content-Type": content_type})[0] == 200
        raw = build_message(subject="postmark")
        assert client.post_json("/postmark", postmark_json(raw), basic("postmark")) == 200
        body, content_type = multipart(sendgrid_fields(build_message(subject="sendgrid")))
        assert (
            client.request("POST", "/sendgrid", body, {"Content-Type": content_type, **basic("sendgrid")})[0]
            == 200
        )
        assert client.request("HEAD", "/mandrill")[0] == 200
        body, headers = mandrill_form([build_message(subject="mandrill")])
        assert client.request("POST", "/mandrill", body, headers)[0] == 200
        assert client.post_json("/ses", sns.subscription()) == 200
        assert client.post_json("/ses", sns.notification(build_message(subject="ses"))) == 200
        headers = {"Content-Type": "message/rfc822", "X-Original-To": "support@example.com", **basic("relay")}
        assert client.request("POST", "/relay", build_message(subject="relay"), headers)[0] == 200
    titles = sorted(record.title for record in sqlite_store.list_records())
    assert titles == ["mailgun", "mandrill", "postmark", "relay", "sendgrid", "ses"]


def test_oversize_body_is_refused_before_it_is_sent(sqlite_store: SQLRecordStore) -> None:
    with served(make_app(sqlite_store, max_body_bytes=1_000_000)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            auth = basic("relay")["Authorization"]
            conn.sendall(
                b"POST /relay HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: message/rfc822\r\n"
                + f"Authorization: {auth}\r\nContent-Length: 5000000000\r\n\r\n".encode()
                + b"From: a@example.com\r\n"
            )
            # The answer comes although 5 GB were announced and a few bytes sent.
            answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")
    assert sqlite_store.list_records() == []


def test_wrong_credentials_are_refused_before_the_body_is_read(sqlite_store: SQLRecordStore) -> None:
    with served(make_app(sqlite_store)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            auth = basic("relay", "not the relay password")["Authorization"]
            conn.sendall(
                b"POST /relay HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: message/rfc822\r\n"
                + f"Authorization: {auth}\r\nContent-Length: 30000000\r\n\r\n".encode()
            )
            # 401 at once: nothing of the (within the limit) body was sent, and none is waited for.
            answer = conn.recv(4096)
    assert answer.startswith(b"HTTP/1.1 401")
    assert b"WWW-Authenticate: Basic" in answer or b"www-authenticate: Basic" in answer


def _post_all(url: str, messages: list[bytes], errors: list[str]) -> None:
    headers = {"Content-Type": "message/rfc822", "X-Original-To": "support@example.com", **basic("relay")}
    with HTTPClient(url) as client:
        for raw in messages:
            status, body = client.request("POST", "/relay", raw, headers)
            if status != 200:
                errors.append(f"{status} {body!r}")


def _concurrent_posts(store: SQLRecordStore) -> None:
    batches = [
        [build_message(subject=f"client {client} message {n}") for n in range(PER_CLIENT)]
        for client in range(CLIENTS)
    ]
    errors: list[str] = []
    with served(make_app(store)) as url:
        for _round in range(2):  # every message twice: the second round is the services' retry
            threads = [threading.Thread(target=_post_all, args=(url, batch, errors)) for batch in batches]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    assert errors == []
    titles = [record.title for record in store.list_records()]
    assert len(titles) == CLIENTS * PER_CLIENT
    assert len(set(titles)) == len(titles)


@pytest.mark.slow
def test_50_concurrent_clients_twice_into_sqlite(sqlite_store: SQLRecordStore) -> None:
    _concurrent_posts(sqlite_store)


@pytest.mark.slow
@pytest.mark.integration
def test_50_concurrent_clients_twice_into_postgresql() -> None:
    from _sql_databases import scratch_database

    with scratch_database("postgresql") as url, SQLRecordStore(url) as store:
        _concurrent_posts(store)


@pytest.mark.integration
def test_postgresql_read_only_answers_503_then_the_retry_imports_once() -> None:
    """A real store failure: the database refuses writes (as a failed-over replica does)."""
    import sqlalchemy as sa

    from _sql_databases import scratch_database

    raw = build_message(subject="Written after the failover")
    headers = {"Content-Type": "message/rfc822", "X-Original-To": "support@example.com", **basic("relay")}
    with scratch_database("postgresql") as url, SQLRecordStore(url) as store:
        admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")

        def read_only(on: bool) -> None:
            with admin.connect() as conn:
                conn.exec_driver_sql(
                    f"ALTER DATABASE {url.database} SET default_transaction_read_only = {on}"
                )
            store.engine.dispose()  # new connections take the setting

        try:
            with served(make_app(store)) as served_url, HTTPClient(served_url) as client:
                read_only(True)
                status, body = client.request("POST", "/relay", raw, headers)
                assert status == 503, body
                assert store.list_records() == []
                read_only(False)
                assert client.request("POST", "/relay", raw, headers)[0] == 200
                status, body = client.request("POST", "/relay", raw, headers)
                assert (status, b"already_imported" in body) == (200, True)
            assert [record.title for record in store.list_records()] == ["Written after the failover"]
        finally:
            admin.dispose()
