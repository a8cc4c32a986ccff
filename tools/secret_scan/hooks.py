"""Every patch the secret scan makes, in one place: `install()` puts them all in, and
`uninstall()` takes them all out again.

What they record (through tools/secret_scan/recording.py):

- every response of Django's test `Client` and `AsyncClient`;
- every ASGI message between a `channels.testing` communicator and the app, both ways
  (websocket frames, close reasons, HTTP responses);
- every log record, whatever logger and level (`logging.Logger.handle`, so
  non-propagating loggers are seen too and no level is changed);
- every httpx response from one of our served processes;
- every frame of a real socket (the `websockets` library), both ways.

Each wrapper calls the original first or last and only records: a test sees the same
results, exceptions and timing as without it. Installed after Django is configured.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from tools.secret_scan.recording import is_ours, record
from tools.secret_scan.texts import (
    asgi_kind,
    asgi_message_text,
    django_response_text,
    httpx_response_text,
    log_record_text,
    request_line,
)

# (owner, attribute name, original) of every patch in place, in the order made.
_installed: list[tuple[Any, str, Any]] = []


def install() -> None:
    """Every hook (once: a second call changes nothing)."""
    if _installed:
        return
    from asgiref.testing import ApplicationCommunicator
    from django.test.client import AsyncClient, Client

    _patch(Client, "request", _django_sync)
    _patch(AsyncClient, "request", _django_async)
    _patch(ApplicationCommunicator, "receive_output", _asgi_receive)
    _patch(ApplicationCommunicator, "send_input", _asgi_send)
    _patch(logging.Logger, "handle", _log_handle)
    try:
        import httpx
    except ImportError:
        pass
    else:
        _patch(httpx.Client, "send", _httpx_sync)
        _patch(httpx.AsyncClient, "send", _httpx_async)
    try:
        from websockets.asyncio.connection import Connection
    except ImportError:
        pass
    else:
        _patch(Connection, "recv", _ws_recv)
        _patch(Connection, "send", _ws_send)


def uninstall() -> None:
    """Every original back, in the reverse order."""
    while _installed:
        owner, name, original = _installed.pop()
        setattr(owner, name, original)


def installed() -> list[tuple[Any, str]]:
    """(owner, attribute name) of every patch in place."""
    return [(owner, name) for owner, name, _ in _installed]


def _patch(owner: Any, name: str, make: Any) -> None:
    original = owner.__dict__[name]
    _installed.append((owner, name, original))
    setattr(owner, name, functools.wraps(original)(make(original)))


# --- the wrappers ------------------------------------------------------------------------
def _django_sync(original):
    def request(self, **request):
        __tracebackhide__ = True
        response = original(self, **request)
        record(
            "http response", lambda: django_response_text(response), lambda: request_line(request)
        )
        return response

    return request


def _django_async(original):
    async def request(self, **request):
        __tracebackhide__ = True
        response = await original(self, **request)
        record(
            "http response", lambda: django_response_text(response), lambda: request_line(request)
        )
        return response

    return request


def _asgi_receive(original):
    async def receive_output(self, timeout=1):
        __tracebackhide__ = True
        message = await original(self, timeout)
        path = (getattr(self, "scope", None) or {}).get("path", "?")
        record(asgi_kind(message, False), lambda: asgi_message_text(message), path)
        return message

    return receive_output


def _asgi_send(original):
    async def send_input(self, message):
        __tracebackhide__ = True
        path = (getattr(self, "scope", None) or {}).get("path", "?")
        record(asgi_kind(message, True), lambda: asgi_message_text(message), path)
        return await original(self, message)

    return send_input


def _log_handle(original):
    def handle(self, record_: logging.LogRecord):
        __tracebackhide__ = True
        try:
            return original(self, record_)
        finally:
            # After the handlers: the traceback they formatted is reused.
            record("log record", lambda: log_record_text(record_), record_.name)

    return handle


def _httpx_sync(original):
    def send(self, request, **kw):
        __tracebackhide__ = True
        response = original(self, request, **kw)
        if is_ours(request.url):
            record(
                "live http response",
                lambda: httpx_response_text(response),
                lambda: str(request.url),
            )
        return response

    return send


def _httpx_async(original):
    async def send(self, request, **kw):
        __tracebackhide__ = True
        response = await original(self, request, **kw)
        if is_ours(request.url):
            record(
                "live http response",
                lambda: httpx_response_text(response),
                lambda: str(request.url),
            )
        return response

    return send


def _ws_recv(original):
    async def recv(self, *args, **kw):
        __tracebackhide__ = True
        message = await original(self, *args, **kw)
        record("live ws frame", message, "received")
        return message

    return recv


def _ws_send(original):
    async def send(self, message, *args, **kw):
        __tracebackhide__ = True
        if isinstance(message, (str, bytes, bytearray, memoryview)):
            record("live ws frame", message, "sent")
        return await original(self, message, *args, **kw)

    return send
