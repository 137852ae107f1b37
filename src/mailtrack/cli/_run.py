"""``mailtrack check`` and ``mailtrack run``: test the connections, import the mail."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from datetime import datetime, timezone

import attrs
import click

from ..abc import RecordStore
from ..config import MailInterface, ParseLimits
from ..converting import MailParserConverter
from ..importer import Importer
from ..models import RunReport
from ._app import App, Duration, fail, pass_app
from ._progress import RunMonitor, stop_on_interrupt
from ._render import check_line, print_json, run_summary, when

__all__ = ["check", "make_importer", "run", "run_interfaces"]

_NOTHING_TO_RUN = (
    "no enabled mail interface; add one with `mailtrack interfaces add` or in the configuration file"
)


def _nothing_to_run(app: App) -> click.ClickException:
    """The error for no interface to run: first that no configuration file was found, if so."""
    unconfigured = app.nothing_configured()
    return fail(f"{unconfigured}; {_NOTHING_TO_RUN}" if unconfigured else _NOTHING_TO_RUN)


def make_importer(
    store: RecordStore, *, monitor: RunMonitor | None = None, limits: ParseLimits | None = None
) -> Importer:
    """The importer the commands use: mailtrack's defaults, the configuration's parse *limits*,
    and the fetchers watched by *monitor*."""
    importer = Importer(store=store, converter=MailParserConverter(limits=limits or ParseLimits()))
    if monitor is None:
        return importer
    return attrs.evolve(importer, fetcher_factory=monitor.wrap(importer.fetcher_factory))


def run_interfaces(
    app: App,
    importer: Importer,
    monitor: RunMonitor,
    interfaces: Sequence[MailInterface],
    *,
    show_progress: bool,
) -> list[RunReport]:
    """Import from each interface in turn, with a progress bar each, until the importer stops.

    *importer* must have been made by :func:`make_importer` with *monitor*.
    """
    monitor.progress = None
    if show_progress and app.console.is_terminal:
        monitor.progress = RunMonitor.display(app.console)
    reports: list[RunReport] = []
    with monitor.progress if monitor.progress is not None else contextlib.nullcontext():
        for interface in interfaces:
            if importer.stopping:
                break
            reports.append(importer.run(interface))
    return reports


@click.command(short_help="Test the connections to the mail servers.")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_app
def check(app: App, names: tuple[str, ...], as_json: bool) -> None:
    """Test the connection to the named mail interfaces (default: all enabled ones).

    Connects, logs in, counts the waiting messages and logs out; nothing is imported or deleted.
    Exits with status 1 when a connection failed.
    """
    with app.open_store(read_only=True, missing="empty", note=not as_json) as store:
        interfaces = app.select(store, names)
        if not interfaces:
            raise _nothing_to_run(app)
        importer = make_importer(store)
        results = [(interface, importer.check(interface)) for interface in interfaces]
    if as_json:
        print_json([result for _, result in results])
    else:
        for interface, result in results:
            app.console.print(check_line(result, interface))
    if not all(result.ok for _, result in results):
        raise click.exceptions.Exit(1)


@click.command(short_help="Import the mail, once or --every 5m.")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option(
    "--every",
    type=Duration(),
    metavar="DURATION",
    help="Keep polling at this interval (90s, 5m, 1h; a bare number is seconds) until interrupted.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run reports as JSON.")
@pass_app
def run(app: App, names: tuple[str, ...], every: float | None, as_json: bool) -> None:
    """Import the mail of the named interfaces (default: all enabled ones).

    Shows a progress bar per interface while it works and a summary at the end. Ctrl-C stops
    after the message in hand: it is committed, and the rest stays on the server for the next
    run. Exits with status 1 when an interface failed (its messages stay on the server).
    """
    # Without a configuration file, a store that does not exist is not made just to find it empty.
    with app.open_store(read_only=app.nothing_configured() is not None, missing="empty") as store:
        monitor = RunMonitor()
        importer = make_importer(store, monitor=monitor, limits=app.config.limits)
        with stop_on_interrupt(app.console, importer.stop) as stop:
            failed = _run_passes(app, importer, monitor, names, every, as_json, stop)
    if failed:
        raise click.exceptions.Exit(1)


def _run_passes(
    app: App,
    importer: Importer,
    monitor: RunMonitor,
    names: tuple[str, ...],
    every: float | None,
    as_json: bool,
    stop: threading.Event,
) -> bool:
    """The passes of ``mailtrack run``; whether an interface failed in the last one."""
    interfaces = app.select(importer.store, names)
    if not interfaces:
        raise _nothing_to_run(app)
    while True:
        reports = run_interfaces(app, importer, monitor, interfaces, show_progress=not as_json)
        now = when(datetime.now(timezone.utc))
        if as_json:
            print_json(reports)
        elif every is not None and all(_quiet(report) for report in reports):
            app.console.print(f"{now} nothing new ({_offered(reports)})")
        else:
            title = "Run report" if every is None else f"Run report, {now}"
            app.console.print(run_summary(reports, title=title))
        # A mailbox another worker is importing is not a failure of this one.
        failed = any(not report.ok and not report.busy for report in reports)
        if every is None or stop.is_set() or stop.wait(every):
            break
    if stop.is_set() and not as_json:
        app.console.print("Stopped.")
    return failed


def _quiet(report: RunReport) -> bool:
    """Whether a pass over this mailbox changed nothing: no error, nothing imported or quarantined."""
    return report.ok and report.imported == 0 and report.quarantined == 0


def _offered(reports: Sequence[RunReport]) -> str:
    """What the servers offered, in a few words: ``"2 interfaces, 5 messages already imported"``."""
    mailboxes = f"{len(reports)} interface{'' if len(reports) == 1 else 's'}"
    waiting = sum(report.offered for report in reports)
    if not waiting:
        return f"{mailboxes}, empty"
    known = sum(report.already_imported for report in reports)
    left = sum(report.left_on_server for report in reports)
    parts = [f"{known} already imported"] if known else []
    parts += [f"{left} left on the server"] if left else []
    return f"{mailboxes}, " + ", ".join(parts)
