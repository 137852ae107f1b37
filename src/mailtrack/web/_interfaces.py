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
from ..config import MailInterface, MailProtocol, Security
from ..exceptions import ConfigError, InterfaceNotFoundError
from ..models import ConnectionCheck, RunReport
from ._interface_form import (
    AFTER_IMPORT,
    FLAGS,
    OAUTH_FLOWS,
    OAUTH_PROVIDERS,
    PROTOCOLS,
    form_values,
    interface_from,
    text,
)
from ._pages import Draft, Site, redirect, render, site
from ._security import checked_form

__all__ = ["check_in_words", "routes", "run_in_words"]


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


def check_in_words(check: ConnectionCheck, interface: MailInterface) -> list[str]:
    """What the connection test found, as sentences for the second step."""
    if not check.ok:
        return [f"The connection test failed: {check.error or 'no reason given'}."]
    if interface.protocol is MailProtocol.DELIVER:
        return [
            "A delivered interface has no mailbox to connect to: its mail is handed over by a mail "
            "server (mailtrack deliver), an e-mail service (the inbound routes) or an archive import."
        ]
    size = "" if check.mailbox_bytes is None else f" ({check.mailbox_bytes:,} bytes)"
    tls = f" over {check.tls_version}" if check.tls_version else " without encryption"
    messages = "" if check.message_count is None else f" {check.message_count} messages are waiting"
    if check.message_count == 1:
        messages = " 1 message is waiting"
    if messages and interface.protocol is MailProtocol.IMAP:
        messages += f" in folder {interface.folder!r}"
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
            "protocols": PROTOCOLS,
            "after_import_choices": AFTER_IMPORT,
            "oauth_providers": OAUTH_PROVIDERS,
            "oauth_flows": OAUTH_FLOWS,
            "error": error,
        },
        status=400 if error else 200,
    )


async def new_interface(request: Request) -> Response:
    return _step_one(
        request,
        {
            "protocol": MailProtocol.POP3.value,
            "security": Security.SSL.value,
            "enabled": True,
            "original": "",
            "folder": "INBOX",
            "oauth_provider": "microsoft",
        },
    )


async def edit_interface(request: Request) -> Response:
    interface = _saved(site(request), request.path_params["name"])
    values = form_values(interface)
    found = site(request)
    report = await run_in_threadpool(found.store.last_run, interface.name)
    values["sign_in_again"] = asks_to_sign_in_again(interface, report.error if report else None)
    return _step_one(request, values)


def _interface_from(found: Site, form: FormData) -> tuple[MailInterface, str | None]:
    """The interface the first step's form describes (the saved one's other settings kept)."""
    original = text(form, "original") or None
    name = text(form, "name")
    if found.file_interface(name) is not None:
        raise ConfigError(f"name: {name!r} is defined in {found.config_file} already")
    saved = _saved(found, original) if original is not None else None
    interface = interface_from(form, saved)
    if name != original and _exists(found, name):
        raise ConfigError(f"name: an interface named {name!r} exists already; edit it instead")
    return interface, original


def _exists(found: Site, name: str) -> bool:
    return any(interface.name == name for interface in found.store.list_interfaces())


async def test_interface(request: Request) -> Response:
    """Step one's "Next": test the connection with the settings typed, then ask for step two."""
    form = await checked_form(request)
    found = site(request)
    shown: dict[str, Any] = {key: text(form, key) for key in form if key != "password"}
    shown.update({flag: form.get(flag) == "on" for flag in FLAGS})
    try:
        interface, original = await run_in_threadpool(_interface_from, found, form)
    except ConfigError as exc:
        return _step_one(request, shown, error=str(exc))
    check = await run_in_threadpool(found.importer.check, interface)
    words = check_in_words(check, interface)
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
    key = text(form, "draft")
    draft = found.drafts.get(key)
    project, defaults_text = text(form, "project"), str(form.get("defaults") or "")
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
    if interface.protocol is MailProtocol.DELIVER:
        raise HTTPException(409, f"{interface.name!r} has no mailbox to run: its mail is handed over.")
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
