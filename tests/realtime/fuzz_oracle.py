"""The session socket's oracle for its fuzz test (tests/realtime/test_fuzz.py): what the
consumer's contract says one message must cause (`expect_session`), and `SessionFuzz`,
which sends a message and then a marker and checks the frames in between."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from sessions.services import catalog
from sessions.stream.codec import (
    MAX_FRAME_BYTES,
    encoded_size,
    is_storable,
    new_mid,
    set_params_frame,
)
from sessions.stream.parser import ChatMessage, CommandMessage, EventMessage, StreamMessage, parse
from tests.support.fuzz import PENDING_MID, SET_PARAM_KEYS, send_frame

VOICE_IDS = {"warm": "sandbox_voice_warm", "lyon": "sandbox_voice_lyon"}  # conftest's world
ACTIVE_VOICES = set(VOICE_IDS)
ERROR_FIELDS = {"type", "code", "message", "retry_after"}
_validate_url = URLValidator(schemes=["http", "https"])


@dataclass
class Expect:
    """What one message must cause (frames other than rtc_send, up to its marker)."""

    error: str | None = None  # the error code, if it is refused
    chat: str | None = None  # the text of the transcript line a good chat gets
    stream: StreamMessage | None = None  # a forwarded avatar message
    label: str = ""


def _is_mode(value: Any) -> bool:
    """1 or 2, as JSON numbers go: 2.0 is 2, true is not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value in (1, 2)


def _is_url(value: str) -> bool:
    try:
        _validate_url(value)
    except ValidationError:
        return False
    return True


def expect_session(kind: str, payload: str | bytes) -> Expect:
    if kind == "bytes":
        return Expect(error="binary_not_supported")
    assert isinstance(payload, str)
    if len(payload.encode("utf-8", "surrogatepass")) > django_settings.WS_MAX_MESSAGE_BYTES:
        return Expect(error="frame_too_large")
    try:
        message = json.loads(payload)
    except ValueError:
        return Expect(error="bad_json")
    if not is_storable(message):
        return Expect(error="bad_message")  # a NUL or a lone surrogate anywhere in it
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return Expect(error="bad_message")
    kind = message["type"]
    if kind == "chat":
        text = message.get("text")
        if not isinstance(text, str):
            return Expect(error="bad_message")
        if not text.strip():
            return Expect(error="empty_message")
        if len(text) > django_settings.CHAT_MAX_CHARS:
            return Expect(error="message_too_long")
        return Expect(chat=text)
    if kind == "interrupt":
        return Expect()
    if kind == "rtc_send_failed":
        return Expect(error="send_failed")
    if kind == "set_params":
        return Expect(error=_set_params_error(message.get("params")))
    if kind == "rtc_message":
        data = message.get("data")
        if not isinstance(data, str):
            return Expect(error="bad_message")
        if encoded_size(data) > MAX_FRAME_BYTES:
            return Expect(stream=None, label="rtc")  # no avatar sends more than 1 KB: ignored
        stream = parse(data)
        if stream is not None and not is_storable(dataclasses.asdict(stream)):
            return Expect(stream=None, label="rtc")  # escaped NULs or lone surrogates: ignored
        return Expect(stream=stream, label="rtc")
    return Expect(error="unknown_type")


def _set_params_error(params: Any) -> str | None:
    if not isinstance(params, dict) or not params:
        return "bad_message"
    if set(params) - set(SET_PARAM_KEYS):
        return "invalid_params"
    # Each value's form first (the shared schema, field by field), then whether the
    # voice exists (the same voice_not_found as the API's create).
    if "voice" in params and not (isinstance(params["voice"], str) and len(params["voice"]) <= 200):
        return "invalid_voice"
    if "language" in params and not (
        isinstance(params["language"], str) and params["language"] in catalog.KNOWN_LANGUAGES
    ):
        return "invalid_language"
    if "mode" in params and not _is_mode(params["mode"]):
        return "invalid_mode"
    if "background_url" in params:
        url = params["background_url"]
        if not isinstance(url, str) or len(url) > 1000 or (url and not _is_url(url)):
            return "invalid_background"
    if "voice" in params and params["voice"] not in ACTIVE_VOICES:
        return "voice_not_found"
    if _set_params_frame_size(params) > MAX_FRAME_BYTES:
        # Valid values that together do not fit in one stream message.
        return "invalid_background" if "background_url" in params else "invalid_params"
    return None


def _set_params_frame_size(params: dict[str, Any]) -> int:
    """The size of the set-params frame these (valid) params make, mid included."""
    args: dict[str, Any] = {}
    if "voice" in params:
        args["voice_id"] = VOICE_IDS[params["voice"]]
    if "language" in params:
        args["language"] = params["language"]
    if "mode" in params:
        args["mode"] = int(params["mode"])
    if "background_url" in params:
        args["background_url"] = params["background_url"]
    return encoded_size(set_params_frame(mid=new_mid(), **args))


@dataclass(repr=False)
class SessionFuzz:
    ws: Any
    sent: int = 0
    markers: int = 0
    rtc_frames: list[str] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    last_command_mid: str | None = None

    async def send(self, kind: str, payload: str | bytes) -> None:
        await send_frame(self.ws, kind, payload)
        self.sent += 1

    async def next_frame(self, timeout: float = 10) -> dict[str, Any]:
        output = await self.ws.receive_output(timeout=timeout)
        if output["type"] != "websocket.send":
            raise AssertionError(f"the socket was closed: {output}")
        text = output.get("text")
        assert text is not None, f"a binary frame from the server: {output}"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.problems.append(f"a frame daphne cannot encode (1011): {text[:200]!r}")
        frame = json.loads(text)
        if frame["type"] == "rtc_send":
            self._check_rtc_frame(frame["frame"])
        return frame

    def _check_rtc_frame(self, raw: str) -> None:
        self.rtc_frames.append(raw)
        parsed = parse(raw)
        if parsed is None:
            self.problems.append(f"rtc_send frame is not a v2 stream message: {raw[:200]!r}")
            return
        if isinstance(parsed, CommandMessage):
            self.last_command_mid = parsed.mid
        if encoded_size(raw) > MAX_FRAME_BYTES:
            self.problems.append(f"rtc_send frame over 1,024 bytes: {raw[:200]!r}")

    async def exchange(self, kind: str, payload: str | bytes) -> list[dict[str, Any]]:
        """Send one message and a marker; the frames (except rtc_send) in between.

        The marker is an acknowledgement forwarded from the avatar: the socket records
        those in order behind its own handling, so its `command_result` comes after
        everything the message caused, on either path."""
        await self.send(kind, payload)
        self.markers += 1
        marker = f"sync-{self.markers}"
        pld = {"cmd": "sync", "code": 1000, "msg": marker}
        ack = {"v": 2, "type": "command", "mid": marker, "pld": pld}
        await self.ws.send_to(
            text_data=json.dumps({"type": "rtc_message", "data": json.dumps(ack)})
        )
        frames = []
        while True:
            frame = await self.next_frame()
            if frame["type"] == "rtc_send":
                continue
            if frame["type"] == "command_result" and frame.get("message") == marker:
                return frames
            frames.append(frame)

    def check(self, kind: str, payload: str | bytes, frames: list[dict[str, Any]]) -> None:
        expect = expect_session(kind, payload)
        where = f"{kind} {payload[:150]!r}"
        errors = [f for f in frames if f["type"] == "error"]
        for error in errors:
            if not (
                isinstance(error.get("code"), str)
                and error["code"]
                and isinstance(error.get("message"), str)
                and error["message"]
                and set(error) <= ERROR_FIELDS
            ):
                self.problems.append(f"{where}: malformed error frame {error}")
        if expect.error:
            self.outcomes[f"error:{expect.error}"] += 1
            if [e.get("code") for e in errors] != [expect.error] or len(frames) != 1:
                self.problems.append(f"{where}: expected error {expect.error}, got {frames}")
            return
        if expect.chat is not None:
            self.outcomes["chat"] += 1
            lines = [f for f in frames if f["type"] == "transcript"]
            if len(frames) != 1 or len(lines) != 1 or lines[0]["role"] != "user":
                self.problems.append(f"{where}: expected one transcript line, got {frames}")
            elif lines[0]["text"] != expect.chat or lines[0]["final"] is not True:
                self.problems.append(f"{where}: transcript text changed: {lines[0]!r}")
            return
        if expect.label == "rtc":
            self.outcomes[f"rtc:{type(expect.stream).__name__}"] += 1
            problem = _check_stream_answer(expect.stream, frames)
            if problem:
                self.problems.append(f"{where}: {problem}: {frames}")
            return
        self.outcomes["accepted"] += 1
        if frames:
            self.problems.append(f"{where}: expected no frame, got {frames}")


def _check_stream_answer(msg: StreamMessage | None, frames: list[dict]) -> str | None:
    kinds = [f["type"] for f in frames]
    if msg is None:
        return "an unparseable avatar message must be ignored" if frames else None
    if isinstance(msg, ChatMessage):
        if not msg.mid:
            return "a chat without mid must be ignored" if frames else None
        if kinds not in ([], ["transcript"]):
            return "expected at most one transcript line"
        if frames:
            line = frames[0]
            role = "user" if msg.sender == "user" else "avatar"
            final = msg.fin is not False
            piece = (line["role"], line["mid"], line["text"], line["final"])
            # A piece late, or after its line's end, comes back as the whole line, final.
            whole_line = (
                msg.idx is not None
                and (line["role"], line["mid"], line["final"]) == (role, msg.mid, True)
                and msg.text in line["text"]
            )
            if piece != (role, msg.mid, msg.text, final) and not whole_line:
                return "the transcript line does not match the avatar's message"
        return None
    if isinstance(msg, CommandMessage):
        if msg.code is None:
            return "a command (not an ack) must be ignored" if frames else None
        if kinds != ["command_result"]:
            return "expected one command_result"
        result = frames[0]
        ok = msg.code == 1000
        if (result["cmd"], result["ok"], result["code"]) != (msg.cmd, ok, msg.code):
            return "command_result does not match the ack"
        return None
    assert isinstance(msg, EventMessage)
    if msg.event == "audio_start":
        return None if frames == [{"type": "avatar", "speaking": True}] else "expected avatar on"
    if msg.event == "audio_end":
        if frames[-1:] != [{"type": "avatar", "speaking": False}] or set(kinds[:-1]) - {
            "transcript"
        }:
            return "expected final transcript lines, then avatar off"
        return None
    if msg.event == "sandbox_violation":
        codes = [f.get("code") for f in frames]
        return None if codes == ["stream_violation"] else "expected one stream_violation error"
    return "an unknown event must be ignored" if frames else None


async def normal_chat_works(fuzz: SessionFuzz, text: str = "still there after all that?") -> None:
    """A plain chat gets its transcript line and, once the pacer gets to it, its frame.
    An interrupt first drops whatever frames the fuzz left queued."""
    await fuzz.ws.send_json_to({"type": "interrupt"})
    await fuzz.ws.send_json_to({"type": "chat", "text": text})
    # The chat's frame may leave before its transcript line (the pacer runs on its own).
    line, chat_mids, seen, deadline = None, {}, [], time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            frame = await fuzz.next_frame(timeout=max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            break
        seen.append(frame)
        if frame["type"] == "transcript" and frame["role"] == "user" and frame["text"] == text:
            line = frame
        elif frame["type"] == "rtc_send":
            parsed = parse(frame["frame"])
            if isinstance(parsed, ChatMessage) and parsed.text == text:
                assert parsed.fin is True
                chat_mids[parsed.mid] = parsed
        if line is not None and line["mid"] in chat_mids:
            return
        elif frame["type"] == "error":
            raise AssertionError(f"a normal chat was refused: {frame}")
    raise AssertionError(f"no transcript line and rtc_send frame for a normal chat: {seen[:20]}")


def patch_pending_mid(payload: str | bytes, fuzz: SessionFuzz) -> str | bytes:
    """Let some generated acks answer a command the server really sent."""
    if isinstance(payload, str) and PENDING_MID in payload and fuzz.last_command_mid:
        return payload.replace(PENDING_MID, fuzz.last_command_mid)
    return payload
