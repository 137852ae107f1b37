"""The interfaces list and the two-step form: connection settings → test → project and defaults → save."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..auth._signin import asks_to_sign_in_again
from ..config import MailInterface, OAuthFlow, OAuthSettings, Security
from ..exceptions import ConfigError, InterfaceNotFoundError
from ..models import ConnectionCheck, RunReport
from ._pages import Draft, Site, redirect, render, site
from ._security import checked_form

__all__ = ["check_in_words", "routes", "run_in_words"]

_FLAGS = ("leave_copy", "enabled", "oauth")
#: The OAuth 2.0 settings the form offers (``oauth_NAME`` fields); the others are kept as saved.
_OAUTH_FIELDS = (
    "provider",
    "flow",
    "client_id",
    "tenant",
    "client_secret_env",
    "service_account_file",
    "token_url",
)
_OAUTH_PROVIDERS = [
    ("microsoft", "Microsoft 365"),
    ("google", "Google Workspace"),
    ("", "Another (token URL)"),
]
_OAUTH_FLOWS = [
    (OAuthFlow.REFRESH_TOKEN.value, "A user signs in once (mailtrack oauth login)"),
    (OAuthFlow.CLIENT_CREDENTIALS.value, "App-only access (Microsoft 365, client secret)"),
    (OAuthFlow.SERVICE_ACCOUNT.value, "Service account with domain-wide delegation (Google)"),
]


def run_in_words(report: RunReport | None) -> str:
    """The last run in one line: its counts, or the error that stopped it."""
    if report is None:
        return "never ran"
    if report.error is not None:
        return f"failed: {report.error}"
    counts = (
        f"{report.imported} imported ({report.created} new, {report.updated} follow-ups), "
        f"{report.skipped} skipped, {report.failed} quarantined"
    )
    return f"{counts}, stopped early" if report.stopped else counts


def check_in_words(check: ConnectionCheck) -> list[str]:
    """What the connection test found, as sentences for the second step."""
    if not check.ok:
        return [f"The connection test failed: {check.error or 'no reason given'}."]
    size = "" if check.mailbox_bytes is None else f" ({check.mailbox_bytes:,} bytes)"
    tls = f" over {check.tls_version}" if check.tls_version else " without encryption"
    messages = "" if check.message_count is None else f" {check.message_count} messages are waiting"
    if check.message_count == 1:
        messages = " 1 message is waiting"
    lines = [f"Connected and logged in{tls}.{messages}{size}{'.' if messages else ''}"]
    lines.extend(check.warnings)
    return lines


def _entries(found: Site) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for interface in found.config.interfaces:
        rows[interface.name] = {"interface": interface, "from_file": True}
    for interface in found.store.list_interfaces():
        rows.setdefault(interface.name, {"interface": interface, "from_file": False})
    for row in rows.values():
        report = found.store.last_run(row["interface"].name)
        row["last_run"] = report
        row["last_run_words"] = run_in_words(report)
        row["sign_in_again"] = asks_to_sign_in_again(row["interface"], report.error if report else None)
    return [rows[name] for name in sorted(rows)]


async def interfaces(request: Request) -> Response:
    found = site(request)
    entries = await run_in_threadpool(_entries, found)
    return render(
        request,
        "interfaces.html",
        {"entries": entries, "config_file": found.config_file, "notice": request.query_params.get("notice")},
    )


def _saved(found: Site, name: str) -> MailInterface:
    if found.file_interface(name) is not None:
        raise HTTPException(
            409, f"{name!r} is defined in {found.config_file}; edit it there, not on this page."
        )
    try:
        return found.store.get_interface(name)
    except InterfaceNotFoundError:
        raise HTTPException(404, f"No interface named {name!r} is saved in the store.") from None


def _any_interface(found: Site, name: str) -> MailInterface:
    interface = found.file_interface(name)
    if interface is not None:
        return interface
    try:
        return found.store.get_interface(name)
    except InterfaceNotFoundError:
        raise HTTPException(404, f"No interface named {name!r}.") from None


def _step_one(request: Request, values: dict[str, Any], *, error: str | None = None) -> Response:
    # The password is never put back into the form: an edit keeps the saved one unless a new one
    # is typed, and a refused form asks for it again.
    values = {key: value for key, value in values.items() if key != "password"}
    return render(
        request,
        "interface_connection.html",
        {
            "values": values,
            "securities": [s.value for s in Security],
            "oauth_providers": _OAUTH_PROVIDERS,
            "oauth_flows": _OAUTH_FLOWS,
            "error": error,
        },
        status=400 if error else 200,
    )


async def new_interface(request: Request) -> Response:
    return _step_one(
        request,
        {"security": Security.SSL.value, "enabled": True, "original": "", "oauth_provider": "microsoft"},
    )


async def edit_interface(request: Request) -> Response:
    interface = _saved(site(request), request.path_params["name"])
    values = attrs.asdict(interface, recurse=False)
    values["security"] = interface.security.value
    values["original"] = interface.name
    values["has_password"] = bool(interface.password or interface.password_env or interface.password_file)
    values.update(_oauth_values(interface.oauth))
    found = site(request)
    report = await run_in_threadpool(found.store.last_run, interface.name)
    values["sign_in_again"] = asks_to_sign_in_again(interface, report.error if report else None)
    return _step_one(request, values)


def _oauth_values(oauth: OAuthSettings | None) -> dict[str, Any]:
    """The form's ``oauth_*`` fields for saved settings (``oauth`` ticked when there are some)."""
    if oauth is None:
        return {"oauth": False, "oauth_provider": "microsoft"}
    values: dict[str, Any] = {f"oauth_{name}": getattr(oauth, name) for name in _OAUTH_FIELDS}
    values.update(oauth=True, oauth_provider=oauth.provider or "", oauth_flow=oauth.flow.value)
    return values


def _oauth_from(form: FormData, saved: OAuthSettings | None) -> OAuthSettings:
    """The OAuth 2.0 settings the form describes; what the form does not show is kept as saved
    (a token file, scopes, a CA file)."""
    typed: dict[str, Any] = {name: _text(form, f"oauth_{name}") or None for name in _OAUTH_FIELDS}
    typed["flow"] = typed["flow"] or OAuthFlow.REFRESH_TOKEN.value
    typed["tenant"] = typed["tenant"] or "organizations"
    if saved is not None:
        return attrs.evolve(saved, **typed)
    return OAuthSettings(**typed)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _interface_from(found: Site, form: FormData) -> tuple[MailInterface, str | None]:
    """The interface the first step's form describes (the saved one's other settings kept)."""
    original = _text(form, "original") or None
    name = _text(form, "name")
    if found.file_interface(name) is not None:
        raise ConfigError(f"name: {name!r} is defined in {found.config_file} already")
    port_text = _text(form, "port")
    if port_text and not port_text.isdigit():
        raise ConfigError("port: must be a number from 1 to 65535")
    try:
        security = Security(_text(form, "security"))
    except ValueError:
        raise ConfigError("security: choose ssl, starttls or none") from None
    values: dict[str, Any] = {
        "name": name,
        "server": _text(form, "server"),
        "port": int(port_text) if port_text else None,
        "login": _text(form, "login"),
        "security": security,
        "ca_file": _text(form, "ca_file") or None,
        **{flag: form.get(flag) == "on" for flag in _FLAGS},
    }
    password = form.get("password")
    if isinstance(password, str) and password:
        values.update(password=password, password_env=None, password_file=None)
    saved = _saved(found, original) if original is not None else None
    if values.pop("oauth"):
        # One way to sign in: OAuth 2.0 replaces the password (a saved one is dropped).
        values.update(
            oauth=_oauth_from(form, saved.oauth if saved else None),
            password="",
            password_env=None,
            password_file=None,
            apop=False,
        )
    else:
        values["oauth"] = None
    if original is None:
        if name and _exists(found, name):
            raise ConfigError(f"name: an interface named {name!r} exists already; edit it instead")
        return MailInterface(**values), None
    assert saved is not None
    if name != original and _exists(found, name):
        raise ConfigError(f"name: an interface named {name!r} exists already")
    return attrs.evolve(saved, **values), original


def _exists(found: Site, name: str) -> bool:
    return any(interface.name == name for interface in found.store.list_interfaces())


async def test_interface(request: Request) -> Response:
    """Step one's "Next": test the connection with the settings typed, then ask for step two."""
    form = await checked_form(request)
    found = site(request)
    shown: dict[str, Any] = {key: _text(form, key) for key in form if key != "password"}
    shown.update({flag: form.get(flag) == "on" for flag in _FLAGS})
    try:
        interface, original = await run_in_threadpool(_interface_from, found, form)
    except ConfigError as exc:
        return _step_one(request, shown, error=str(exc))
    check = await run_in_threadpool(found.importer.check, interface)
    words = check_in_words(check)
    typed = form.get("password")
    if isinstance(typed, str) and typed:
        # A server may repeat what it was sent in its error; the password never goes back out.
        words = [line.replace(typed, "[the password]") for line in words]

    key = found.drafts.add(
        Draft(interface=interface, original=original, passed=check.ok, created=time.monotonic())
    )
    return _step_two(request, key, found.drafts.get(key), words)


def _step_two(
    request: Request, key: str, draft: Draft, check: list[str] | None, *, error: str | None = None,
    project: str | None = None, defaults: str | None = None,
) -> Response:  # fmt: skip
    interface = draft.interface
    return render(
        request,
        "interface_records.html",
        {
            "draft": key,
            "interface": interface,
            "passed": draft.passed,
            "check": check,
            "error": error,
            "project": interface.project if project is None else project,
            "defaults": (
                "\n".join(f"{field} = {value}" for field, value in interface.defaults.items())
                if defaults is None
                else defaults
            ),
        },
        status=400 if error else 200,
    )


def _defaults(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        field, equals, value = line.partition("=")
        if not equals or not field.strip():
            raise ConfigError(f"default fields, line {number}: write it as field = value")
        found[field.strip()] = value.strip()
    return found


async def save_interface(request: Request) -> Response:
    """Step two's "Save": the project and default fields; a failed test needs "save anyway"."""
    form = await checked_form(request)
    found = site(request)
    key = _text(form, "draft")
    draft = found.drafts.get(key)
    project, defaults_text = _text(form, "project"), str(form.get("defaults") or "")
    if not draft.passed and form.get("save_anyway") != "on":
        return _step_two(
            request, key, draft, None, project=project, defaults=defaults_text,
            error="The connection test did not pass: tick “save anyway” to save these settings all the same.",
        )  # fmt: skip
    try:
        interface = attrs.evolve(draft.interface, project=project, defaults=_defaults(defaults_text))
    except ConfigError as exc:
        return _step_two(request, key, draft, None, project=project, defaults=defaults_text, error=str(exc))

    def save() -> None:
        found.store.save_interface(interface)
        if draft.original is not None and draft.original != interface.name:
            found.store.delete_interface(draft.original)

    await run_in_threadpool(save)
    found.drafts.remove(key)
    return redirect(request, "interfaces", query=urlencode({"notice": f"saved:{interface.name}"}))


async def set_enabled(request: Request) -> Response:
    form = await checked_form(request)
    found = site(request)
    interface = _saved(found, request.path_params["name"])
    enabled = form.get("enabled") == "on"
    await run_in_threadpool(found.store.save_interface, attrs.evolve(interface, enabled=enabled))
    return redirect(request, "interfaces")


async def confirm_delete(request: Request) -> Response:
    interface = _saved(site(request), request.path_params["name"])
    return render(request, "interface_delete.html", {"interface": interface})


async def delete_interface(request: Request) -> Response:
    await checked_form(request)
    found = site(request)
    interface = _saved(found, request.path_params["name"])
    await run_in_threadpool(found.store.delete_interface, interface.name)
    return redirect(request, "interfaces", query=urlencode({"notice": f"deleted:{interface.name}"}))


async def run_now(request: Request) -> Response:
    """ "Run now": one pass over the mailbox, then back to the list, which shows the run."""
    await checked_form(request)
    found = site(request)
    interface = _any_interface(found, request.path_params["name"])
    report = await run_in_threadpool(found.importer.run, interface)
    return redirect(
        request,
        "interfaces",
        query=urlencode({"notice": f"{'ran' if report.ok else 'failed'}:{interface.name}"}),
    )


routes = [
    Route("/", interfaces, name="interfaces"),
    Route("/interfaces/new", new_interface, name="new_interface"),
    Route("/interfaces/test", test_interface, methods=["POST"], name="test_interface"),
    Route("/interfaces/save", save_interface, methods=["POST"], name="save_interface"),
    Route("/interfaces/{name:path}/edit", edit_interface, name="edit_interface"),
    Route("/interfaces/{name:path}/enabled", set_enabled, methods=["POST"], name="set_enabled"),
    Route("/interfaces/{name:path}/delete", confirm_delete, name="confirm_delete"),
    Route("/interfaces/{name:path}/delete", delete_interface, methods=["POST"], name="delete_interface"),
    Route("/interfaces/{name:path}/run", run_now, methods=["POST"], name="run_now"),
]
