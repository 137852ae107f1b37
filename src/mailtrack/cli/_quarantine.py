"""``mailtrack quarantine list | show | retry``: the messages that could not be imported."""

from __future__ import annotations

import sys

import click

from .._terminal import terminal_safe
from ..exceptions import InterfaceNotFoundError, MailtrackError
from ._app import App, ErrorHandlingGroup, fail, pass_app
from ._render import print_json, quarantine_panel, quarantine_table, safe_text
from ._run import make_importer

__all__ = ["quarantine"]


@click.group(cls=ErrorHandlingGroup, short_help="Messages that could not be imported.")
def quarantine() -> None:
    """Look at the messages that could not be imported, and import them again.

    A quarantined message stays on the mail server (unless the interface's policy says
    otherwise) and is kept in the store with its raw bytes and the reason.
    """


@quarantine.command("list")
@click.option("--interface", "interface_name", metavar="NAME", help="Only the messages of this interface.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON (without the raw bytes).")
@pass_app
def list_quarantined(app: App, interface_name: str | None, as_json: bool) -> None:
    """The quarantined messages, oldest first, with the reason each could not be imported."""
    with app.open_store() as store:
        items = store.list_quarantined(interface_name)
    if as_json:
        print_json(items)
    elif not items:
        app.console.print("The quarantine is empty.")
    else:
        app.console.print(quarantine_table(items))


@quarantine.command("show")
@click.argument("quarantine_id", metavar="ID", type=int)
@click.option(
    "--raw",
    is_flag=True,
    help="Print the whole raw message, unchanged, and nothing else (on a terminal: controls escaped).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON (without the raw bytes).")
@pass_app
def show_quarantined(app: App, quarantine_id: int, raw: bool, as_json: bool) -> None:
    """One quarantined message: where it came from, why it failed, and its header."""
    with app.open_store() as store:
        item = store.get_quarantined(quarantine_id)
    if raw and not sys.stdout.isatty():
        sys.stdout.buffer.write(item.raw)
        sys.stdout.flush()
    elif raw:
        # A terminal would obey the escape sequences a hostile message carries.
        click.echo(terminal_safe(item.raw.decode("latin-1")))
    elif as_json:
        print_json(item)
    else:
        app.console.print(quarantine_panel(item))


@quarantine.command("retry")
@click.argument("quarantine_ids", metavar="[ID]...", type=int, nargs=-1)
@click.option("--all", "retry_all", is_flag=True, help="Retry every quarantined message.")
@pass_app
def retry_quarantined(app: App, quarantine_ids: tuple[int, ...], retry_all: bool) -> None:
    """Import quarantined messages again (after a fix, or when you judged them fine).

    Each is converted again and imported with its interface's settings; what works leaves the
    quarantine. Exits with status 1 when a message still cannot be imported.
    """
    if bool(quarantine_ids) == retry_all:
        raise fail("give the IDs of the messages to retry, or --all")
    failures = 0
    with app.open_store() as store:
        ids = [item.id for item in store.list_quarantined()] if retry_all else list(quarantine_ids)
        known = {entry.interface.name: entry.interface for entry in app.interfaces(store)}
        importer = make_importer(store)
        for quarantine_id in ids:
            item = store.get_quarantined(quarantine_id)
            interface = known.get(item.interface)
            if interface is None:
                raise InterfaceNotFoundError(
                    item.interface,
                    f"message {quarantine_id} came through interface {item.interface!r}, which is no "
                    "longer configured; add it again to retry the message",
                )
            try:
                result = importer.retry_quarantined(quarantine_id, interface=interface)
            except MailtrackError as exc:
                failures += 1
                app.console.print(safe_text(f"{quarantine_id}: still failing — {exc}", style="red"))
                continue
            record = f" record #{result.record_id}" if result.record_id is not None else ""
            app.console.print(f"{quarantine_id}: imported ({result.outcome.value}{record}).")
    if not ids:
        app.console.print("The quarantine is empty.")
    if failures:
        raise click.exceptions.Exit(1)
