"""The first step of the interface form: the fields it shows for an interface, and the interface
the posted fields describe.

The form follows the protocol: POP3 and IMAP need a server and a login (IMAP also a folder and
what becomes of an imported message), ``deliver`` has no mailbox, so no server, login or
password. What the form posts is checked by :class:`~mailtrack.MailInterface` itself, so the
page refuses exactly what ``mailtrack.toml`` would, with the same words; settings the form does
not show are kept as saved.
"""

from __future__ import annotations

from typing import Any

import attrs
from starlette.datastructures import FormData

from ..config import MailInterface, MailProtocol, OAuthFlow, OAuthSettings, Security
from ..exceptions import ConfigError

__all__ = [
    "AFTER_IMPORT",
    "FLAGS",
    "OAUTH_FLOWS",
    "OAUTH_PROVIDERS",
    "PROTOCOLS",
    "form_values",
    "interface_from",
    "text",
]

FLAGS = ("leave_copy", "enabled", "oauth")
PROTOCOLS = [
    (MailProtocol.POP3.value, "POP3"),
    (MailProtocol.IMAP.value, "IMAP"),
    (MailProtocol.DELIVER.value, "Delivered: a mail server's pipe or an e-mail service (no mailbox)"),
]
#: The choices of ``after_import``; ``move`` takes its folder from the ``move_folder`` field.
AFTER_IMPORT = [
    ("", "As “leave a copy” says: keep it, or delete it"),
    ("delete", "Delete it"),
    ("keep", "Keep it"),
    ("flag", "Keep it, marked as seen (IMAP)"),
    ("move", "Move it to the folder below (IMAP)"),
]
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
OAUTH_PROVIDERS = [
    ("microsoft", "Microsoft 365"),
    ("google", "Google Workspace"),
    ("", "Another (token URL)"),
]
OAUTH_FLOWS = [
    (OAuthFlow.REFRESH_TOKEN.value, "A user signs in once (mailtrack oauth login)"),
    (OAuthFlow.CLIENT_CREDENTIALS.value, "App-only access (Microsoft 365, client secret)"),
    (OAuthFlow.SERVICE_ACCOUNT.value, "Service account with domain-wide delegation (Google)"),
]


def text(form: FormData, name: str) -> str:
    """The field *name*, stripped (``""`` when it is missing or a file)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def form_values(interface: MailInterface) -> dict[str, Any]:
    """The form's fields for a saved interface (never its password: ``has_password`` says
    whether there is one)."""
    values = attrs.asdict(interface, recurse=False)
    values.pop("password")
    action, _, move_folder = (interface.after_import or "").partition(":")
    values.update(
        security=interface.security.value,
        protocol=interface.protocol.value,
        after_import=action,
        move_folder=move_folder,
        original=interface.name,
        has_password=bool(interface.password or interface.password_env or interface.password_file),
    )
    values.update(_oauth_values(interface.oauth))
    return values


def interface_from(form: FormData, saved: MailInterface | None) -> MailInterface:
    """The interface the first step's form describes: *saved* (the one edited, else ``None``)
    with the fields of the form.

    Raises:
        ConfigError: a field is wrong (the message names it, as a wrong ``mailtrack.toml`` does).
    """
    try:
        protocol = MailProtocol(text(form, "protocol") or MailProtocol.POP3.value)
    except ValueError:
        raise ConfigError("protocol: choose pop3, imap or deliver") from None
    values: dict[str, Any] = {
        "name": text(form, "name"),
        "protocol": protocol,
        "enabled": form.get("enabled") == "on",
    }
    if protocol is MailProtocol.DELIVER:
        # No mailbox: nothing to connect to or sign in with, nothing left on a server.
        values.update(
            server="", port=None, login="", password="", password_env=None, password_file=None,
            oauth=None, leave_copy=False, after_import=None,
        )  # fmt: skip
    else:
        values.update(_mailbox_values(form, protocol, saved))
    if saved is None:
        return MailInterface(**values)
    return attrs.evolve(saved, **values)


def _mailbox_values(form: FormData, protocol: MailProtocol, saved: MailInterface | None) -> dict[str, Any]:
    """The fields of a POP3 or IMAP interface: the server, the sign-in, what becomes of mail."""
    port_text = text(form, "port")
    if port_text and not port_text.isdigit():
        raise ConfigError("port: must be a number from 1 to 65535")
    try:
        security = Security(text(form, "security"))
    except ValueError:
        raise ConfigError("security: choose ssl, starttls or none") from None
    action = text(form, "after_import")
    if action not in {value for value, _label in AFTER_IMPORT}:
        raise ConfigError("after_import: choose delete, keep, flag or move")
    values: dict[str, Any] = {
        "server": text(form, "server"),
        "port": int(port_text) if port_text else None,
        "login": text(form, "login"),
        "security": security,
        "ca_file": text(form, "ca_file") or None,
        "leave_copy": form.get("leave_copy") == "on",
        "after_import": f"move:{text(form, 'move_folder')}" if action == "move" else action or None,
    }
    if protocol is MailProtocol.IMAP:
        values["folder"] = text(form, "folder")
    password = form.get("password")
    if isinstance(password, str) and password:
        values.update(password=password, password_env=None, password_file=None)
    if form.get("oauth") == "on":
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
    return values


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
    typed: dict[str, Any] = {name: text(form, f"oauth_{name}") or None for name in _OAUTH_FIELDS}
    typed["flow"] = typed["flow"] or OAuthFlow.REFRESH_TOKEN.value
    typed["tenant"] = typed["tenant"] or "organizations"
    if saved is not None:
        return attrs.evolve(saved, **typed)
    return OAuthSettings(**typed)
