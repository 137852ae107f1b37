"""``mailtrack web``: the pages (interfaces, records, quarantine) served on 127.0.0.1."""

from __future__ import annotations

import os

import click

from ..abc import RecordStore
from ._app import App, fail, pass_app

__all__ = ["TOKEN_ENV", "serve_demo", "serve_pages", "web"]

#: The environment variable that holds the password of the pages.
TOKEN_ENV = "MAILTRACK_WEB_TOKEN"  # noqa: S105 - the name of a variable, not a secret


def serve_pages(
    app: App,
    store: RecordStore,
    *,
    token: str,
    host: str,
    port: int,
    user: str = "any name",
    open_browser: bool = False,
) -> None:
    """Serve the pages of *store* behind *token* until Ctrl-C; tell the user where and how to sign in."""
    from ..web import TokenAuthorization, create_app, serve

    config_file = str(app.config_path) if app.config_path else "mailtrack.toml"
    pages = create_app(
        store=store, config=app.config, authorize=TokenAuthorization(token), config_file=config_file
    )
    inbound = app.config.inbound
    if inbound is not None and inbound.services:
        from ._inbound import with_inbound

        pages = with_inbound(pages, app.config, store)
        app.console.print(
            f"Inbound routes ({', '.join(inbound.services)}) at {inbound.path}/…, "
            "checked by each service's own credentials."
        )

    def ready(url: str) -> None:
        app.console.print(f"The pages are at {url} (user name: {user}, password: the token). Ctrl-C stops.")
        # Only where a graphical browser can open: elsewhere webbrowser may start a text browser
        # on this terminal.
        if open_browser and (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.name == "nt"
        ):
            import webbrowser

            webbrowser.open(url)

    serve(pages, host=host, port=port, on_ready=ready)
    app.console.print("Stopped.")


def serve_demo(app: App, store_url: str, *, port: int) -> None:
    """``mailtrack demo --web``: the demo store's pages, behind a password made now (or the
    variable's), printed for the user."""
    import secrets

    from ..stores import store_from_url

    token = os.environ.get(TOKEN_ENV) or secrets.token_urlsafe(12)
    app.console.print(f"\nServing the demo store's pages; sign in with user name demo and password {token}")
    with store_from_url(store_url) as store:
        serve_pages(app, store, token=token, host="127.0.0.1", port=port, user="demo", open_browser=True)


@click.command(short_help="Serve the pages: interfaces, records, quarantine.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (this machine only by default).",
)
@click.option(
    "--port", default=8025, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: a free one)."
)
@pass_app
def web(app: App, host: str, port: int) -> None:
    """Serve mailtrack's pages for people: the mail interfaces with their last runs (add, edit,
    test, run), the records with their messages and attachments, and the quarantine.

    The browser asks for a password: the value of the environment variable MAILTRACK_WEB_TOKEN
    (any user name). Without it, nothing is served. Needs `pip install 'mailtrack[web]'`.
    Listen on another address than 127.0.0.1 only behind a reverse proxy that speaks TLS.
    """
    token = os.environ.get(TOKEN_ENV, "")
    if len(token) < 8:
        raise fail(
            f"set {TOKEN_ENV} to the password the pages should ask for (at least 8 characters), "
            f"e.g. export {TOKEN_ENV}=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe())')\""
        )
    try:
        import starlette  # noqa: F401
    except ImportError:
        raise fail("the pages need the web extra: pip install 'mailtrack[web]'") from None
    with app.open_store() as store:
        serve_pages(app, store, token=token, host=host, port=port)
