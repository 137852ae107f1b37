"""Serving the pages alone with uvicorn (``mailtrack web``, ``mailtrack demo --web``)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp

__all__ = ["serve"]


def serve(
    app: ASGIApp, *, host: str = "127.0.0.1", port: int = 8025, on_ready: Callable[[str], None] | None = None
) -> None:
    """Serve *app* with uvicorn until Ctrl-C or SIGTERM (which stop a "Run now" in progress).

    Args:
        app: what :func:`~mailtrack.web.create_app` made.
        host: the address to listen on; 127.0.0.1 (this machine only) by default. Put a TLS
            reverse proxy in front before you listen on another address.
        port: the TCP port (0: a free one).
        on_ready: called with the base URL once the server listens.
    """
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", proxy_headers=False, server_header=False
    )
    server = uvicorn.Server(config)
    if on_ready is not None:
        startup = server.startup

        async def started(sockets: object = None) -> None:
            await startup(sockets)  # type: ignore[arg-type]
            if server.started:
                bound = server.servers[0].sockets[0].getsockname()
                shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
                on_ready(f"http://{shown}:{bound[1]}/")

        server.startup = started  # type: ignore[method-assign]
    server.run()
