"""What an LLM server says when it fails, as a person may read it: its own message,
redacted of our keys before it is cut (sessions.redaction)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sessions import redaction

MAX_CHARS = 300


def server_message(raw: bytes, secrets: Iterable[str]) -> str:
    """The server's own error text: OpenAI's {"error": {"message"}}, Ollama's
    {"error": "..."}, FastAPI's {"detail"}; a short plain-text body; else nothing."""
    text = raw.decode("utf-8", "replace").strip()
    message: Any = None
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):  # absurd nesting is unreadable too
        obj = None
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict):
            message = err.get("message")
        elif isinstance(err, str):
            message = err
        if not message:
            message = obj.get("message") or obj.get("detail")
    elif obj is None and text and "<" not in text:  # not an HTML error page
        message = text
    if not isinstance(message, str):
        return ""
    # Redact before joining the words or cutting: a key split by spaces, or cut, still goes.
    return redaction.redact_and_cut(" ".join(message.split()), secrets, MAX_CHARS)
