"""``mailtrack db upgrade | current | history | stamp``: the schema of the SQL store."""

from __future__ import annotations

from typing import Any

import click

from ._app import App, ErrorHandlingGroup, fail, pass_app
from ._render import print_json

__all__ = ["db"]


@click.group(cls=ErrorHandlingGroup, short_help="The SQL store's schema: upgrade, current, history, stamp.")
def db() -> None:
    """The schema of the SQL store that the configuration (or --store) names.

    A new mailtrack may need a newer schema; it then refuses to open the store until
    `mailtrack db upgrade` has run. Back up the database first.
    """


def _sql(app: App) -> Any:
    """The module of the SQL store, once it is sure the store is an SQL database."""
    url = app.effective_store_url
    if url.partition("://")[0].lower().partition("+")[0] == "memory":
        raise fail("the store is memory://, which has no schema; `mailtrack db` works on SQL stores")
    try:
        from ..stores import sql
    except ImportError as exc:
        raise fail("SQL stores need SQLAlchemy and Alembic: pip install 'mailtrack[sql]'") from exc
    app.require_sqlite_folder()
    return sql


@db.command()
@click.option("--revision", default="head", show_default=True, help="The revision to reach.")
@pass_app
def upgrade(app: App, revision: str) -> None:
    """Bring the store's schema up to date (creating it in an empty database).

    Safe to run again, and while importers run elsewhere (they refuse the store until it is
    done, and take no partial schema). Back up the database first.
    """
    sql = _sql(app)
    before = sql.upgrade(app.effective_store_url, revision)
    after = sql.current(app.effective_store_url)
    if before == after:
        app.console.print(f"The mailtrack schema is at {after} already: nothing to do.")
    elif before is None:
        app.console.print(f"Created the mailtrack schema at {after}.")
    else:
        app.console.print(f"Upgraded the mailtrack schema from {before} to {after}.")


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print the facts as JSON.")
@pass_app
def current(app: App, as_json: bool) -> None:
    """The schema revision the store is at, and the one this mailtrack needs."""
    sql = _sql(app)
    found = sql.current(app.effective_store_url)
    if as_json:
        print_json({"current": found, "head": sql.SCHEMA_VERSION})
    elif found is None:
        app.console.print(
            f"No mailtrack schema revision is recorded; this mailtrack needs {sql.SCHEMA_VERSION}."
        )
    elif found == sql.SCHEMA_VERSION:
        app.console.print(f"{found} (the newest: up to date)")
    else:
        app.console.print(f"{found!r}; this mailtrack needs {sql.SCHEMA_VERSION}: run `mailtrack db upgrade`")


@db.command()
@click.option("--json", "as_json", is_flag=True, help="Print the revisions as JSON.")
@pass_app
def history(app: App, as_json: bool) -> None:
    """mailtrack's schema revisions, oldest first."""
    sql = _sql(app)
    revisions = sql.history()
    if as_json:
        print_json(revisions)
        return
    for revision in revisions:
        app.console.print(f"{revision.id}  {revision.description}")


@db.command()
@click.argument("revision")
@pass_app
def stamp(app: App, revision: str) -> None:
    """Record that the store's tables are at REVISION, without changing them.

    For tables that record no version, e.g. made by SQLRecordStore.metadata.create_all before
    mailtrack had migrations: `mailtrack db stamp 0001_baseline`, then `mailtrack db upgrade`.
    A wrong REVISION makes a later upgrade fail or skip a change: be sure.
    """
    sql = _sql(app)
    sql.stamp(app.effective_store_url, revision)
    app.console.print(f"Recorded the mailtrack schema as {revision}.")
