"""A fake tool server on loopback: what an operator's tool endpoint does, signature check
included (README "Tools": HMAC-SHA256 over "<timestamp>.<call id>.<tool name>.<body>").

    with FakeTool(secret="s3cret", reply={"temperature": 21}) as tool:
        ...  # endpoint: tool.url
        assert tool.calls[0]["arguments"] == {"city": "Paris"}

A call whose signature does not verify (or is too old) gets 401 and is recorded with
``verified: False``. ``reply`` is a JSON-able value or a callable given the arguments;
``delay`` holds the answer back (a tool that times out); ``status`` answers with an error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.fakes import LoopbackFake

DEFAULT_SECRET = "tool-secret-DO-NOT-LEAK-7c1d"
MAX_SKEW = 300  # seconds: an old signed request is a replay


def verify(secret: str, tool_name: str, headers: Any, body: bytes) -> bool:
    """What a tool server does with a call, exactly as the README shows it."""
    timestamp = headers.get("X-Avatarsite-Timestamp", "")
    call_id = headers.get("X-Avatarsite-Call-Id", "")
    try:
        if abs(time.time() - int(timestamp)) > MAX_SKEW:
            return False
    except ValueError:
        return False
    signed = f"{timestamp}.{call_id}.{tool_name}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256)
    return hmac.compare_digest(
        "sha256=" + expected.hexdigest(), headers.get("X-Avatarsite-Signature", "")
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class FakeTool(LoopbackFake):
    thread_name = "fake-tool"

    def __init__(
        self,
        *,
        secret: str = DEFAULT_SECRET,
        reply: Any = None,
        host="127.0.0.1",
        name: str = "get_weather",
    ) -> None:
        self.host = host
        self.secret = secret
        self.name = name  # the tool it is: a call signed for another tool does not verify
        self.headers: dict[str, str] = {}  # extra answer headers (e.g. Content-Encoding)
        self.body: bytes | None = None  # raw answer body instead of the JSON reply
        self.reply: Any = {"ok": True} if reply is None else reply
        self.delay = 0.0
        self.status = 200
        self.path = "/tool"
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._calls: list[dict[str, Any]] = []

    def _make_server(self) -> _Server:
        return _Server((self.host, 0), type("H", (_Handler,), {"fake": self}))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    @property
    def calls(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._calls)

    def _serve(self, h: _Handler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        verified = verify(self.secret, self.name, h.headers, raw)
        try:
            arguments = json.loads(raw)
        except ValueError:
            arguments = None
        with self._lock:
            self._calls.append(
                {
                    "path": h.path,
                    "host": h.headers.get("Host"),
                    "arguments": arguments,
                    "verified": verified,
                    "call_id": h.headers.get("X-Avatarsite-Call-Id"),
                    "accept_encoding": h.headers.get("Accept-Encoding"),
                }
            )
        if not verified:
            h.answer(401, {"error": "bad signature"})
            return
        if self.delay and self._stopping.wait(self.delay):
            return
        if self.status != 200:
            h.answer(self.status, {"error": "fake failure"})
            return
        if self.body is not None:
            h.answer(200, self.body, self.headers)
            return
        reply = self.reply(arguments) if callable(self.reply) else self.reply
        h.answer(200, reply, self.headers)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeTool

    def do_POST(self) -> None:
        self.fake._serve(self)

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, bytes):
            data = body
        else:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.close_connection = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the caller gave up (its timeout)

    def log_message(self, format: str, *args: Any) -> None:
        pass
