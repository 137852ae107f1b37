"""Messages per second through the inbound relay route (uvicorn on 127.0.0.1, HTTP/1.1 keep-alive
clients posting at once) into SQLite and PostgreSQL, against ``Importer.deliver`` called
directly by as many threads in the same run (the baseline: what the HTTP route costs on top).

    python benchmarks/bench_inbound.py                 # 1,000 messages, 8 clients
    python benchmarks/bench_inbound.py --n 200 --clients 4
    python -m nox -s bench                             # runs it after benchmarks/run.py

PostgreSQL is measured when ``MAILTRACK_TEST_POSTGRESQL`` (or the default local server) is
reachable; its rows are left out otherwise, saying why.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import secrets
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mailtrack import Importer, MailInterface
from mailtrack.stores import SQLRecordStore
from mailtrack.testing import build_message
from mailtrack.web.inbound import BasicAuthSettings, InboundSettings, create_inbound_app

PASSWORD = "a benchmark relay password"
SUPPORT = MailInterface(name="support", server="pop.example.com", login="support")


def _messages(count: int, tag: str) -> list[bytes]:
    """Help-desk mail: mostly short text, every tenth with a 50 KB attachment."""
    return [
        build_message(
            subject=f"{tag} request {n}",
            text=f"Hello,\n\nrequest {n} of the benchmark.\n\n" + "A line of text.\n" * 20,
            attachments=[("log.txt", "text/plain", b"x" * 50_000)] if n % 10 == 0 else (),
        )
        for n in range(count)
    ]


# Importer.deliver comes with issue #12: Any keeps this file typed the same before and after.
def _deliver_directly(importer: Any, messages: Sequence[bytes], clients: int) -> None:
    with ThreadPoolExecutor(clients) as pool:
        for report in pool.map(lambda raw: importer.deliver(SUPPORT, raw), messages):
            assert str(getattr(report.outcome, "value", report.outcome)) == "created", report


def _serve(importer: Any) -> tuple[Callable[[], None], int]:
    import uvicorn

    settings = InboundSettings(catch_all="support", relay=BasicAuthSettings(user="relay", password=PASSWORD))
    app = create_inbound_app(importer=importer, settings=settings, interfaces=[SUPPORT])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(30)

    return stop, port


def _post_all(port: int, messages: Sequence[bytes]) -> None:
    credentials = base64.b64encode(f"relay:{PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}", "Content-Type": "message/rfc822"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        for raw in messages:
            connection.request("POST", "/relay", body=raw, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
            assert answer.status == 200, body
    finally:
        connection.close()


def _through_http(importer: Importer, messages: Sequence[bytes], clients: int) -> None:
    stop, port = _serve(importer)
    try:
        shares = [messages[n::clients] for n in range(clients)]
        threads = [threading.Thread(target=_post_all, args=(port, share)) for share in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stop()


def _measure(url: str, n: int, clients: int) -> tuple[float, float]:
    rates = []
    for way, tag in ((_deliver_directly, "direct"), (_through_http, "http")):
        messages = _messages(n, tag + secrets.token_hex(4))
        with SQLRecordStore(url) as store:
            importer = Importer(store=store, conversion_workers=0)
            started = time.perf_counter()
            way(importer, messages, clients)
            elapsed = time.perf_counter() - started
            assert len(store.list_records(limit=n + 1)) >= n
        rates.append(n / elapsed)
    return rates[0], rates[1]


def _postgresql_url() -> str | None:
    import sqlalchemy as sa

    url = os.environ.get("MAILTRACK_TEST_POSTGRESQL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"mailtrack_bench_{os.getpid()}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except Exception as exc:
        print(f"PostgreSQL left out: not reachable at {sa.make_url(url).host} ({type(exc).__name__})")
        return None
    finally:
        admin.dispose()
    return str(sa.make_url(url).set(database=name).render_as_string(hide_password=False))


def _drop(url: str) -> None:
    import sqlalchemy as sa

    scratch = sa.make_url(url)
    admin = sa.create_engine(scratch.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {scratch.database} WITH (FORCE)")
    finally:
        admin.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1000, help="messages per measurement")
    parser.add_argument("--clients", type=int, default=8, help="HTTP clients (and direct threads) at once")
    parser.add_argument("--quick", action="store_true", help="200 messages")
    args = parser.parse_args(argv)
    n = 200 if args.quick else args.n
    if not hasattr(Importer, "deliver"):
        print("bench_inbound needs Importer.deliver (issue #12); nothing measured")
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        rows.append(("SQLite", *_measure(f"sqlite:///{Path(folder) / 'bench.db'}", n, args.clients)))
    postgresql = _postgresql_url()
    if postgresql is not None:
        try:
            rows.append(("PostgreSQL", *_measure(postgresql, n, args.clients)))
        finally:
            _drop(postgresql)
    print(f"\n{n} messages, {args.clients} clients at once\n")
    print("| store | deliver() directly, msg/s | relay route over HTTP, msg/s | HTTP vs direct |")
    print("|---|---:|---:|---:|")
    for name, direct, routed in rows:
        print(f"| {name} | {direct:,.0f} | {routed:,.0f} | {routed / direct:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
