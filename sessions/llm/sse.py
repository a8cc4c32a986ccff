"""Server-sent events: the decoder, and the text deltas of an OpenAI-style chat stream.

``read_deltas`` turns the bytes of a ``stream: true`` response into the answer's text
pieces. What is not an answer raises ``StreamFault``, which the client turns into the
error a person sees.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any


class StreamFault(Exception):
    """The stream did not carry a complete answer. ``kind`` is ``"unreadable"`` (not SSE,
    not JSON, or not shaped like a chat.completion.chunk), ``"cut"`` (the body ended
    without ``[DONE]`` or a finish_reason) or ``"error"`` (the server reported an error
    inside the stream; ``error`` is its JSON object)."""

    def __init__(self, kind: str, error: dict[str, Any] | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.error = error


class SseDecoder:
    """Incremental server-sent events decoder: bytes in, each event's data out.

    Follows the HTML standard's rules: lines end in CRLF, LF or CR (even when a CRLF is
    split across reads); a line starting with ':' is a comment; ``data:`` lines of one
    event are joined with '\\n'; a blank line dispatches the event; other fields (event,
    id, retry) are ignored. httpx's own ``aiter_lines`` is not used because it splits like
    ``str.splitlines``, i.e. also on U+2028, U+0085 and friends, which JSON may carry raw
    inside a string.
    """

    MAX_LINE = 1024 * 1024
    _EOL = re.compile(rb"\r\n|\r|\n")

    def __init__(self) -> None:
        self._pending = b""  # the current line, not yet terminated
        self._skip_lf = False  # the last read ended in CR: a leading LF belongs to it
        self._data: list[str] = []
        self._first_line = True

    def feed(self, chunk: bytes) -> list[str]:
        """Events completed by ``chunk``. Raises ValueError on a line that is not UTF-8
        or longer than MAX_LINE."""
        if not chunk:
            return []
        if self._skip_lf and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._skip_lf = False
        buf = self._pending + chunk if self._pending else chunk
        events: list[str] = []
        start = 0
        for match in self._EOL.finditer(buf):
            event = self._line(buf[start : match.start()])
            if event is not None:
                events.append(event)
            start = match.end()
        self._pending = buf[start:]
        if len(self._pending) > self.MAX_LINE:
            raise ValueError("server-sent event line too long")
        # A final CR may be the first half of a CRLF whose LF is in the next read.
        self._skip_lf = buf.endswith(b"\r")
        return events

    def end(self) -> str | None:
        """At the end of the stream: the data of an event that lacked its closing blank
        line (the standard drops it; the caller may still accept a final [DONE])."""
        if self._pending:
            self._line(self._pending)
            self._pending = b""
        data = "\n".join(self._data) if self._data else None
        self._data = []
        return data

    def _line(self, raw: bytes) -> str | None:
        line = raw.decode("utf-8")  # a complete line cannot end inside a character
        if self._first_line:
            self._first_line = False
            line = line.removeprefix("\ufeff")
        if not line:
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            return data
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        return None


async def read_deltas(chunks: AsyncIterable[bytes]) -> AsyncIterator[str | list[Any]]:
    """The answer's text pieces from the bytes of an event stream, until ``[DONE]``; a
    chunk's ``tool_calls`` deltas come as a list (sessions.llm.tools puts them together).

    A stream may also end cleanly after a chunk with a finish_reason. Raises StreamFault
    on anything else; errors of the byte source itself (httpx's) pass through.
    """
    decoder = SseDecoder()
    finished = False  # a finish_reason arrived: the stream may end without [DONE]
    async for chunk in chunks:
        try:
            events = decoder.feed(chunk)
        except ValueError:  # a line that is not UTF-8, or absurdly long
            raise StreamFault("unreadable") from None
        for data in events:
            if data.strip() == "[DONE]":
                return
            content, finish = _event_delta(data)
            finished = finished or finish
            if content:
                yield content
            if calls := _tool_deltas(data):
                yield calls
    if decoder.end() == "[DONE]" or finished:
        return
    # A clean end of the body without [DONE] or a finish_reason: a proxy or the server
    # gave up mid-answer.
    raise StreamFault("cut")


def _event_delta(data: str) -> tuple[str | None, bool]:
    """(content or None, finished) of one event's data."""
    if not data.strip():
        return None, False  # an empty event: nothing to say, not an error
    try:
        obj = json.loads(data)
    except ValueError:
        raise StreamFault("unreadable") from None
    if isinstance(obj, dict) and obj.get("error"):
        # Servers (vLLM among them) report a failure inside a 200 stream as {"error": ...}.
        raise StreamFault("error", obj)
    content, finish = _delta(obj)
    if content is _BAD:
        raise StreamFault("unreadable")
    return content, finish


_BAD = object()


def _delta(obj: Any) -> tuple[Any, bool]:
    """(content or None, finished) of one chat.completion.chunk; content is _BAD if the
    chunk is not shaped like one. Chunks without choices (usage reports) are skipped."""
    if not isinstance(obj, dict):
        return _BAD, False
    choices = obj.get("choices")
    if choices is None or choices == []:
        return None, False
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        return _BAD, False
    choice = choices[0]
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):
        return _BAD, False
    content = delta.get("content")  # role-only and reasoning-only deltas carry none
    if content is not None and not isinstance(content, str):
        return _BAD, False
    return content, choice.get("finish_reason") is not None


def _tool_deltas(data: str) -> list[Any] | None:
    """The ``tool_calls`` deltas of an event already read as a chunk, if any."""
    if '"tool_calls"' not in data:
        return None  # the common case: a text piece, not parsed twice
    choices = json.loads(data).get("choices") or [{}]  # its shape was checked already
    calls = (choices[0].get("delta") or {}).get("tool_calls")
    if calls is not None and not isinstance(calls, list):
        raise StreamFault("unreadable")
    return calls or None
