"""Serving the pages alone with uvicorn (``mailtrack web``, ``mailtrack demo --web``)."""

from __future__ import annotations

import signal
import socket
from collections.abc import Callable
from types import FrameType

from starlette.types import ASGIApp

__all__ = ["serve"]


def serve(
    app: ASGIApp, *, host: str = "127.0.0.1", port: int = 8025, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve *app* with uvicorn until Ctrl-C or SIGTERM, then return (a "Run now" in progress is
    stopped: what it converted is committed). A second Ctrl-C ends at once.

    Args:
        app: what :func:`~mailtrack.web.create_app` made.
        host: the address to listen on; 127.0.0.1 (this machine only) by default. Put a TLS
            reverse proxy in front before you listen on another address.
        port: the TCP port (0: a free one).
        on_ready: called with the base URL once the server listens.
    """
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and on_ready is not None:
                address, bound_port = self.servers[0].sockets[0].getsockname()[:2]
                shown = f"[{address}]" if ":" in address else address
                on_ready(f"http://{shown}:{bound_port}/")

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # Unlike uvicorn's own, the signal is not raised again after the shutdown: the
            # command ends normally once the server stopped.
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", proxy_headers=False, server_header=False
    )
    Server(config).run()
