"""Every frame the session socket sends, built here and only here (the contract with
the page and with other clients: the README's "Session websocket")."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pydantic import ValidationError as PydanticError

from sessions import errors
from sessions.api.schemas import SessionParams, voice_params_problems
from sessions.models import AvatarSession
from sessions.services.commands import Ack, recent_acks
from sessions.services.transcript import Shown, lines
from sessions.stream.codec import escape_surrogates, is_storable

Frame = dict[str, Any]

# Characters of a line in one replayed frame. Daphne refuses a websocket frame over
# 64 KiB (and the socket with it, so the page would reconnect forever); 8,000 characters
# take at most 48,000 bytes of JSON (6 for a control character written as \u0001).
REPLAY_PIECE_CHARS = 8000


def encode(frame: Frame) -> str:
    """JSON text for the wire. An error may quote what the client sent: lone
    surrogates in it must not reach the wire raw (UTF-8 cannot carry them, and daphne
    would drop the connection)."""
    return escape_surrogates(json.dumps(frame, cls=DjangoJSONEncoder, ensure_ascii=False))


def rtc_send(stream_frame: str) -> Frame:
    return {"type": "rtc_send", "frame": stream_frame}


def transcript(
    role: str,
    mid: str,
    text: str,
    *,
    final: bool,
    cut: bool | None = None,
    replay: bool = False,
    unspoken: str = "",
) -> Frame:
    frame: Frame = {"type": "transcript", "role": role, "mid": mid, "text": text, "final": final}
    if cut is not None:
        frame["cut"] = cut
    if unspoken:  # of an answer cut short: what went out but was never said
        frame["unspoken"] = unspoken
    if replay:
        frame["replay"] = True
    return frame


def shown(update: Shown) -> list[Frame]:
    """A transcript update, in frames under the frame limit: a long one (a late piece
    brings its whole line) in pieces, as a replay sends it."""
    role, mid, text, final, cut = update.role, update.mid, update.text, update.final, update.cut
    if update.unspoken:  # the line as said now, in place of what the page has
        return replayed_line(role, mid, text, final=True, cut=True, unspoken=update.unspoken)
    if len(text) <= REPLAY_PIECE_CHARS:
        return [transcript(role, mid, text, final=final, cut=cut)]
    if final:  # the whole line (or a new one): put in place, as replayed
        return replayed_line(role, mid, text, final=True, cut=bool(cut))
    return [transcript(role, mid, piece, final=False) for piece in _pieces(text)]


def avatar(speaking: bool) -> Frame:
    return {"type": "avatar", "speaking": speaking}


def command_result(ack: Ack, *, replay: bool = False) -> Frame:
    frame: Frame = {
        "type": "command_result",
        "cmd": ack.cmd,
        "ok": ack.ok,
        "code": ack.code,
        "message": ack.msg or ("ok" if ack.ok else "failed"),
    }
    if ack.params:
        frame["params"] = ack.params
    if replay:
        frame["replay"] = True
    return frame


def session(
    status: str,
    expires_at: datetime | str | None,
    close_reason: str | None,
    error: str | None = None,
) -> Frame:
    return {
        "type": "session",
        "status": status,
        "expires_at": expires_at,
        "close_reason": close_reason or None,
        "error": error or None,
    }


def session_of(row: AvatarSession) -> Frame:
    return session(row.status, row.expires_at, row.close_reason, row.error)


async def replay(session_id: str) -> AsyncIterator[Frame]:
    """What a (re)connecting page needs to show the whole session again: the transcript
    (lines cut short marked) and the last confirmed commands."""
    async for line in lines(session_id):
        for frame in replayed_line(
            line.role, line.mid, line.text, final=line.final, cut=line.cut, unspoken=line.unspoken
        ):
            yield frame
    for ack in await recent_acks(session_id):
        yield command_result(ack, replay=True)


def replayed_line(
    role: str, mid: str, text: str, *, final: bool, cut: bool, unspoken: str = ""
) -> list[Frame]:
    """One line as replayed: its real state (an answer still being spoken stays open on
    the page, so the pieces that follow append to it; a final frame would stand for the
    whole line). A long line goes in pieces under the frame limit: the first replayed
    (it puts the line in place), the rest appended as pieces, then, for a line that is
    over, an empty final frame (the page appends it, whatever the last piece holds).
    The unsaid rest of a cut answer rides on the line's last frame, its first
    REPLAY_PIECE_CHARS (the API's transcript has it whole)."""
    pieces = _pieces(text)
    if len(text) + len(unspoken) <= REPLAY_PIECE_CHARS:
        return [transcript(role, mid, text, final=final, cut=cut, replay=True, unspoken=unspoken)]
    out = [transcript(role, mid, pieces[0], final=False, cut=False, replay=True)]
    out += [transcript(role, mid, piece, final=False) for piece in pieces[1:]]
    if final:
        rest = unspoken[:REPLAY_PIECE_CHARS]
        out.append(transcript(role, mid, "", final=True, cut=cut, unspoken=rest))
    return out


def _pieces(text: str) -> list[str]:
    """`text` in pieces of at most REPLAY_PIECE_CHARS, never between the two halves of
    a surrogate pair (should the text hold one as two code points)."""
    pieces, start = [], 0
    while len(text) - start > REPLAY_PIECE_CHARS:
        end = start + REPLAY_PIECE_CHARS
        if "\ud800" <= text[end - 1] <= "\udbff":
            end -= 1  # a high surrogate goes with the low one after it
        pieces.append(text[start:end])
        start = end
    return [*pieces, text[start:]]


def error(code: str, message: str, *, retry_after: float | None = None) -> Frame:
    frame: Frame = {"type": "error", "code": code, "message": message}
    if retry_after is not None:
        frame["retry_after"] = retry_after
    return frame


# --- what clients send ---------------------------------------------------------------------

CLIENT_TYPES = ("chat", "interrupt", "set_params", "rtc_message", "rtc_send_failed")


def decode(text: str) -> dict[str, Any]:
    """A client's text frame as a JSON object with a known `type`, or BadInput/TooLarge
    (a binary frame is refused before, by the consumer)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > settings.WS_MAX_MESSAGE_BYTES:
        raise errors.TooLarge(
            "frame_too_large",
            _("The message is %(size)d bytes; the limit is %(limit)d.")
            % {"size": size, "limit": settings.WS_MAX_MESSAGE_BYTES},
        )
    # Nesting deeper than the parser (or the walk over what it parsed) can recurse raises
    # RecursionError, not ValueError: refused as nested too deeply, not a failure of ours.
    too_deep = _("The message is nested too deeply.")
    try:
        message = json.loads(text)
    except RecursionError:
        raise errors.BadInput("bad_json", too_deep) from None
    except ValueError:
        raise errors.BadInput("bad_json", _("The message is not valid JSON.")) from None
    try:
        storable = is_storable(message)
    except RecursionError:
        raise errors.BadInput("bad_message", too_deep) from None
    if not storable:
        # Not text any database keeps: it could be neither stored nor sent on.
        raise errors.BadInput(
            "bad_message", _("The message holds invalid text (a NUL or a lone surrogate).")
        )
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise errors.BadInput("bad_message", _("A message is a JSON object with a 'type'."))
    if message["type"] not in CLIENT_TYPES:
        raise errors.BadInput(
            "unknown_type", _("Unknown message type “%(type)s”.") % {"type": message["type"][:40]}
        )
    return message


def chat_text(message: dict[str, Any]) -> str:
    text = message.get("text")
    if not isinstance(text, str):
        raise errors.BadInput("bad_message", _("'text' must be a string."))
    if not text.strip():
        raise errors.BadInput("empty_message", _("The message is empty."))
    return text


def rtc_data(message: dict[str, Any]) -> str:
    data = message.get("data")
    if not isinstance(data, str):
        raise errors.BadInput("bad_message", _("'data' must be the stream message as text."))
    return data


# A set_params value the shared schema refuses, by the field it is in.
_PARAM_ERRORS = {
    "voice": ("invalid_voice", gettext_lazy("voice must be a voice preset's name.")),
    "language": ("invalid_language", gettext_lazy("Unknown language.")),
    "mode": ("invalid_mode", gettext_lazy("mode must be 1 or 2.")),
    "background_url": (
        "invalid_background",
        gettext_lazy("background_url must be a short http(s) URL."),
    ),
    # Followed by what is wrong (the field and why).
    "voice_params": ("invalid_voice_params", ""),
}


def session_params(message: dict[str, Any]) -> dict[str, Any]:
    """set_params' `params`, checked by the API's own schema (SessionParams; its
    voice_params by VoiceParams, as a preset's are), as plain values."""
    params = message.get("params")
    if not isinstance(params, dict) or not params:
        raise errors.BadInput("bad_message", _("'params' must be a non-empty object."))
    unknown = sorted(str(key) for key in set(params) - set(SessionParams.model_fields))
    if unknown:
        listed = ", ".join(unknown)[:200]
        raise errors.Invalid(
            "invalid_params", _("Unknown parameter(s): %(names)s.") % {"names": listed}
        )
    try:
        checked = SessionParams.model_validate(params)
    except PydanticError as exc:
        field = str(exc.errors()[0]["loc"][0])
        code, text = _PARAM_ERRORS[field]
        text = str(text)  # in the socket's language
        if field == "voice_params":
            text += "; ".join(voice_params_problems(exc, "voice_params"))[:300]
        raise errors.Invalid(code, text) from None
    values = {name: getattr(checked, name) for name in params}
    if "voice_params" in values:
        values["voice_params"] = values["voice_params"].as_data()
        if not values["voice_params"]:
            raise errors.Invalid(
                "invalid_voice_params", "voice_params: name at least one voice parameter."
            )
    return values
