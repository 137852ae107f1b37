"""What the pages share: the application's state, the templates, and the small helpers of the routes."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import attrs
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from .._terminal import terminal_safe
from ..abc import RecordStore
from ..config import Config, MailInterface
from ..importer import Importer
from ._security import CSRF_FIELD, csrf_token

__all__ = ["Draft", "Drafts", "Site", "path_for", "redirect", "render", "site", "whole_number"]


@attrs.frozen(kw_only=True)
class Draft:
    """An interface between the form's two steps: kept on the server, so that the password typed
    in step one never goes back to the browser."""

    interface: MailInterface
    #: The name it had before an edit (``None`` for a new interface).
    original: str | None
    #: Whether the connection test passed.
    passed: bool
    created: float


class Drafts:
    """The drafts of this process, by random ID; each lives one hour, and the oldest go first
    when there are too many."""

    LIFETIME = 3600.0
    MOST = 1000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._drafts: dict[str, Draft] = {}

    def add(self, draft: Draft) -> str:
        import secrets

        key = secrets.token_urlsafe(24)
        with self._lock:
            now = time.monotonic()
            kept = [(k, d) for k, d in self._drafts.items() if now - d.created < self.LIFETIME]
            self._drafts = dict(kept[-(self.MOST - 1) :])
            self._drafts[key] = draft
        return key

    def get(self, key: str) -> Draft:
        """Raises: HTTPException 404 for an unknown or expired draft."""
        with self._lock:
            draft = self._drafts.get(key)
        if draft is None or time.monotonic() - draft.created >= self.LIFETIME:
            raise HTTPException(404, "This form has expired (or the server restarted): start again.")
        return draft

    def remove(self, key: str) -> None:
        with self._lock:
            self._drafts.pop(key, None)


@attrs.define
class Site:
    """What the routes of one application share."""

    store: RecordStore
    config: Config
    importer: Importer
    templates: Jinja2Templates
    page_size: int = 25
    #: Where the read-only interfaces are defined, for the note that says where to edit them.
    config_file: str = "mailtrack.toml"
    drafts: Drafts = attrs.field(factory=Drafts)
    #: Importers running now ("Run now"), stopped when the application shuts down.
    running: set[Importer] = attrs.field(factory=set)

    def file_interface(self, name: str) -> MailInterface | None:
        """The interface of this name defined in the configuration file, if any."""
        return next((i for i in self.config.interfaces if i.name == name), None)


def site(request: Request) -> Site:
    found: Site = request.app.state.mailtrack
    return found


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def make_templates() -> Jinja2Templates:
    """The page templates, autoescaped; ``plain`` shows bidi and control characters escaped."""
    environment = Environment(
        loader=PackageLoader("mailtrack.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["plain"] = lambda text: terminal_safe(str(text))
    environment.filters["when"] = _when
    return Jinja2Templates(env=environment)


def render(
    request: Request, name: str, context: Mapping[str, Any] | None = None, *, status: int = 200
) -> Response:
    """The page *name* with *context*, the CSRF token and ``url(name, **params)`` available."""

    def url(route: str, **params: Any) -> str:
        return path_for(request, route, **params)

    values = {
        "request": request,
        "url": url,
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token(request),
        "prefix": request.scope.get("root_path", ""),
    }
    values.update(context or {})
    return site(request).templates.TemplateResponse(request, name, values, status_code=status)


def path_for(request: Request, route: str, **params: Any) -> str:
    """The path of *route* with *params*, each percent-encoded (a name may hold ``?``, ``#`` or ``%``)."""
    quoted = {
        key: quote(value, safe="/") if isinstance(value, str) else value for key, value in params.items()
    }
    return request.url_for(route, **quoted).path


def redirect(request: Request, route: str, *, query: str = "", **params: Any) -> RedirectResponse:
    """303 to another page after a form (so that reloading does not send it again)."""
    target = path_for(request, route, **params)
    return RedirectResponse(f"{target}?{query}" if query else target, status_code=303)


def whole_number(text: str | None, *, default: int, name: str) -> int:
    """A non-negative number from the query string or a form; 400 in plain words otherwise."""
    if text is None or text == "":
        return default
    if not text.isdigit() or len(text) > 12:
        raise HTTPException(400, f"{name} must be a whole number")
    return int(text)
