"""The simulated avatar behind the sandbox transport (the README's "Sandbox avatar socket").

It speaks the AKool data-stream protocol over one websocket (a frame is one message, as
``sendStreamMessage`` passes it); a thin Channels consumer feeds ``receive`` and provides
``send``: no Django here, tested as plain asyncio.

Decisions (the real avatar's behaviour is undocumented, so the sandbox picks the simplest
one that exercises the client):
- A chat's pieces are joined in ``idx`` order before its text is judged: a piece may
  end with the first half of a character and the next begin with the second (AKool's
  client cuts by UTF-16 code units); a text still invalid once joined is ignored.
- Typed chat is not echoed back as ``from: "user"``; the client already shows its own line.
- A chat that completes while the avatar is speaking is queued and answered after the
  current answer, in order. ``interrupt`` cuts the current answer and drops the queue.
- An interrupted answer gets no ``fin: true`` piece; ``audio_end`` is what ends it, so the
  client must treat ``audio_end`` as the end of the answer in progress.
- A chat may be refused (``admit``, told the mode, or ``answer`` raise `Refused`: a
  limit), and so is one beyond ``max_queued`` chats waiting: the avatar says nothing of
  it and sends a ``sandbox_refused`` event, which pages ignore. Mode 1 text is spoken as
  given: it costs no answer.
- A set-params is applied only if ``allow`` (given its mid and data) says our server sent
  it; else it fails (`ACK_NOT_SENT`). ``interrupt`` is always obeyed: it only stops the
  avatar. ``sandbox-hear`` sends its text back as the user's speech (hear.py), and in
  mode 2 answers it as it answers a chat.
- Each piece the avatar says is handed to ``said`` once sent (the session's transcript),
  and its recording finishes before an interrupt takes effect; an answer stopped before
  its ``fin`` piece is handed to ``cut``, before its ``audio_end``.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sessions.providers.sandbox import hear, responder
from sessions.providers.sandbox.params import validate_params
from sessions.stream.chunker import split_text
from sessions.stream.codec import (
    MAX_FRAME_BYTES,
    ack_frame,
    bot_chat_frame,
    encoded_size,
    event_frame,
    join_pieces,
    new_mid,
)
from sessions.stream.pacer import RATE_LIMIT, SlidingWindow
from sessions.stream.parser import ChatMessage, CommandMessage, parse

log = logging.getLogger(__name__)

#: Chats being reassembled at once; a client that opens more loses the oldest.
MAX_PENDING_CHATS = 8
#: A reassembled chat longer than this is dropped (memory bound, far above site limits).
MAX_CHAT_CHARS = 20_000
#: Highest chunk index accepted (20,000 characters never need more; bounds the table).
MAX_CHUNK_IDX = 4096
#: Chats waiting to be said, by default (the consumer passes SANDBOX_QUEUE_MAX).
MAX_QUEUED = 50
#: The ack code of a set-params our server did not send (AKool documents only 1000).
ACK_NOT_SENT = 1003
#: Words per spoken piece: "a few words", like the real avatar's streamed answer.
WORDS_PER_PIECE = 4

# A word with its whitespace: joining the pieces gives the answer back exactly.
_TOKEN = re.compile(r"\s*\S+\s*|\s+")


class Refused(Exception):  # noqa: N818 (a refusal, not an error of the avatar's)
    """A chat the avatar does not answer; `reason` goes to the page in an event."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: What the avatar said: (mode, mid, idx, text, fin) of one piece it sent.
Said = Callable[[int, str, int, str, bool], Awaitable[None]]


@dataclass
class _PartialChat:
    parts: dict[int, str] = field(default_factory=dict)
    fin_idx: int | None = None
    chars: int = 0


class SandboxAvatar:
    """One simulated avatar, for one sandbox connection."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        *,
        mode: int = 2,
        language: str = "",
        answer: Callable[[str], Awaitable[str]] | None = None,
        instructions: str = "",
        admit: Callable[[int, str], Awaitable[None]] | None = None,
        allow: Callable[[str, dict[str, Any]], Awaitable[bool]] | None = None,
        max_queued: int = MAX_QUEUED,
        said: Said | None = None,
        cut: Callable[[int, str], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        frame_limit: int = MAX_FRAME_BYTES,
        rate_limit: int = RATE_LIMIT,
        words_per_second: float = 12.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if mode not in (1, 2):
            raise ValueError("mode must be 1 or 2")
        if words_per_second <= 0:
            raise ValueError("words_per_second must be positive")
        self._send = send
        self.mode = mode
        self._answer = answer or self._builtin_answer
        self._instructions = instructions  # a knowledge base's: steer the built-in answers
        self._admit = admit
        self._allow = allow
        self._max_queued = max_queued
        self._said = said
        self._cut = cut
        self._clock = clock
        self._frame_limit = frame_limit
        self._words_per_second = words_per_second
        self._sleep = sleep
        # The receiver's rule, as Agora applies it: an accepted frame counts for
        # [t, t + 1 s). (Senders keep a wider window, 1 s plus the jitter allowance.)
        self._rate = SlidingWindow(rate_limit, 1.0)
        self._chats: collections.OrderedDict[str | None, _PartialChat] = collections.OrderedDict()
        self._queue: collections.deque[tuple[int, str, bool]] = collections.deque()
        self._worker: asyncio.Task[None] | None = None
        self._turns = itertools.count(1)
        self._closed = False
        #: Parameters applied by set-params (vid, lang, bgurl, vparams, ...), for the page
        #: and for tests.
        self.params: dict[str, Any] = {"lang": language} if language else {}

    @property
    def speaking(self) -> bool:
        return self._worker is not None and not self._worker.done()

    # -- input ---------------------------------------------------------------------------

    async def receive(self, raw: str | bytes) -> None:
        """Handle one frame from the client. Never raises (a misbehaving client or a
        closed socket must not take the consumer down)."""
        try:
            await self._receive(raw)
        except Exception:
            log.exception("sandbox avatar: failed to handle a frame")

    async def _receive(self, raw: str | bytes) -> None:
        if self._closed:
            return
        if isinstance(raw, str):
            size = len(raw.encode("utf-8", "surrogatepass"))
        else:
            size = len(raw)
        if size > self._frame_limit:
            await self._violation("frame_too_large")
            return
        now = self._clock()
        if size > self._rate.limit or self._rate.delay(size, now) > 0:
            await self._violation("rate_exceeded")
            return
        self._rate.record(size, now)

        # Anything that is not a v2 message is ignored silently, like the real avatar.
        message = parse(raw)
        if isinstance(message, ChatMessage):
            text = self._on_chat(message)
            if text is not None:
                await self._take(self.mode, text)
        elif isinstance(message, CommandMessage):
            await self._on_command(message)

    async def _violation(self, reason: str) -> None:
        await self._send(event_frame("sandbox_violation", reason=reason))

    # -- chat ----------------------------------------------------------------------------

    def _on_chat(self, msg: ChatMessage) -> str | None:
        """Reassemble a chat; its text once complete and valid."""
        idx = 0 if msg.idx is None else msg.idx
        fin = True if msg.fin is None else msg.fin  # no fin: a one-frame message
        if idx > MAX_CHUNK_IDX:
            self._chats.pop(msg.mid, None)
            return None
        chat = self._chats.get(msg.mid)
        if chat is None:
            chat = self._chats[msg.mid] = _PartialChat()
            while len(self._chats) > MAX_PENDING_CHATS:
                dropped, _ = self._chats.popitem(last=False)
                log.info("sandbox avatar: dropped unfinished chat %r", dropped)
        if idx in chat.parts or (chat.fin_idx is not None and idx > chat.fin_idx):
            return None  # a duplicate, or a chunk past the end: keep the first story
        if fin:
            if chat.fin_idx is not None or any(i > idx for i in chat.parts):
                self._chats.pop(msg.mid, None)  # contradictory ends: give up on it
                return None
            chat.fin_idx = idx
        chat.parts[idx] = msg.text
        chat.chars += len(msg.text)
        if chat.chars > MAX_CHAT_CHARS:
            del self._chats[msg.mid]
            log.info("sandbox avatar: dropped an over-long chat")
            return None
        if chat.fin_idx is None or len(chat.parts) < chat.fin_idx + 1:
            return None
        del self._chats[msg.mid]
        # Judged joined, not piece by piece: a character cut in half by UTF-16 code
        # units (as AKool's own client cuts) is whole again across the edge.
        text = join_pieces(chat.parts[i] for i in range(chat.fin_idx + 1))
        if text is None:
            log.info("sandbox avatar: dropped a chat that is not valid text once joined")
        return text  # None: ignored, as the avatar ignores any other invalid text

    async def _take(self, mode: int, text: str) -> None:
        """A complete chat: queued, unless the queue is full or the limits refuse it
        (counted as it arrives, so a flood never fills the queue)."""
        if len(self._queue) >= self._max_queued:
            await self._refused("queue_full")  # before admit: a refused chat costs nothing
            return
        if self._admit is not None:
            try:
                await self._admit(mode, text)
            except Refused as exc:
                await self._refused(exc.reason)
                return
        self._enqueue(mode, text)

    async def _refused(self, reason: str) -> None:
        await self._send(event_frame("sandbox_refused", reason=reason))

    def greet(self, text: str) -> None:
        """Say ``text`` first, as it is (a knowledge base's opening line), in any mode."""
        self._enqueue(self.mode, text, as_is=True)

    def _enqueue(self, mode: int, text: str, as_is: bool = False) -> None:
        self._queue.append((mode, text, as_is))
        if not self.speaking:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _builtin_answer(self, text: str) -> str:
        language = self.params.get("lang", "")
        turn = next(self._turns)
        return responder.reply(text, turn=turn, language=language, instructions=self._instructions)

    async def _work(self) -> None:
        while self._queue and not self._closed:
            mode, text, as_is = self._queue.popleft()
            try:
                reply = await self._answer(text) if mode == 2 and not as_is else text
                await self._speak(mode, reply)
            except Refused as exc:
                await self._refused(exc.reason)
            except Exception:
                # Most likely the socket is gone; the next item gets its own chance.
                log.exception("sandbox avatar: answering failed")

    async def _speak(self, mode: int, text: str) -> None:
        if not text.strip():
            return
        tokens = _TOKEN.findall(text)
        mid = new_mid()
        # Room for the text in one piece: the frame with empty text and a generous idx.
        overhead = encoded_size(bot_chat_frame("", mid, 10**6, False))
        room = self._frame_limit - overhead
        pieces: list[tuple[str, int]] = []  # (text, words spoken)
        for i in range(0, len(tokens), WORDS_PER_PIECE):
            group = tokens[i : i + WORDS_PER_PIECE]
            chunk = "".join(group)
            # A "word" can be huge (mode 1 text without spaces): split it to stay in 1 KB.
            split = split_text(chunk, room)
            for j, part in enumerate(split):
                pieces.append((part, len(group) if j == 0 else 0))

        started = False
        told = 0  # pieces said
        try:
            await self._send(event_frame("audio_start"))
            started = True
            for idx, (part, words) in enumerate(pieces):
                fin = idx == len(pieces) - 1
                await self._send(bot_chat_frame(part, mid, idx, fin))
                await self._tell(mode, mid, idx, part, fin)
                told += 1
                await self._sleep(max(words, 1) / self._words_per_second)
        finally:
            if 0 < told < len(pieces) and self._cut is not None:
                await self._cut(mode, mid)  # cut short: its line ends here
            # Also on cancellation (interrupt): the pieces sent so far stay, and the client
            # learns the avatar stopped. Not on close: there is nobody left to tell.
            if started and not self._closed:
                try:
                    await self._send(event_frame("audio_end"))
                except Exception:
                    # Swallowed so that a failing send cannot replace a cancellation.
                    log.exception("sandbox avatar: sending audio_end failed")

    async def _tell(self, mode: int, mid: str, idx: int, text: str, fin: bool) -> None:
        """Hand a piece that went out to `said`. Sent is said: an interrupt landing
        meanwhile waits for its record, so what the avatar said is never lost and its
        ``audio_end`` follows the record."""
        if self._said is None:
            return
        task = asyncio.ensure_future(self._said(mode, mid, idx, text, fin))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            await task
            raise

    # -- commands ------------------------------------------------------------------------

    async def _on_command(self, msg: CommandMessage) -> None:
        mid = msg.mid or ""
        if msg.cmd == "set-params":
            errors = validate_params(msg.data)
            if errors:
                await self._ack(msg.cmd, mid, 1001, "invalid set-params: " + "; ".join(errors))
                return
            if self._allow is not None and not await self._allow(mid, msg.data):
                # Only our server changes the avatar's settings (a page holding the token
                # must not switch it to mode 1 unrecorded); this changes nothing.
                await self._ack(msg.cmd, mid, ACK_NOT_SENT, "refused: the server did not send it")
                return
            self.params.update({k: v for k, v in msg.data.items() if k != "mode"})
            if "mode" in msg.data:
                self.mode = msg.data["mode"]
            await self._ack(msg.cmd, mid, 1000, "ok")
        elif msg.cmd == "interrupt":
            await self.interrupt()
            await self._ack(msg.cmd, mid, 1000, "ok")
        elif msg.cmd == "sandbox-hear":  # the user's speech, as AKool's recogniser sends it
            frames, refusal = hear.heard_frames(msg.data, self._frame_limit)
            for frame in frames:
                await self._send(frame)
            await self._ack(msg.cmd, mid, 1001 if refusal else 1000, refusal or "ok")
            if frames and self.mode == 2:
                # In dialogue the avatar's own assistant answers what it heard, as AKool's
                # does: the path (and the limits) of a chat sent to it.
                await self._take(2, msg.data["text"].strip())
        else:
            await self._ack(msg.cmd, mid, 1002, "unknown command")

    async def interrupt(self) -> None:
        """Stop speaking now (audio_end goes out if speech had started); drop the queue."""
        self._queue.clear()
        worker, self._worker = self._worker, None
        if worker is not None and not worker.done():
            worker.cancel()
            await asyncio.wait({worker})

    async def _ack(self, cmd: str, mid: str, code: int, msg: str) -> None:
        # The ack echoes the client's mid and cmd, so a client using huge ones could make
        # it exceed 1 KB: shed the message text first, then give up rather than break the
        # limit the sandbox exists to enforce.
        for text in (msg, ""):
            frame = ack_frame(cmd, mid, code, text)
            if encoded_size(frame) <= self._frame_limit:
                await self._send(frame)
                return
        log.info("sandbox avatar: ack for %s not sent, it would exceed the frame limit", cmd)

    async def aclose(self) -> None:
        self._closed = True
        self._chats.clear()
        await self.interrupt()
