"""A TCP proxy on 127.0.0.1 that holds every chunk back for a fixed time in each direction.

It stands in for ``tc qdisc … netem delay`` (which this kernel does not have): a round trip of
``2 x delay`` is added to every request/response exchange, bandwidth is not limited. At most
``--window`` bytes wait in each direction; beyond that the proxy stops reading, as a TCP
window would, which also keeps its memory bounded.

    python benchmarks/delay_proxy.py --target 11110 [--target 11111 …] --delay-ms 25 --ready FILE

For every ``--target`` port it listens on a free port of its own; the list of those ports (as
JSON, in the order of the targets) is written to ``--ready FILE`` once it listens. It runs
until it is terminated (SIGTERM or SIGINT). With ``--log FILE`` it appends one JSON line per
client connection: chunks and command lines the client sent, and the most command lines in one
chunk (more than one means the client pipelined).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import json
import signal
from pathlib import Path

_READ_SIZE = 256 * 1024


class _Direction:
    """One direction of one connection: chunks wait until their time has come."""

    def __init__(self, delay: float, window: int) -> None:
        self.delay = delay
        self.window = window
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.waiting = 0
        self.arrived = asyncio.Event()
        self.drained = asyncio.Event()

    async def read(self, reader: asyncio.StreamReader, stats: dict[str, int] | None) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while self.waiting >= self.window:
                self.drained.clear()
                await self.drained.wait()
            data = await reader.read(_READ_SIZE)
            self.queue.append((loop.time() + self.delay, data))
            self.waiting += len(data)
            self.arrived.set()
            if stats is not None and data:
                lines = data.count(b"\r\n")
                stats["chunks"] += 1
                stats["lines"] += lines
                stats["most_lines_per_chunk"] = max(stats["most_lines_per_chunk"], lines)
            if not data:
                return

    async def write(self, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self.queue:
                self.arrived.clear()
                await self.arrived.wait()
            due, data = self.queue.popleft()
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            self.waiting -= len(data)
            self.drained.set()
            if not data:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()


async def _serve(args: argparse.Namespace) -> None:
    delay = args.delay_ms / 1000.0

    async def handle(
        target: int, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        stats = {"chunks": 0, "lines": 0, "most_lines_per_chunk": 0}
        server_writer: asyncio.StreamWriter | None = None
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
            upstream = _Direction(delay, args.window)
            downstream = _Direction(delay, args.window)
            await asyncio.gather(
                upstream.read(client_reader, stats),
                upstream.write(server_writer),
                downstream.read(server_reader, None),
                downstream.write(client_writer),
            )
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            client_writer.close()
            if server_writer is not None:
                server_writer.close()
            if args.log:
                with open(args.log, "a", encoding="utf-8") as log:
                    log.write(json.dumps(stats) + "\n")

    servers = [
        await asyncio.start_server(functools.partial(handle, target), "127.0.0.1", 0, backlog=1024)
        for target in args.target
    ]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    if args.ready:
        Path(args.ready).write_text(json.dumps(ports), encoding="ascii")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--target", type=int, action="append", required=True, help="port of a server on 127.0.0.1"
    )
    parser.add_argument("--delay-ms", type=float, default=25.0, help="one-way delay (half the round trip)")
    parser.add_argument("--window", type=int, default=4 * 1024 * 1024, help="bytes in flight per direction")
    parser.add_argument("--ready", help="file to write the listening port to")
    parser.add_argument("--log", help="file to append per-connection statistics to")
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
