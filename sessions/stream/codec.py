"""Stream messages as JSON text: the encoding, its byte sizes, the surrogate and NUL rules,
and the builders of every frame the site and the sandbox avatar send.

The wire format is compact JSON in UTF-8; a frame is at most ``MAX_FRAME_BYTES`` of it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import Any

#: Agora's hard limit for one stream message, in bytes of UTF-8.
MAX_FRAME_BYTES = 1024

_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def escape_surrogates(json_text: str) -> str:
    """Escape lone surrogates in JSON text made with ensure_ascii=False, which UTF-8
    cannot carry (see encode)."""
    return _SURROGATE.sub(_escape_surrogate, json_text) if not json_text.isascii() else json_text


def is_storable(value: Any) -> bool:
    """True unless some string in the (JSON-decoded) value holds a lone surrogate or a NUL:
    neither is text any database stores (PostgreSQL refuses NUL outright)."""
    if isinstance(value, str):
        return "\x00" not in value and not has_lone_surrogate(value)
    if isinstance(value, dict):
        return all(is_storable(k) and is_storable(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(is_storable(v) for v in value)
    return True


def has_lone_surrogate(text: str) -> bool:
    """True if the decoded text holds a surrogate code point (json.loads turns an escaped
    pair into one character, so any left over stood alone)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def edge_halves(text: str) -> tuple[str, str, str]:
    """A piece of a longer text as (the low surrogate it opens with, the rest, the high
    surrogate it ends with), each half "" when absent.

    A sender that cuts text by UTF-16 code units (AKool's browser client does) leaves the
    two halves of a character at the edges of two pieces: the first half ends one piece,
    the second opens the next. Only the joined pieces are valid text (`join_pieces`).
    """
    opening = text[:1] if "\udc00" <= text[:1] <= "\udfff" else ""
    rest = text[len(opening) :]
    closing = rest[-1:] if "\ud800" <= rest[-1:] <= "\udbff" else ""
    return opening, rest[: len(rest) - len(closing)], closing


def join_pieces(pieces: Iterable[str]) -> str | None:
    """The text the pieces make in this order, a high and a low half across an edge
    becoming one character; None when a lone surrogate is left (not valid text)."""
    try:
        return "".join(pieces).encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        return None


def encode(obj: Any) -> str:
    """Compact JSON for the wire; its size is ``len(encode(obj).encode("utf-8"))``.

    ``ensure_ascii=False`` keeps non-ASCII text raw (2-4 bytes a character instead of a
    6- or 12-byte escape). json leaves lone surrogates raw too, which UTF-8 cannot encode,
    so they are escaped here as ``\\udXXX`` (what JavaScript's JSON.stringify does as
    well). Outside strings the output is ASCII, so the substitution can only touch string
    contents. NaN and infinities are refused: they are not JSON.
    """
    return escape_surrogates(
        json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    )


def encoded_size(frame: str) -> int:
    """Bytes of UTF-8 a frame occupies on the wire (lone surrogates, if any, as U+FFFD)."""
    return len(frame.encode("utf-8", "replace"))


def new_mid() -> str:
    """A short message id, unique enough to match acks and chunks to their message."""
    return "msg-" + os.urandom(8).hex()  # as random as uuid4's first 16 hex digits, cheaper


def chat_dict(mid: str, idx: int, fin: bool, pld: dict[str, Any]) -> dict[str, Any]:
    """A chat message before encoding (the chunker measures its envelope with it)."""
    return {"v": 2, "type": "chat", "mid": mid, "idx": idx, "fin": fin, "pld": pld}


# ---------------------------------------------------------------------------------------
# What the site sends to the avatar


def command_frame(cmd: str, data: dict[str, Any] | None = None, mid: str | None = None) -> str:
    pld: dict[str, Any] = {"cmd": cmd}
    if data is not None:
        pld["data"] = data
    return encode({"v": 2, "type": "command", "mid": mid or new_mid(), "pld": pld})


def set_params_frame(
    *,
    voice_id: str = "",
    language: str = "",
    mode: int | None = None,
    background_url: str = "",
    voice_params: dict[str, Any] | None = None,
    voice_url: str = "",
    mid: str | None = None,
) -> str:
    """A ``set-params`` command. Empty values are left out, as AKool expects.

    The voice goes in ``vparams.vid`` (AKool's documented place) and in the deprecated
    ``vid`` beside it (what AKool's own demo still sends; AKool accepts both), so
    ``vparams`` is sent whenever a voice is: the voice parameters with the voice's id.
    """
    if mode is not None and mode not in (1, 2):
        raise ValueError("mode must be 1 (retelling) or 2 (dialogue)")
    vparams = dict(voice_params or {})
    data: dict[str, Any] = {}
    if voice_id:
        data["vid"] = vparams["vid"] = voice_id
    if voice_url:
        data["vurl"] = voice_url
    if language:
        data["lang"] = language
    if mode is not None:
        data["mode"] = mode
    if background_url:
        data["bgurl"] = background_url
    if vparams:
        data["vparams"] = vparams
    return command_frame("set-params", data, mid)


def interrupt_frame(mid: str | None = None) -> str:
    return command_frame("interrupt", mid=mid)


# ---------------------------------------------------------------------------------------
# What the avatar sends (used by the sandbox)


def bot_chat_frame(text: str, mid: str, idx: int, fin: bool) -> str:
    return encode(chat_dict(mid, idx, fin, {"from": "bot", "text": text}))


def user_chat_frame(text: str, mid: str, idx: int = 0, fin: bool = True) -> str:
    return encode(chat_dict(mid, idx, fin, {"from": "user", "text": text}))


def ack_frame(cmd: str, mid: str, code: int = 1000, msg: str = "ok") -> str:
    pld = {"cmd": cmd, "code": code, "msg": msg}
    return encode({"v": 2, "type": "command", "mid": mid, "pld": pld})


def event_frame(event: str, **extra: Any) -> str:
    return encode({"v": 2, "type": "event", "pld": {"event": event, **extra}})
