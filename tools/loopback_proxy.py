"""A tiny TCP proxy on loopback in front of several served processes, as nginx would be:
each new connection goes to the next backend in turn (`round_robin`) or to the first one
that accepts it, skipping a backend that refuses or drops it before answering (a process
restarting), as nginx's `proxy_next_upstream error` does. The client speaks first (HTTP);
then bytes are copied as they are, HTTP and websockets alike. For
tests/processes/test_rolling.py and bench/rolling_restart.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools


class LoopbackProxy:
    def __init__(self, ports: list[int], round_robin: bool = True) -> None:
        self.ports = ports
        self.round_robin = round_robin
        self._turn = itertools.count()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.connections: dict[int, int] = dict.fromkeys(ports, 0)  # per backend, ever

    async def start(self) -> LoopbackProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)

    def _order(self) -> list[int]:
        if not self.round_robin:
            return list(self.ports)
        start = next(self._turn) % len(self.ports)
        return self.ports[start:] + self.ports[:start]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read(65536)  # the request line and headers, at least
        for port in self._order():
            upstream = await self._answered(port, request)
            if upstream is None:
                continue  # refused, or closed before answering: try the next one
            up_reader, up_writer, first = upstream
            self.connections[port] += 1
            writer.write(first)
            with contextlib.suppress(asyncio.CancelledError):  # the proxy stopping
                await asyncio.gather(
                    _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
                )
            return
        writer.close()  # nobody answers: as a proxy's 502, the client sees a dropped connection

    @staticmethod
    async def _answered(port: int, request: bytes):
        """A backend's connection once it has begun to answer `request`; None if it
        refuses, or closes before a byte of answer (a process stopping drops the
        connections it had not accepted yet), as nginx moves on to the next upstream
        until the response has begun."""
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            up_writer.write(request)
            await up_writer.drain()
            first = await up_reader.read(65536)
        except OSError:
            return None
        if not first:
            up_writer.close()
            return None
        return up_reader, up_writer, first


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
