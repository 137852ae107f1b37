"""The ``mailtrack`` command group (click): every command but the fast path of ``deliver``.

``mailtrack demo`` imports a bundled set of sample messages from a local test server; ``check``,
``run``, ``explain``, ``interfaces``, ``records`` and ``quarantine`` work on the mail interfaces and the store
named in ``mailtrack.toml`` (or ``--config PATH``); ``db`` upgrades the SQL store's schema;
``oauth login`` signs in to a mail provider with OAuth 2.0; ``web`` serves the pages for people. Every
listing takes ``--json``; errors are printed in plain words, with the traceback only under
``--debug``.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from .. import __version__
from ._app import App, ErrorHandlingGroup
from ._db import db
from ._deliver import deliver
from ._demo import demo
from ._explain import explain
from ._import import import_archives
from ._interfaces import interfaces
from ._oauth import oauth
from ._quarantine import quarantine
from ._records import records
from ._run import check, run
from ._web import web

__all__ = ["cli"]


@click.group(cls=ErrorHandlingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="MAILTRACK_CONFIG",
    help="Configuration file (default: ./mailtrack.toml when it exists). Env: MAILTRACK_CONFIG.",
)
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    envvar="MAILTRACK_STORE",
    help="Store URL, overriding the configuration's (e.g. sqlite:///mailtrack.db). Env: MAILTRACK_STORE.",
)
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
@click.version_option(__version__, "-V", "--version", prog_name="mailtrack")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, store_url: str | None, debug: bool) -> None:
    """mailtrack turns e-mail into trackable records.

    It polls POP3 mailboxes and imports every message exactly once: a new record for a new
    request, one more detail on record #123 when the subject names it.

    Start with `mailtrack demo`, then put your store and mail interfaces in mailtrack.toml.
    """
    ctx.obj = App(
        config_path=config_path,
        store_url=store_url,
        debug=debug,
        console=Console(highlight=False, markup=False),
    )


for command in (
    demo,
    check,
    run,
    deliver,
    import_archives,
    explain,
    interfaces,
    records,
    quarantine,
    db,
    oauth,
    web,
):
    cli.add_command(command)
