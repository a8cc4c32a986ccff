"""The text of each thing the hooks see, as the scanner reads it: an HTTP response (status,
headers, cookies, body), an ASGI message, a log record (with its exception chain)."""

from __future__ import annotations

import logging
from typing import Any

from tools.secret_scan.scanner import as_text


def django_response_text(response: Any) -> str:
    parts = [str(getattr(response, "status_code", ""))]
    parts += [f"{name}: {value}" for name, value in response.items()]
    parts += [morsel.OutputString() for morsel in response.cookies.values()]
    if not getattr(response, "streaming", False):
        parts.append(as_text(response.content))
    return "\n".join(parts)


def request_line(request: dict[str, Any]) -> str:
    return f"{request.get('REQUEST_METHOD', request.get('method', '?'))} " + str(
        request.get("PATH_INFO", request.get("path", "?"))
    )


def asgi_message_text(message: Any) -> str:
    if not isinstance(message, dict):
        return as_text(message)
    parts = [
        as_text(message.get(key))
        for key in ("text", "bytes", "body", "reason", "subprotocol")
        if message.get(key) is not None
    ]
    parts += [f"{as_text(n)}: {as_text(v)}" for n, v in message.get("headers") or ()]
    return "\n".join(parts)


def asgi_kind(message: Any, sent: bool) -> str:
    kind = message.get("type") if isinstance(message, dict) else None
    kind = kind if isinstance(kind, str) else ""
    if sent:
        return "ws frame sent" if kind.startswith("websocket") else "asgi request"
    return "ws frame received" if kind.startswith("websocket") else "asgi http response"


def httpx_response_text(response: Any) -> str:
    import httpx

    parts = [str(response.status_code)]
    parts += [f"{name}: {value}" for name, value in response.headers.multi_items()]
    try:
        parts.append(response.text)
    except httpx.ResponseNotRead:
        pass  # a stream the test reads itself: not consumed here
    return "\n".join(parts)


def log_record_text(record: logging.LogRecord) -> str:
    try:
        parts = [record.getMessage()]
    except Exception:  # noqa: BLE001 - a bad format string is the logging module's to report
        parts = [as_text(record.msg), as_text(record.args)]
    if record.exc_text:  # the traceback as a handler formatted it
        parts.append(record.exc_text)
    elif record.exc_info and record.exc_info[1] is not None:
        # What a formatted traceback could hold besides source lines: the messages of
        # the exception and of its causes (formatting costs milliseconds per record).
        exc: BaseException | None = record.exc_info[1]
        seen: set[int] = set()
        while exc is not None and id(exc) not in seen:
            seen.add(id(exc))
            parts.append(f"{type(exc).__name__}: {exc}")
            exc = exc.__cause__ or exc.__context__
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)
