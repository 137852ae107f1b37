"""``mailtrack web`` with an ``[inbound]`` table: the e-mail services' routes beside the pages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.routing import Mount

from ..abc import RecordStore
from ..config import Config
from ..web.inbound import create_inbound_app

__all__ = ["with_inbound"]


def with_inbound(pages: Starlette, config: Config, store: RecordStore) -> Starlette:
    """*pages* and the inbound routes of *config* under ``inbound.path``, in one application.

    The inbound routes are mounted outside the pages' authorization: each checks its service.
    """
    assert config.inbound is not None
    site = pages.state.mailtrack
    interfaces = {interface.name: interface for interface in store.list_interfaces()}
    interfaces.update((interface.name, interface) for interface in config.interfaces)
    inbound = create_inbound_app(
        importer=site.importer, settings=config.inbound, interfaces=interfaces.values()
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        site.importer.stop()

    return Starlette(
        routes=[Mount(config.inbound.path, app=inbound), Mount("/", app=pages)], lifespan=lifespan
    )
