"""``mailtrack interfaces list | add | edit | remove``: the mail interfaces, and adding one after a
connection test."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import click

from ..abc import RecordStore
from ..config import MailInterface, Security
from ..exceptions import InterfaceNotFoundError
from ._app import App, ErrorHandlingGroup, fail, pass_app
from ._render import check_line, interfaces_view, print_json
from ._run import make_importer

__all__ = ["interfaces"]

F = TypeVar("F", bound=Callable[..., Any])


@click.group(cls=ErrorHandlingGroup, short_help="List, add, edit and remove mail interfaces.")
def interfaces() -> None:
    """List, add, edit and remove the mail interfaces saved in the store.

    Interfaces can also be written into the configuration file; those are listed and run
    too, but are changed by editing the file.
    """


@interfaces.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@pass_app
def list_interfaces(app: App, as_json: bool) -> None:
    """Show each interface with the statistics of its last run (time, messages imported, or the error)."""
    with app.open_store(read_only=True, missing="empty", note=not as_json) as store:
        rows = [
            (entry.interface, entry.source, store.last_run(entry.interface.name))
            for entry in app.interfaces(store)
        ]
    if as_json:
        print_json(
            [{"interface": interface, "source": source, "last_run": last} for interface, source, last in rows]
        )
    elif not rows:
        unconfigured = app.nothing_configured()
        app.console.print(
            (f"{unconfigured[0].upper()}{unconfigured[1:]}. " if unconfigured else "")
            + "No mail interface yet. Add one with: mailtrack interfaces add NAME --server … --login …"
        )
    else:
        app.console.print(interfaces_view(rows))


def _parse_defaults(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in values:
        field, separator, content = value.partition("=")
        if not separator or not field.strip():
            raise click.BadParameter(f"{value!r}: write it as FIELD=VALUE, e.g. priority=normal")
        result[field.strip()] = content
    return result


def _interface_options(*, adding: bool) -> Callable[[F], F]:
    """An interface's settings as options; required for ``add``, each optional for ``edit``."""
    options = [
        click.option("--server", required=adding, help="Host name of the POP3 server, e.g. pop.example.com."),
        click.option("--login", required=adding, help="Login name of the mailbox."),
        click.option(
            "--port", type=click.IntRange(1, 65535), help="Port (default: 995 with ssl, 110 otherwise)."
        ),
        click.option(
            "--security",
            type=click.Choice([member.value for member in Security]),
            help="ssl (default), starttls, or none (the password then crosses the network unencrypted).",
        ),
        click.option(
            "--password-env", metavar="VAR", help="Read the password from this environment variable."
        ),
        click.option(
            "--password-file",
            type=click.Path(dir_okay=False),
            help="Read the password from the first line of this file.",
        ),
        click.option(
            "--ask-password",
            is_flag=True,
            help="Type the password now; it is saved in the store (better: --password-env, --password-file).",
        ),
        click.option(
            "--ca-file", type=click.Path(dir_okay=False), help="PEM file of CAs to trust (a private CA)."
        ),
        click.option("--apop/--no-apop", default=None, help="Log in with APOP instead of USER/PASS."),
        click.option(
            "--leave-copy/--no-leave-copy",
            default=None,
            help="Leave the messages on the server after importing (default: delete them).",
        ),
        click.option("--project", help="Project of the records this interface opens (default: default)."),
        click.option(
            "--default",
            "defaults",
            multiple=True,
            metavar="FIELD=VALUE",
            callback=_parse_defaults,
            help="A field value for every new record (repeatable), e.g. --default priority=normal.",
        ),
        click.option("--enable/--disable", "enabled", default=None, help="Enable or temporarily disable it."),
        click.option(
            "--timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds to wait for the server."
        ),
        click.option(
            "--save-anyway",
            is_flag=True,
            help="Save even when the connection test fails (e.g. the server is down right now).",
        ),
    ]

    def decorate(function: F) -> F:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _settings(options: dict[str, Any]) -> dict[str, Any]:
    """The MailInterface fields the user gave (options left out are not changed)."""
    settings: dict[str, Any] = {}
    for name in ("server", "login", "port", "ca_file", "apop", "leave_copy", "project", "enabled", "timeout"):
        if options.get(name) is not None:
            settings[name] = options[name]
    if options.get("defaults"):
        settings["defaults"] = options["defaults"]
    if options.get("security"):
        settings["security"] = Security(options["security"])
    sources = [name for name in ("password_env", "password_file", "ask_password") if options.get(name)]
    if len(sources) > 1:
        raise fail("give only one of --password-env, --password-file and --ask-password")
    if sources:
        # One source replaces the others, so that an old password does not linger in the store.
        settings.update(password="", password_env=None, password_file=None)
        if sources[0] == "ask_password":
            settings["password"] = click.prompt("Password", hide_input=True)
        else:
            settings[sources[0]] = options[sources[0]]
    return settings


def _test_and_save(
    app: App, store: RecordStore, interface: MailInterface, *, save_anyway: bool, verb: str
) -> None:
    """Test the connection, and save only when it works (or when told to)."""
    result = make_importer(store).check(interface)
    app.console.print(check_line(result, interface))
    if not result.ok and not save_anyway:
        raise fail(
            f"{interface.name!r} was not {verb}. Fix the settings, or use --save-anyway to save it as it is."
        )
    store.save_interface(interface)
    app.console.print(f"Mail interface {interface.name!r} {verb}.")


def _refuse_file_interface(app: App, name: str, *, adding: bool = False) -> None:
    """Refuse to add, change or remove in the store an interface the configuration file defines."""
    if any(interface.name == name for interface in app.config.interfaces):
        where = app.config_file or "the configuration file"
        other = "; or add one under another name" if adding else ""
        raise fail(
            f"a mail interface named {name!r} is defined in {where}, not in the store: edit its "
            f"[[interfaces]] entry with name = {name!r} there, then test it with "
            f"`mailtrack check {name}`{other}"
        )


@interfaces.command("add")
@click.argument("name")
@_interface_options(adding=True)
@pass_app
def add_interface(app: App, /, name: str, save_anyway: bool, **options: Any) -> None:
    """Add a mail interface: test the connection, then save it in the store.

    The password is read from an environment variable (--password-env) or a file
    (--password-file) when mailtrack connects, so it need not be stored anywhere; with
    --ask-password it is saved in the store.
    """
    _refuse_file_interface(app, name, adding=True)
    settings = _settings(options)
    if not ({"password", "password_env", "password_file"} & settings.keys()):
        raise fail(
            "say where the password comes from: --password-env VAR, --password-file PATH or --ask-password"
        )
    interface = MailInterface(name=name, **settings)
    with app.open_store() as store:
        if any(saved.name == name for saved in store.list_interfaces()):
            raise fail(
                f"a mail interface named {name!r} exists already; "
                f"change it with `mailtrack interfaces edit {name}`"
            )
        _test_and_save(app, store, interface, save_anyway=save_anyway, verb="added")


@interfaces.command("edit")
@click.argument("name")
@_interface_options(adding=False)
@pass_app
def edit_interface(app: App, /, name: str, save_anyway: bool, **options: Any) -> None:
    """Change settings of a saved mail interface; the connection is tested before saving."""
    _refuse_file_interface(app, name)
    settings = _settings(options)
    with app.open_store() as store:
        interface = store.get_interface(name)
        if "defaults" in settings:  # added to the saved ones, not replacing them
            settings["defaults"] = {**interface.defaults, **settings["defaults"]}
        if not settings:
            raise fail("nothing to change; give the settings to change, e.g. --server or --project")
        changed = attrs.evolve(interface, **settings)
        _test_and_save(app, store, changed, save_anyway=save_anyway, verb="saved")


@interfaces.command("remove")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def remove_interface(app: App, name: str, yes: bool) -> None:
    """Delete a saved mail interface. Its records, import ledger and run history stay."""
    _refuse_file_interface(app, name)
    with app.open_store() as store:
        store.get_interface(name)  # a plain-words error before asking, when there is none
        if not yes:
            click.confirm(f"Delete mail interface {name!r}? Its records and run history stay", abort=True)
        with contextlib.suppress(InterfaceNotFoundError):  # removed meanwhile: the wish came true
            store.delete_interface(name)
    app.console.print(f"Mail interface {name!r} removed.")
