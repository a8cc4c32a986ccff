"""The avatar data stream: message encoding, chunking, parsing and pacing.

Everything here is plain Python (no Django), because the same code runs in the session
consumer, the sandbox avatar, the benchmarks and the tests.

Agora carries at most 1,024 bytes per message and 6,000 bytes per second per sender
(see shared/akool-api.md, "The data stream"). The chunker fills each frame to the byte,
counting exactly what the encoder produces, and the pacer releases frames as early as a
sliding one-second window allows.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import itertools
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: Agora's hard limit for one stream message, in bytes of UTF-8.
MAX_FRAME_BYTES = 1024
#: The default chunk budget: AKool's guide uses 950, which leaves headroom under 1,024.
DEFAULT_BUDGET = 950
#: Agora's per-sender rate limit, bytes per second.
RATE_LIMIT = 6000

# ---------------------------------------------------------------------------------------
# Encoding

_SURROGATE = re.compile("[\ud800-\udfff]")
# A high surrogate directly followed by a low one: two code points in a Python str, but
# any JSON decoder fuses their escapes into one astral character.
_SURROGATE_PAIR = re.compile("[\ud800-\udbff](?=[\udc00-\udfff])")


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
    return "msg-" + uuid.uuid4().hex[:16]


# Bytes each ASCII character costs inside a JSON string, taken from json itself so the
# table cannot drift from what encode() produces (quote and backslash cost 2, \n and
# friends 2, other control characters 6 as \u00XX).
_ASCII_COST = [len(json.dumps(chr(c), ensure_ascii=False)) - 2 for c in range(128)]
_COST_CACHE: dict[str, int] = {chr(c): n for c, n in enumerate(_ASCII_COST)}


def _char_cost(ch: str) -> int:
    o = ord(ch)
    if o < 0x80:
        return _ASCII_COST[o]
    if o < 0x800:
        return 2
    if 0xD800 <= o <= 0xDFFF:
        return 6  # escaped by encode()
    if o < 0x10000:
        return 3
    return 4


def char_costs(text: str) -> list[int]:
    """Encoded size in bytes of each code point of ``text`` inside a JSON string."""
    get = _COST_CACHE.get
    costs = []
    append = costs.append
    for ch in text:
        n = get(ch)
        if n is None:
            n = _char_cost(ch)
            if len(_COST_CACHE) < 65536:  # bounded: a hostile text cannot grow it forever
                _COST_CACHE[ch] = n
        append(n)
    return costs


class _Splitter:
    """Greedy code-point splitting of one text against per-piece byte capacities.

    Precomputes prefix sums of character costs once, so each piece costs O(log n) and
    the whole split is O(n).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.prefix = list(itertools.accumulate(char_costs(text), initial=0))
        # Positions p where text[p] and text[p + 1] are a high and a low surrogate. Both in
        # one piece would decode as one astral character and reassembly would not be exact,
        # so a piece is always ended between them.
        self.pairs = [m.start() for m in _SURROGATE_PAIR.finditer(text)] if text else []

    def rest_bytes(self, start: int) -> int:
        return self.prefix[-1] - self.prefix[start]

    def has_pair(self, start: int, end: int) -> bool:
        """True if a fused-surrogate pair lies entirely inside text[start:end]."""
        i = bisect.bisect_left(self.pairs, start)
        return i < len(self.pairs) and self.pairs[i] + 1 < end

    def end(self, start: int, capacity: int) -> int:
        """Largest end such that text[start:end] costs at most ``capacity`` bytes."""
        end = bisect.bisect_right(self.prefix, self.prefix[start] + capacity) - 1
        i = bisect.bisect_left(self.pairs, start)
        if i < len(self.pairs) and self.pairs[i] + 1 < end:
            end = self.pairs[i] + 1
        return end


def split_text(text: str, max_bytes: int) -> list[str]:
    """Split ``text`` greedily into pieces whose JSON-string content is <= ``max_bytes``.

    Never splits a code point; ``"".join(pieces) == text``. For callers that build their
    own frames around the pieces (the sandbox avatar's speech). Empty text gives ``[]``.
    """
    sp = _Splitter(text)
    pieces = []
    start = 0
    while start < len(text):
        end = sp.end(start, max_bytes)
        if end <= start:
            raise ValueError(f"max_bytes {max_bytes} is too small for one character")
        pieces.append(text[start:end])
        start = end
    return pieces


def _chat_dict(mid: str, idx: int, fin: bool, pld: dict[str, Any]) -> dict[str, Any]:
    return {"v": 2, "type": "chat", "mid": mid, "idx": idx, "fin": fin, "pld": pld}


def chat_frames(text: str, *, mid: str | None = None, budget: int = DEFAULT_BUDGET) -> list[str]:
    """Encode ``text`` as chat frames sharing one ``mid``, each at most ``budget`` bytes.

    Frames are filled greedily by code point, so a frame other than the last one has less
    free room than the size of the character that opens the next frame: at most 3 bytes
    of slack for plain text, 5 when the next character is a 6-byte escape (a control
    character such as ``\\u0001``, or a lone surrogate). The one exception: a high
    surrogate directly followed by a low one (two code points in a Python str) is never put
    in one frame, since JSON decoding would fuse them and reassembly would not be exact.

    Joining ``pld.text`` of the frames in ``idx`` order gives back ``text`` exactly. Empty
    text gives one frame with ``""``. Raises ValueError if ``budget`` exceeds 1,024 or a
    frame cannot carry even its next character.
    """
    if budget > MAX_FRAME_BYTES:
        raise ValueError(f"budget {budget} exceeds Agora's {MAX_FRAME_BYTES}-byte limit")
    if mid is None:
        mid = new_mid()

    # The envelope's size depends only on idx's digit count and fin; measure each variant
    # once by encoding it with empty text.
    overheads: dict[tuple[int, bool], int] = {}

    def overhead(idx: int, fin: bool) -> int:
        key = (len(str(idx)), fin)
        if key not in overheads:
            overheads[key] = len(encode(_chat_dict(mid, idx, fin, {"text": ""})).encode())
        return overheads[key]

    sp = _Splitter(text)
    frames: list[str] = []
    start, idx, n = 0, 0, len(text)
    while True:
        last_capacity = budget - overhead(idx, True)
        if sp.rest_bytes(start) <= last_capacity and not sp.has_pair(start, n):
            frames.append(encode(_chat_dict(mid, idx, True, {"text": text[start:]})))
            return frames
        # Not the last frame: "false" is one byte longer than "true". If everything left
        # fitted a fin=true frame it was sent above, so this frame never takes it all.
        end = sp.end(start, budget - overhead(idx, False))
        if end <= start:
            raise ValueError(f"budget {budget} is too small for one character (idx {idx})")
        frames.append(encode(_chat_dict(mid, idx, False, {"text": text[start:end]})))
        start = end
        idx += 1


# ---------------------------------------------------------------------------------------
# Builders: what the site sends to the avatar


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
    """A ``set-params`` command. Empty values are left out, as AKool expects."""
    if mode is not None and mode not in (1, 2):
        raise ValueError("mode must be 1 (retelling) or 2 (dialogue)")
    data: dict[str, Any] = {}
    if voice_id:
        data["vid"] = voice_id
    if voice_url:
        data["vurl"] = voice_url
    if language:
        data["lang"] = language
    if mode is not None:
        data["mode"] = mode
    if background_url:
        data["bgurl"] = background_url
    if voice_params:
        data["vparams"] = voice_params
    return command_frame("set-params", data, mid)


def interrupt_frame(mid: str | None = None) -> str:
    return command_frame("interrupt", mid=mid)


# ---------------------------------------------------------------------------------------
# Builders: what the avatar sends (used by the sandbox)


def bot_chat_frame(text: str, mid: str, idx: int, fin: bool) -> str:
    return encode(_chat_dict(mid, idx, fin, {"from": "bot", "text": text}))


def user_chat_frame(text: str, mid: str, idx: int = 0, fin: bool = True) -> str:
    return encode(_chat_dict(mid, idx, fin, {"from": "user", "text": text}))


def ack_frame(cmd: str, mid: str, code: int = 1000, msg: str = "ok") -> str:
    pld = {"cmd": cmd, "code": code, "msg": msg}
    return encode({"v": 2, "type": "command", "mid": mid, "pld": pld})


def event_frame(event: str, **extra: Any) -> str:
    return encode({"v": 2, "type": "event", "pld": {"event": event, **extra}})


# ---------------------------------------------------------------------------------------
# Parsing


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
    """idx/fin live at top level (the protocol) or inside pld (what the seed guide reads)."""
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
    if not isinstance(obj, dict) or not _is_int(obj.get("v")) or obj["v"] != 2:
        return None
    pld = obj.get("pld")
    mid = obj.get("mid")
    if not isinstance(pld, dict) or not (mid is None or isinstance(mid, str)):
        return None
    kind = obj.get("type")
    if kind == "chat":
        text, sender = pld.get("text"), pld.get("from")
        idx, fin = _optional(pld, obj, "idx"), _optional(pld, obj, "fin")
        if not isinstance(text, str) or sender not in (None, "bot", "user"):
            return None
        if not (idx is None or (_is_int(idx) and idx >= 0)):
            return None
        if not (fin is None or isinstance(fin, bool)):
            return None
        return ChatMessage(mid=mid, text=text, sender=sender, idx=idx, fin=fin)
    if kind == "command":
        cmd, data = pld.get("cmd"), pld.get("data", {})
        code, msg = pld.get("code"), pld.get("msg", "")
        if not isinstance(cmd, str) or not cmd or not isinstance(data, dict):
            return None
        if not (code is None or _is_int(code)) or not isinstance(msg, str):
            return None
        return CommandMessage(mid=mid, cmd=cmd, data=data, code=code, msg=msg)
    if kind == "event":
        event = pld.get("event")
        if not isinstance(event, str) or not event:
            return None
        return EventMessage(event=event, data={k: v for k, v in pld.items() if k != "event"})
    return None


# ---------------------------------------------------------------------------------------
# Pacing


class RateWindow(Protocol):
    """Where the sliding-window history lives.

    The pacer only asks "how long until this many bytes may go?" and says "these went".
    Today the history is in process memory (one pacer per socket); a scale-out version
    can implement this against shared storage without touching the pacer.
    """

    def delay(self, size: int, now: float) -> float: ...

    def record(self, size: int, now: float) -> None: ...


class SlidingWindow:
    """In-memory sliding window: a frame released at ``t`` counts in ``[t, t + window)``.

    Expiry times are stored as ``t + window`` and compared with ``now < expiry``, never
    recomputed by subtraction, so a release scheduled at exactly an expiry sees that
    frame as gone despite float rounding.
    """

    def __init__(self, limit: int = RATE_LIMIT, window: float = 1.0) -> None:
        if limit <= 0 or window <= 0:
            raise ValueError("limit and window must be positive")
        self.limit = limit
        self.window = window
        self._history: collections.deque[tuple[float, int]] = collections.deque()
        self._used = 0

    def _expire(self, now: float) -> None:
        while self._history and self._history[0][0] <= now:
            self._used -= self._history.popleft()[1]

    def next_release(self, size: int, now: float) -> float:
        """Earliest time >= now at which ``size`` more bytes fit in the window."""
        if size > self.limit:
            raise ValueError(f"a {size}-byte frame can never fit a {self.limit}-byte window")
        self._expire(now)
        used, t = self._used, now
        for expiry, old in self._history:
            if used + size <= self.limit:
                break
            used -= old
            t = expiry
        return t

    def delay(self, size: int, now: float) -> float:
        return self.next_release(size, now) - now

    def record(self, size: int, now: float) -> None:
        self._expire(now)
        self._history.append((now + self.window, size))
        self._used += size


def release_times(
    sizes: list[int], *, limit: int = RATE_LIMIT, window: float = 1.0, start: float = 0.0
) -> list[float]:
    """Earliest release time of each frame, in order, so that no half-open window of length
    ``window`` holds more than ``limit`` bytes. Raises ValueError if a size exceeds limit.

    Each time is either ``start``, the previous frame's time, or the moment an earlier
    frame leaves the window. O(n) amortised.
    """
    win = SlidingWindow(limit, window)
    times = []
    t = start
    for size in sizes:
        t = win.next_release(size, t)
        win.record(size, t)
        times.append(t)
    return times


class Pacer:
    """Sends frames through ``emit`` in order, as early as the rate window allows.

    One pacer per avatar connection: chats and commands share its budget, and its window
    history persists across submits. ``submit`` never blocks; a drain task does the
    waiting. A failing ``emit`` is logged and the next frame still goes, because one bad
    send must not silently stall everything queued behind it.
    """

    def __init__(
        self,
        emit: Callable[[str], Awaitable[None]],
        *,
        limit: int = RATE_LIMIT,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rate_window: RateWindow | None = None,
    ) -> None:
        self._emit = emit
        self._limit = limit
        self._clock = clock
        self._sleep = sleep
        self._window: RateWindow = rate_window or SlidingWindow(limit, window)
        self._queue: collections.deque[tuple[str, int]] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def pending(self) -> int:
        """Frames queued and not yet released."""
        return len(self._queue)

    def submit(self, frames: Iterable[str]) -> None:
        """Queue frames for release. Raises ValueError (queuing none of them) if one is
        larger than the rate limit, RuntimeError after aclose()."""
        if self._closed:
            raise RuntimeError("pacer is closed")
        batch = [(f, encoded_size(f)) for f in frames]
        for _, size in batch:
            if size > self._limit:
                raise ValueError(f"a {size}-byte frame exceeds the {self._limit}-byte limit")
        self._queue.extend(batch)
        if self._queue and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._drain())

    def drop_pending(self) -> int:
        """Drop every frame not yet released (e.g. on interrupt); returns how many."""
        count = len(self._queue)
        self._queue.clear()
        return count

    async def drained(self) -> None:
        """Wait until every queued frame has been emitted (or dropped)."""
        while self._task is not None and not self._task.done():
            # asyncio.wait, not await: a cancelled drain task must not cancel the waiter.
            await asyncio.wait({self._task})

    async def aclose(self) -> None:
        self._closed = True
        self._queue.clear()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    async def _drain(self) -> None:
        while self._queue:
            frame, size = self._queue[0]
            now = self._clock()
            wait = self._window.delay(size, now)
            if wait > 0:
                # Re-check after sleeping: the queue may have been dropped or refilled.
                await self._sleep(wait)
                continue
            self._queue.popleft()
            self._window.record(size, now)
            try:
                await self._emit(frame)
            except Exception:
                log.exception("pacer: emitting a frame failed; continuing with the next")
