"""``mailtrack demo``: a first import, from a local POP3 server holding realistic sample mail."""

from __future__ import annotations

import secrets
from pathlib import Path

import attrs
import click
from rich.rule import Rule

from .._demo import demo_messages
from ..stores import store_from_url
from ._app import App, pass_app
from ._progress import RunMonitor
from ._render import quarantine_table, record_view, records_table, run_summary
from ._run import make_importer, run_interfaces
from ._web import serve_demo

__all__ = ["DEMO_DB", "demo"]

#: The SQLite file the demo imports into, in the current directory.
DEMO_DB = "mailtrack-demo.db"


@click.command(short_help="Import sample mail from a local test server: start here.")
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEMO_DB,
    show_default=True,
    help="SQLite file to import into (kept, so that a second run can show that nothing is imported twice).",
)
@click.option(
    "--web", "show_web", is_flag=True, help="Then serve the pages on 127.0.0.1 to look at the demo's records."
)
@click.option(
    "--port",
    default=8025,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="The pages' port (with --web).",
)
@pass_app
def demo(app: App, db_path: Path, show_web: bool, port: int) -> None:
    """Import a bundled set of sample messages from a local POP3 test server into SQLite.

    The messages are new requests, follow-ups naming #ID, HTML, attachments, an inline image,
    ISO-8859-1 text, an auto-reply, a broken message and a hostile one (quarantined). Run it
    twice: the second run imports nothing, because the store's ledger remembers every message.

    With --web, the pages (`mailtrack web`) then show the demo store in your browser; the
    password is printed (or taken from MAILTRACK_WEB_TOKEN).
    """
    from ..testing import POP3TestServer

    console = app.console
    messages = demo_messages()
    store_url = f"sqlite:///{db_path}"
    console.print(
        f"Starting a POP3 test server on 127.0.0.1 with {len(messages)} sample messages, "
        f"importing into {db_path} …"
    )
    # A password made for this run only; the demo server is gone when the command ends.
    password = secrets.token_urlsafe(16)
    raws = [raw for _name, raw in messages]
    with (
        POP3TestServer(raws, user="demo", password=password) as server,
        store_from_url(store_url) as store,
    ):
        # Loopback only, so the plain connection the test server offers is acceptable here.
        interface = server.interface(name="demo", project="demo", leave_copy=False)
        # What the run changed is told by counting details, not by clocks.
        details_before = {record.id: len(record.details) for record in store.list_records("demo")}
        monitor = RunMonitor()
        importer = make_importer(store, monitor=monitor)
        [report] = run_interfaces(app, importer, monitor, [interface], show_progress=True)
        # Saved (without the password, disabled) so that `interfaces list` shows its last run.
        store.save_interface(attrs.evolve(interface, password="", enabled=False))
        found = store.list_records("demo", limit=100)
        held = store.list_quarantined("demo")
        if report.imported:
            changed = [record for record in found if details_before.get(record.id) != len(record.details)]
            for record in reversed(changed):
                console.print(Rule(style="dim"))
                console.print(record_view(record, max_lines=12))
            console.print(Rule(style="dim"))
    console.print(records_table(found, title="Records in the demo store"))
    if held:
        console.print(quarantine_table(held))
    console.print(run_summary([report], title="This run"))
    store_option = f"--store {store_url}"
    if report.imported == 0 and report.ok:
        console.print(
            f"\nNothing new: all {report.skipped} messages were handled by an earlier run "
            "(the store's ledger remembers each one), so nothing was imported twice."
        )
    else:
        console.print(
            "\nRun `mailtrack demo` again: the same messages are offered, and none is imported twice."
        )
    console.print(
        "Look around:\n"
        f"  mailtrack {store_option} records show 1 --headers\n"
        f"  mailtrack {store_option} quarantine list\n"
        f"  mailtrack {store_option} interfaces list"
    )
    if show_web:  # the pages show a failed run too; the exit status still tells
        serve_demo(app, store_url, port=port)
    if not report.ok:
        raise click.exceptions.Exit(1)
