"""``mailtrack quarantine list | show | retry | discard | export``: the messages that could not be
imported."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import attrs
import click

from ..config import ParseLimits
from ..exceptions import InterfaceNotFoundError, MailtrackError
from ._app import App, ErrorHandlingGroup, fail, pass_app
from ._render import print_json, quarantine_panel, quarantine_table
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
    with app.open_store(read_only=True) as store:
        items = store.list_quarantined(interface_name)
    if as_json:
        print_json(items)
    elif not items:
        app.console.print("The quarantine is empty.")
    else:
        app.console.print(quarantine_table(items))


@quarantine.command("show")
@click.argument("quarantine_id", metavar="ID", type=int)
@click.option("--raw", is_flag=True, help="Print the whole raw message, unchanged, and nothing else.")
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON (without the raw bytes).")
@pass_app
def show_quarantined(app: App, quarantine_id: int, raw: bool, as_json: bool) -> None:
    """One quarantined message: where it came from, why it failed, and its header."""
    with app.open_store(read_only=True) as store:
        item = store.get_quarantined(quarantine_id)
    if raw:
        sys.stdout.buffer.write(item.raw)
        sys.stdout.flush()
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
        importer = make_importer(store, limits=app.config.limits)
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
                app.console.print(f"{quarantine_id}: still failing: {exc}", style="red")
                app.console.print(f"  {remedy(str(exc), app.config.limits, app.config_file)}")
                continue
            record = f" record #{result.record_id}" if result.record_id is not None else ""
            app.console.print(f"{quarantine_id}: imported ({result.outcome.value}{record}).")
    if not ids:
        app.console.print("The quarantine is empty.")
    if failures:
        raise click.exceptions.Exit(1)


#: How a converter's reason names the limit it hit: "… (limit max_depth)".
_LIMIT_NAMED = re.compile(r"\(limit (\w+)\)")


def remedy(reason: str, limits: ParseLimits, config_file: Path | None) -> str:
    """What would let a message that failed for *reason* through: the setting to change, or
    what else can be done with it."""
    match = _LIMIT_NAMED.search(reason)
    names = {field.name for field in attrs.fields(ParseLimits)}
    if match is None or match.group(1) not in names:
        return (
            "No setting lets it through. Keep its raw bytes with `mailtrack quarantine export ID "
            "FILE.eml`, or give up on it with `mailtrack quarantine discard ID`."
        )
    name = match.group(1)
    where = config_file or "mailtrack.toml"
    return (
        f"To let it through, raise {name} (now {getattr(limits, name):g}) in the [limits] table "
        f"of {where}, e.g. `{name} = {getattr(limits, name) * 2:g}`, then retry."
    )


@quarantine.command("discard")
@click.argument("quarantine_ids", metavar="ID...", type=int, nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def discard_quarantined(app: App, quarantine_ids: tuple[int, ...], yes: bool) -> None:
    """Give up on quarantined messages: they leave the quarantine and are never imported.

    Each is marked as handled, so the next run deletes it on the server (unless the interface
    leaves copies there) instead of trying it again. Its raw bytes are gone afterwards: keep
    them first with `mailtrack quarantine export ID FILE.eml` if they may be wanted.
    """
    with app.open_store(read_only=True) as store:
        items = [store.get_quarantined(quarantine_id) for quarantine_id in dict.fromkeys(quarantine_ids)]
        if not yes:
            listed = ", ".join(f"{item.id} ({item.interface}, {len(item.raw)} bytes)" for item in items)
            click.confirm(f"Discard {listed}? Their raw bytes are deleted", abort=True)
        importer = make_importer(store)
        for item in items:
            importer.discard_quarantined(item.id)
            app.console.print(
                f"{item.id}: discarded; the next run of {item.interface!r} deletes it on the server."
            )


@quarantine.command("export")
@click.argument("quarantine_id", metavar="ID", type=int)
@click.argument("file", metavar="FILE.eml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE.eml when it exists.")
@pass_app
def export_quarantined(app: App, quarantine_id: int, file: Path, force: bool) -> None:
    """Write the raw bytes of a quarantined message into FILE.eml, exactly as the server sent them.

    A mail program opens the file; a bug report can carry it. The message stays in the quarantine.
    """
    with app.open_store(read_only=True) as store:
        item = store.get_quarantined(quarantine_id)
    if file.exists() and not force:
        raise fail(f"{file} exists already; give another name, or --force to replace it")
    file.write_bytes(item.raw)
    app.console.print(f"{quarantine_id}: {len(item.raw)} bytes written to {file}.")
