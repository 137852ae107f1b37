"""``mailtrack explain FILE.eml --interface NAME``: what an import would do with a message, and why."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from .._importing.explaining import Explanation
from ._app import App, fail, pass_app
from ._render import print_json, safe_text
from ._run import make_importer

__all__ = ["explain"]


@click.command(short_help="Say what an import would do with a message, and why.")
@click.argument("path", metavar="FILE.eml", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--interface", "name", required=True, metavar="NAME", help="The mail interface whose rules apply."
)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@pass_app
def explain(app: App, path: Path, name: str, as_json: bool) -> None:
    """Explain the decision on the message in FILE.eml, as if it came through interface NAME.

    Shows the message's class (normal mail, auto-reply, bounce, own mail), the evidence that
    names a record (a signed reply token, In-Reply-To/References, the subject's tag), the sender
    policy's verdict and the action: a new record, an append to record #N, a skip or the
    quarantine. Nothing is written: no record, no ledger row, no quarantine entry.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {str(path)!r}: {exc.strerror}") from None
    with app.open_store() as store:
        [interface] = app.select(store, (name,))
        told = make_importer(store).explain(interface, raw)
    if as_json:
        print_json(told)
    else:
        app.console.print(explanation_view(told))


def explanation_view(told: Explanation) -> Table:
    """The explanation as label/value lines (every text from the message shown as plain text)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()

    def row(label: str, value: str) -> None:
        grid.add_row(label, safe_text(value))

    row("Interface", told.interface)
    if told.message_class is not None:
        row("Message", f"{told.subject!r} <{told.message_id}>")
        row("Class", told.message_class.value.replace("_", " "))
    for number, line in enumerate(told.evidence or ("none",)):
        row("Evidence" if number == 0 else "", line)
    for number, line in enumerate(told.reasons):
        row("Why" if number == 0 else "", line)
    for field_name, (old, new) in told.fields.items():
        row("Field", f"{field_name}: {old!r} → {new!r}")
    for number, line in enumerate(told.notes):
        row("Notes" if number == 0 else "", line)
    grid.add_row("Action", safe_text(told.summary, style="bold"))
    return grid
