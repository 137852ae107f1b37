"""``mailtrack records list | show``: the records, their details and attachments."""

from __future__ import annotations

from pathlib import Path

import click

from ._app import App, ErrorHandlingGroup, pass_app
from ._render import print_json, record_view, records_table

__all__ = ["records"]


@click.group(cls=ErrorHandlingGroup)
def records() -> None:
    """Look at the records the imports made."""


@records.command("list")
@click.option("--project", help="Only the records of this project.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Most records to show."
)
@click.option(
    "--offset", type=click.IntRange(min=0), default=0, help="Records to leave out first (for paging)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON (with their details).")
@pass_app
def list_records(app: App, project: str | None, limit: int, offset: int, as_json: bool) -> None:
    """The records, newest first: title, who opened it, how many details and files it has."""
    with app.open_store(read_only=True) as store:
        found = store.list_records(project, limit=limit, offset=offset)
    if as_json:
        print_json(found)
    elif not found:
        if offset:
            app.console.print("No more records.")
        elif project is not None:
            app.console.print(f"No records in project {project!r}.")
        else:
            app.console.print("No records yet.")
    else:
        app.console.print(records_table(found))


@records.command("show")
@click.argument("record_id", metavar="ID", type=int)
@click.option("--headers", is_flag=True, help="Also show the raw header of each detail, exactly as received.")
@click.option(
    "--save-attachments",
    "save_to",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the record's attachments into this folder.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
@pass_app
def show_record(app: App, record_id: int, headers: bool, save_to: Path | None, as_json: bool) -> None:
    """A record with each of its details: sender, date, text, attachments (and headers on request)."""
    with app.open_store(read_only=True) as store:
        record = store.get_record(record_id, load_content=save_to is not None)
    if as_json:
        print_json(record)
    else:
        app.console.print(record_view(record, headers=headers))
    if save_to is not None:
        save_to.mkdir(parents=True, exist_ok=True)
        for detail in record.details:
            for attachment in detail.attachments:
                # Attachment file names are made safe by the converter; the detail ID keeps
                # two files of the same name apart.
                target = save_to / f"{detail.id}-{attachment.filename}"
                target.write_bytes(attachment.content or b"")
                click.echo(f"saved {target}", err=as_json)
