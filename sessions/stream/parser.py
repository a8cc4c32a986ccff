"""Reading stream messages: one frame of text (or UTF-8 bytes) in, a typed message or None.

A peer controls the input, so parsing never raises: whatever is not a valid v2 message
(bad UTF-8, bad JSON, absurd nesting, wrong types) is simply not a message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ChatMessage:
    mid: str | None
    text: str
    sender: str | None  # "bot", "user", or None when the message says nothing
    idx: int | None
    fin: bool | None


@dataclass(frozen=True)
class CommandMessage:
    mid: str | None
    cmd: str
    data: dict[str, Any] = field(default_factory=dict)
    code: int | None = None  # set on acks
    msg: str = ""


@dataclass(frozen=True)
class EventMessage:
    event: str
    data: dict[str, Any] = field(default_factory=dict)  # the pld's other keys


StreamMessage = ChatMessage | CommandMessage | EventMessage

_MISSING = object()


def _is_int(value: Any) -> bool:
    return type(value) is int  # bool is an int subclass, and not what we mean


def _optional(pld: dict[str, Any], obj: dict[str, Any], key: str) -> Any:
    """idx/fin live at top level (the protocol) or inside pld (where some clients put them)."""
    value = obj.get(key, _MISSING)
    return pld.get(key, None) if value is _MISSING else value


def parse(raw: str | bytes) -> StreamMessage | None:
    """Parse one stream message; None for anything that is not a valid v2 message.

    Never raises: a peer controls the input, so every failure (bad UTF-8, bad JSON,
    absurd nesting, wrong types) is just "not a message".
    """
    try:
        return _parse(raw)
    except Exception:  # the contract is "never raises"
        return None


def _parse(raw: str | bytes) -> StreamMessage | None:
    if isinstance(raw, bytes | bytearray | memoryview):
        raw = bytes(raw).decode("utf-8")
    obj = json.loads(raw)
    if not _is_envelope(obj):
        return None
    kind = obj.get("type")
    reader = _READERS.get(kind) if isinstance(kind, str) else None
    return reader(obj, obj["pld"], obj.get("mid")) if reader is not None else None


def _is_envelope(obj: Any) -> bool:
    """A JSON object with ``v: 2``, a ``pld`` object and a string ``mid`` if any."""
    if not isinstance(obj, dict) or not _is_int(obj.get("v")) or obj["v"] != 2:
        return False
    mid = obj.get("mid")
    return isinstance(obj.get("pld"), dict) and (mid is None or isinstance(mid, str))


def _chat(obj: dict[str, Any], pld: dict[str, Any], mid: str | None) -> ChatMessage | None:
    text, sender = pld.get("text"), pld.get("from")
    idx, fin = _optional(pld, obj, "idx"), _optional(pld, obj, "fin")
    valid = (
        isinstance(text, str)
        and sender in (None, "bot", "user")
        and (idx is None or (_is_int(idx) and idx >= 0))
        and (fin is None or isinstance(fin, bool))
    )
    return ChatMessage(mid=mid, text=text, sender=sender, idx=idx, fin=fin) if valid else None


def _command(obj: dict[str, Any], pld: dict[str, Any], mid: str | None) -> CommandMessage | None:
    cmd, data = pld.get("cmd"), pld.get("data", {})
    code, msg = pld.get("code"), pld.get("msg", "")
    valid = (
        isinstance(cmd, str)
        and cmd != ""
        and isinstance(data, dict)
        and (code is None or _is_int(code))
        and isinstance(msg, str)
    )
    return CommandMessage(mid=mid, cmd=cmd, data=data, code=code, msg=msg) if valid else None


def _event(obj: dict[str, Any], pld: dict[str, Any], mid: str | None) -> EventMessage | None:
    event = pld.get("event")
    if not isinstance(event, str) or not event:
        return None
    return EventMessage(event=event, data={k: v for k, v in pld.items() if k != "event"})


_READERS: dict[str, Callable[[dict[str, Any], dict[str, Any], str | None], StreamMessage | None]]
_READERS = {"chat": _chat, "command": _command, "event": _event}
