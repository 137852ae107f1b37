"""``mailtrack import``: the messages of archives (.eml files, mbox files, Maildir folders).

A progress bar (messages per second, the time still needed) while it works, the run report at
the end; ``--dry-run`` says for each message what would become of it, writing nothing. Ctrl-C
stops after the batch in hand: started again, the import continues where it stopped.
"""

from __future__ import annotations

import collections
import contextlib
import os

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from .._importing.tally import IN_ARCHIVE
from ..config import MailInterface
from ..importer import Importer
from ._app import App, fail, pass_app
from ._progress import stop_on_interrupt
from ._render import print_json, run_summary, safe_text
from ._run import make_importer

__all__ = ["import_archives"]


class _RateColumn(ProgressColumn):
    """Messages per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("- msg/s" if speed is None else f"{speed:,.0f} msg/s")


@click.command("import", short_help="Import archives: .eml files, mbox files, Maildir folders.")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option(
    "--interface", "name", required=True, metavar="NAME", help="The interface whose rules and ledger apply."
)
@click.option(
    "--history",
    is_flag=True,
    help="Old mail moved in: each message keeps its Date as its time and is marked as history.",
)
@click.option("--dry-run", is_flag=True, help="Say what would become of each message; write nothing.")
@click.option("--delete-after", is_flag=True, help="Delete each file once every message in it is imported.")
@click.option("--json", "as_json", is_flag=True, help="Print the report (or the dry run) as JSON.")
@pass_app
def import_archives(
    app: App,
    paths: tuple[str, ...],
    name: str,
    history: bool,
    dry_run: bool,
    delete_after: bool,
    as_json: bool,
) -> None:
    """Import the messages of PATH...: .eml files, mbox files (mboxrd or mboxo), Maildir folders
    (new/ and cur/, with their subfolders), and folders of these, through interface NAME.

    Files are never changed, and deleted only with --delete-after (each once every message in it
    was imported). An import that was stopped (Ctrl-C) or killed continues where it stopped when
    started again; nothing is imported twice. What cannot be imported (no mail, a device, a
    symbolic link loop, a message over max_message_bytes …) is named in the report, and the rest
    is imported. A PATH that does not exist is an error before anything is imported. Exits with
    status 1 when the import failed.
    """
    if dry_run and delete_after:
        raise click.UsageError("--dry-run writes nothing and deletes nothing: leave out --delete-after")
    # A PATH that is not there is a typo more often than not: say so before anything is imported
    # (inside the archives, what vanishes or cannot be read is a note of the report instead).
    missing = [path for path in paths if not os.path.lexists(path)]
    if missing:
        raise fail(f"no such file or folder: {', '.join(missing)}; nothing was imported")
    with app.open_store(read_only=dry_run, missing="empty", note=not as_json) as store:
        (interface,) = app.select(store, (name,))
        importer = make_importer(store, limits=app.config.limits)
        if dry_run:
            _dry_run(app, importer, paths, interface, as_json)
            return
        progress = None
        if not as_json and app.console.is_terminal:
            progress = Progress(
                TextColumn("{task.description}", markup=False, style="bold"),
                BarColumn(),
                MofNCompleteColumn(),
                _RateColumn(),
                TimeRemainingColumn(),
                console=app.console,
            )
        task = progress.add_task(f"import into {name}", total=None) if progress is not None else None

        def advance(done: int, total: int) -> None:
            if progress is not None and task is not None:
                progress.update(task, completed=done, total=total)

        with (
            stop_on_interrupt(app.console, importer.stop),
            progress if progress is not None else contextlib.nullcontext(),
        ):
            report = importer.import_archive(
                paths, interface, history=history, delete_after=delete_after, on_progress=advance
            )
    if as_json:
        print_json([report])
    else:
        app.console.print(run_summary([report], title="Import report", kept=IN_ARCHIVE))
    if not report.ok and not report.busy:
        raise click.exceptions.Exit(1)
    if report.busy:
        raise fail(f"another import into {name} is under way: {report.error}")


def _dry_run(
    app: App, importer: Importer, paths: tuple[str, ...], interface: MailInterface, as_json: bool
) -> None:
    notes: list[str] = []
    verdicts = list(importer.explain_archive(paths, interface, on_note=notes.append))
    if as_json:
        print_json(
            {
                "messages": [{"key": verdict.key, "summary": verdict.summary} for verdict in verdicts],
                "notes": notes,
            }
        )
        return
    for verdict in verdicts:
        app.console.print(safe_text(f"{verdict.key}: {verdict.summary}"))
    for note in notes:
        app.console.print(safe_text(f"  {note}", style="yellow"))
    counts = collections.Counter(_kind(verdict.summary) for verdict in verdicts)
    totals = ", ".join(f"{count} {kind}" for kind, count in counts.most_common()) or "no messages"
    app.console.print(f"Dry run, nothing was written: {len(verdicts)} messages ({totals}).")


def _kind(summary: str) -> str:
    """The first words of a summary, for the totals (``append to record #12`` → ``append``)."""
    return summary.split(" to ", 1)[0].split(":", 1)[0]
