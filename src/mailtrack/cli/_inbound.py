"""``mailtrack web`` with an ``[inbound]`` table: the e-mail services' routes beside the pages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import attrs
from starlette.applications import Starlette
from starlette.routing import Mount

from ..abc import RecordStore
from ..config import Config, MailInterface
from ..importer import Importer
from ..intake import DeliveryReport
from ..web.inbound import create_inbound_app

__all__ = ["with_inbound"]


@attrs.frozen
class _SavedReadAgain:
    """Delivers to the interfaces saved in the store as they are now, not as they were when the
    server started: one disabled on the pages meanwhile takes no mail (503, the service retries),
    one edited delivers with its new project and policy, one deleted or renamed answers 503 too.
    Which interface a recipient goes to (aliases, routes) is read when the server starts: restart
    it after changing them. Those of the file are taken as given."""

    importer: Importer
    in_file: frozenset[str]

    def deliver(
        self, interface: MailInterface, raw: bytes, *, recipient: str | None = None
    ) -> DeliveryReport:
        chosen = interface if interface.name in self.in_file else interface.name
        return self.importer.deliver(chosen, raw, recipient=recipient)


def with_inbound(pages: Starlette, config: Config, store: RecordStore) -> Starlette:
    """*pages* and the inbound routes of *config* under ``inbound.path``, in one application.

    The inbound routes are mounted outside the pages' authorization: each checks its service.
    """
    assert config.inbound is not None
    site = pages.state.mailtrack
    interfaces = {interface.name: interface for interface in store.list_interfaces()}
    interfaces.update((interface.name, interface) for interface in config.interfaces)
    in_file = frozenset(interface.name for interface in config.interfaces)
    inbound = create_inbound_app(
        importer=_SavedReadAgain(site.importer, in_file),
        settings=config.inbound,
        interfaces=interfaces.values(),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        site.importer.stop()

    return Starlette(
        routes=[Mount(config.inbound.path, app=inbound), Mount("/", app=pages)], lifespan=lifespan
    )
