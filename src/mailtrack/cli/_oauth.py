"""``mailtrack oauth login NAME``: the one interactive OAuth 2.0 sign-in of an interface."""

from __future__ import annotations

import webbrowser

import click

from ._app import App, pass_app

__all__ = ["oauth"]


@click.group(short_help="OAuth 2.0 sign-in for Microsoft 365, Google and other providers.")
def oauth() -> None:
    """OAuth 2.0 sign-in (XOAUTH2 / OAUTHBEARER) for interfaces with an [interfaces.oauth] table."""


@oauth.command("login")
@click.argument("name")
@click.option("--device", "method", flag_value="device", help="Sign in with a code on another device.")
@click.option("--browser", "method", flag_value="browser", help="Sign in in this machine's browser.")
@click.option("--no-browser", is_flag=True, help="Print the sign-in URL instead of opening a browser.")
@pass_app
def login(app: App, name: str, method: str | None, no_browser: bool) -> None:
    """Sign in once for the interface NAME and keep its refresh token.

    Uses the device code where the provider offers it (Microsoft), else the browser with a
    redirect back to this machine (Google). The tokens go into the interface's token file
    (oauth.token_file, mode 0600); `mailtrack check NAME` then shows the account.
    """
    from ..auth import FileTokenCache, token_cache
    from ..auth._login import sign_in

    def show(line: str) -> None:
        app.console.print(line)

    def open_browser(url: str) -> object:
        return None if no_browser else webbrowser.open(url)

    with app.open_store() as store:
        (interface,) = app.select(store, (name,))
        cache = token_cache(interface, store)
        state = sign_in(
            interface,
            show=show,
            open_browser=open_browser,
            method="auto" if method is None else method,  # type: ignore[arg-type]
            cache=cache,
        )
    account = state.account or interface.login
    where = f"in {cache.path} (mode 0600)" if isinstance(cache, FileTokenCache) else "in the store"
    app.console.print(
        f"Signed in as {account}. The tokens are kept {where}; `mailtrack check {interface.name}` tests them."
    )
