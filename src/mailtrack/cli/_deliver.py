"""``mailtrack deliver`` in the click application: its help, and the same work as the fast path."""

from __future__ import annotations

import sys

import click

from ._app import App, pass_app
from ._pipe import deliver_from

__all__ = ["deliver"]


@click.command(short_help="Import one message a mail server pipes in (Postfix, Exim).")
@click.option("--interface", "name", required=True, metavar="NAME", help="The interface it is delivered to.")
@click.option(
    "--recipient",
    metavar="ADDRESS",
    help="The envelope recipient (Postfix: ${original_recipient}); routes and the loop check look at it.",
)
@pass_app
def deliver(app: App, name: str, recipient: str | None) -> None:
    """Import the message on standard input into interface NAME, for a mail server's pipe.

    The exit status follows sysexits.h, so that the mail server does the right thing: 0 imported
    (also when it was imported before, skipped by policy, or quarantined because it is
    malformed or empty), 64 the configuration loaded defines no interface of that name,
    69 the store cannot hold the message at all, 75 the interface is disabled, or the store is
    unreachable, locked or missing (the mail server keeps the message and tries again),
    78 no configuration file was found, or it is unreadable or wrong (kept and tried again
    too). Nothing is printed unless something failed or the message was empty. The store is
    never created here: create it first with `mailtrack db upgrade`.
    """
    status = deliver_from(
        sys.stdin.buffer,
        interface=name,
        recipient=recipient,
        config_path=app.config_path,
        store_url=app.store_url,
        debug=app.debug,
    )
    sys.exit(status)
