"""mailtrack's pages for people (``pip install 'mailtrack[web]'``): the mail interfaces with their
last runs and the two-step form, the records with their raw headers and attachments, the quarantine.

:func:`create_app` makes a small ASGI application (Starlette, server-rendered Jinja2 templates, no
JavaScript) that a host mounts under a prefix of its own ASGI application, or that
``mailtrack web`` serves alone. Nothing is served without the host's ``authorize``; every form
carries a CSRF token; every page has a strict Content-Security-Policy, and a message's HTML is
shown sanitised in a sandboxed frame that can neither run a script nor load anything from the
network.

Example:
    >>> from mailtrack.stores import MemoryRecordStore
    >>> from mailtrack.web import create_app
    >>> app = create_app(store=MemoryRecordStore(), authorize=lambda request: True)
    >>> from starlette.testclient import TestClient
    >>> TestClient(app).get("/").status_code
    200
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

try:
    from starlette.applications import Starlette
except ImportError as exc:  # pragma: no cover - depends on the extras installed
    raise ImportError("mailtrack's pages need the web extra: pip install 'mailtrack[web]'") from exc
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from ..abc import RecordStore
from ..config import Config
from ..importer import Importer
from . import _interfaces, _quarantine, _records
from ._pages import Site, make_templates, render
from ._security import Authorize, Guard, TokenAuthorization
from ._serve import serve

__all__ = ["Authorize", "TokenAuthorization", "create_app", "serve"]


async def _error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if "csrf_token" not in request.scope.get("state", {}):
        from starlette.responses import PlainTextResponse

        return PlainTextResponse(exc.detail, status_code=exc.status_code)
    return render(
        request, "error.html", {"status": exc.status_code, "message": exc.detail}, status=exc.status_code
    )


def create_app(
    *,
    store: RecordStore,
    authorize: Authorize,
    config: Config | None = None,
    importer: Importer | None = None,
    config_file: str = "mailtrack.toml",
    frame_ancestors: str = "'none'",
    page_size: int = 25,
) -> Starlette:
    """The pages as an ASGI application for *store*.

    Args:
        store: the store whose interfaces, records and quarantine the pages show and change.
        authorize: called with each request (a Starlette :class:`~starlette.requests.Request`),
            before any route: a truthy result (``True``, or a user object, which routes find in
            ``request.state.user``) lets the request through, a falsy one is answered 403 (401
            with a ``WWW-Authenticate`` challenge when the callable has a ``challenge``
            attribute, as :class:`TokenAuthorization` has). It may be a coroutine function.
            There is no default: a host decides who may see mail.
        config: the configuration; its interfaces are listed read-only (they are edited in the
            file) and "Run now" runs them too.
        importer: runs "Run now", the connection test and the quarantine's retry and discard
            (default: ``Importer(store=store)``).
        config_file: where the read-only interfaces are defined, for the note that says so.
        frame_ancestors: the pages' ``frame-ancestors`` (``'none'``: no page may frame them;
            ``'self'`` for a host that shows them in a frame of its own origin).
        page_size: records on one page of the records list.

    Mount it under a prefix of a host (``Mount("/mail", app=create_app(...))`` in Starlette,
    ``app.mount("/mail", ...)`` in FastAPI): links, redirects and the CSRF cookie follow the
    prefix. Stop running imports at shutdown with ``app.state.mailtrack.importer.stop()`` (the
    application does so itself when it is served alone).
    """
    site = Site(
        store=store,
        config=config or Config(),
        importer=importer or Importer(store=store),
        templates=make_templates(),
        config_file=config_file,
        page_size=page_size,
    )
    static = StaticFiles(packages=[("mailtrack.web", "static")])

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        # Shutdown: a "Run now" in progress commits what it converted and ends.
        site.importer.stop()

    app = Starlette(
        routes=[
            *_interfaces.routes,
            *_records.routes,
            *_quarantine.routes,
            Mount("/static", app=static, name="static"),
        ],
        exception_handlers={HTTPException: _error},
        lifespan=lifespan,
        # The forms are small; a larger body is refused before it is read.
        max_body_size=1024 * 1024,
    )
    app.state.mailtrack = site
    app.add_middleware(Guard, authorize=authorize, frame_ancestors=frame_ancestors)
    return app
