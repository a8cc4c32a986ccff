"""The base of the app's websocket consumers: no database hop per message, and no
error for a frame sent to a client that has just gone.

Since channels 4.2 a consumer runs `close_old_connections()` on the database thread
before every message it handles, as Django does around each request. Every async ORM
query of every socket of a process runs on that one thread, so each incoming frame
queued behind all of them before being looked at, and with CONN_MAX_AGE=0 the next query
opened a new connection. Profiled with bench/load.py --shuttle (300 sessions, one
process): a third of that thread's time was closing and reopening connections, and the
hop was most of chat -> first frame.

The check keeps its purpose (a connection that failed or outlived CONN_MAX_AGE is
replaced) if it runs now and then per process rather than per message.

Still needed with channels 4.3 (measured 2026-12-01 on 2 cores, bench/load.py --setups
memory --sessions 1000 --duration 20, alternating, twice each; the stock dispatch served
with --app bench.stock_dispatch:application):

| dispatch | p50 ms | p99 ms | max ms | server CPU % |
|---|---|---|---|---|
| this one (a check every 5 s) | 0.8, 0.8 | 2.7, 2.5 | 8, 8 | 17, 17 |
| Channels' (a check per message) | 2.1, 2.3 | 5.3, 8.6 | 22, 35 | 32, 35 |
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.db import aclose_old_connections
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer

# Seconds between two checks of the database connection, per process.
CONNECTION_CHECK_INTERVAL = 5.0

_next_check = 0.0


async def _check_connections() -> None:
    global _next_check
    now = time.monotonic()
    if now >= _next_check:
        _next_check = now + CONNECTION_CHECK_INTERVAL
        await aclose_old_connections()


class QuietSocket:
    """For a consumer class: the database check now and then rather than per message,
    and no error for a frame sent to a client that has just gone."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await _check_connections()
        await handler(message)

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        try:
            await super().send(  # type: ignore[misc]
                text_data=text_data, bytes_data=bytes_data, close=close
            )
        except Disconnected:
            # The client went while we were answering (daphne's websocket layer says so
            # with autobahn's exception); its disconnect follows, and the work done for
            # its message (recorded lines, counters) stands.
            pass

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        # Closing a socket the client closed already (a session ending as the page goes)
        # is done: no error for it either.
        with contextlib.suppress(Disconnected):
            await super().close(code=code, reason=reason)  # type: ignore[misc]


class SocketConsumer(QuietSocket, AsyncWebsocketConsumer):
    """A text socket (the sandbox avatar's)."""


class JsonSocketConsumer(QuietSocket, AsyncJsonWebsocketConsumer):
    """A JSON socket (the session's)."""

    async def send_json(self, content: Any, close: bool = False) -> None:
        # Channels' send_json calls its parent's send, past QuietSocket.send: a frame for
        # a socket just gone (one taken over twice in a burst) raised, the consumer died
        # and its disconnect never ran, so its session was never counted as left.
        await self.send(text_data=await self.encode_json(content), close=close)
