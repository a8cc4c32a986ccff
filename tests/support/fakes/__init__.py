"""Fakes of what the tests cannot reach (AKool, the operator's LLM), served for real on
loopback."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Any


class LoopbackFake:
    """Serves a fake from a daemon thread on 127.0.0.1 and a free port.

    Subclasses set `host`, `_stopping` (an Event their slow handlers watch), `_server` and
    `_thread` (None) in __init__, and build their server in `_make_server`.
    """

    thread_name = "fake"
    host: str
    _stopping: threading.Event
    _server: ThreadingHTTPServer | None
    _thread: threading.Thread | None

    def _make_server(self) -> ThreadingHTTPServer:
        raise NotImplementedError

    def start(self) -> Any:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = self._server = self._make_server()
        self._thread = threading.Thread(
            target=server.serve_forever,
            # stop() waits up to one poll interval for the loop to notice; tests stop often.
            kwargs={"poll_interval": 0.01},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        # Wake the waiting handlers (hang, delays) first, so they close their sockets.
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return int(self._server.server_address[1])
