"""A fake webhook receiver on loopback: another backend taking our deliveries, checking
each signature exactly as README "Webhooks" shows.

    with WebhookReceiver(secret) as receiver:
        receiver.answers = [500, "hang", 200]  # then 200 for the rest
        ...
        assert receiver.requests[0]["verified"]

An answer is a status code, or "hang": no answer until the receiver stops (a timeout).
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

MAX_AGE = 300  # seconds: an older timestamp is a replay


def verify(secret: str, headers: Any, body: bytes) -> bool:
    """The receiver's check, as the README shows it."""
    timestamp = headers.get("X-Avatarsite-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_AGE:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(
        "v1=" + expected.hexdigest(), headers.get("X-Avatarsite-Signature", "")
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # two senders connect 2 x webhooks.BATCH at once


class WebhookReceiver(LoopbackFake):
    thread_name = "fake-webhooks"

    def __init__(self, secret: str = "", *, delay: float = 0.0) -> None:
        self.host = "127.0.0.1"
        self.secret = secret
        self.answers: list[int | str] = []  # taken in turn; then 200
        self.delay = delay  # before each answer (two senders overlap)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._requests: list[dict[str, Any]] = []

    def _make_server(self) -> _Server:
        return _Server((self.host, 0), type("H", (_Handler,), {"fake": self}))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks"

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._requests)

    def delivered(self) -> list[dict[str, Any]]:
        """The requests it answered with a 2xx."""
        return [r for r in self.requests if 200 <= r["answer"] < 300]

    def _serve(self, h: _Handler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self._lock:
            answer = self.answers.pop(0) if self.answers else 200
            self._requests.append(
                {
                    "path": h.path,
                    "event": h.headers.get("X-Avatarsite-Event"),
                    "delivery": h.headers.get("X-Avatarsite-Delivery"),
                    "verified": verify(self.secret, h.headers, raw),
                    "body": json.loads(raw),
                    "answer": 0 if answer == "hang" else answer,
                }
            )
        if answer == "hang":
            self._stopping.wait(30)
            return
        if self.delay:
            time.sleep(self.delay)
        h.answer(int(answer))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: WebhookReceiver

    def do_POST(self) -> None:
        self.fake._serve(self)

    def answer(self, status: int) -> None:
        self.close_connection = True
        try:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
        except OSError:
            pass  # the sender gave up (its timeout)

    def log_message(self, format: str, *args: Any) -> None:
        pass
