"""``mailtrack demo``: a first import, from a local POP3 server holding realistic sample mail."""

from __future__ import annotations

import secrets
from email.parser import BytesHeaderParser
from pathlib import Path

import attrs
import click
from rich import box
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from .._demo import demo_messages
from ..abc import RecordStore
from ..models import QuarantinedMessage
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
        monitor = RunMonitor()
        importer = make_importer(store, monitor=monitor)
        [report] = run_interfaces(app, importer, monitor, [interface], show_progress=True)
        # Saved (without the password, disabled) so that `interfaces list` shows its last run.
        store.save_interface(attrs.evolve(interface, password="", enabled=False))
        found = store.list_records("demo", limit=100)
        held = store.list_quarantined("demo")
        if report.imported or report.quarantined:
            console.print(fates_table(store, messages, held))
            shown = max(found, key=lambda record: (len(record.details), record.id), default=None)
            if shown is not None:
                console.print(
                    Rule(f"Record #{shown.id}, as `records show {shown.id}` prints it", style="dim")
                )
                console.print(record_view(shown, max_lines=6))
                console.print(Rule(style="dim"))
    if not (report.imported or report.quarantined):  # else the table of samples named them
        console.print(records_table(found, title="Records in the demo store"))
    if held:
        console.print(quarantine_table(held))
    console.print(run_summary([report], title="This run"))
    store_option = f"--store {store_url}"
    if report.imported == report.quarantined == 0 and report.ok:
        console.print(
            f"\nNothing new: all {report.offered} messages were handled by an earlier run "
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


def fates_table(
    store: RecordStore, messages: list[tuple[str, bytes]], held: list[QuarantinedMessage]
) -> Table:
    """One line per sample message: what it is (its file name says) and what became of it."""
    table = Table(
        title="What became of each sample", box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False
    )
    for column in ("#", "Sample", "Became"):
        table.add_column(column, no_wrap=column != "Became")
    quarantined = {item.raw: item for item in held}
    for number, (name, raw) in enumerate(messages, 1):
        sample = name.removesuffix(".eml").lstrip("0123456789-")
        table.add_row(str(number), sample, Text(_fate(store, name, raw, quarantined)))
    return table


def _fate(store: RecordStore, name: str, raw: bytes, quarantined: dict[bytes, QuarantinedMessage]) -> str:
    if raw in quarantined:
        return f"quarantined: {quarantined[raw].error}"
    header = BytesHeaderParser().parsebytes(raw)
    message_id = str(header.get("Message-ID", "")).strip().strip("<>")
    record = store.find_record_by_message_id(message_id) if message_id else None
    if record is None:
        kind = "an auto-reply" if header.get("Auto-Submitted", "no").lower() != "no" else "it"
        return f"skipped by policy: {kind} naming no record opens none"
    first = record.details[0].message_id == message_id
    fate = f"new record #{record.id}: {record.title}" if first else f"follow-up added to #{record.id}"
    return fate + _WHY.get(name, "")


#: What the demo's odd samples show, beside what became of them.
_WHY = {
    "08-broken.eml": " (broken: an unknown charset, a very long line, a cut-off subject tag, "
    "invalid base64, a ../ file name; imported as well as it can be)",
}
