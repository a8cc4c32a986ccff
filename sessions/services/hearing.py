"""Spoken questions in own-LLM sessions: the avatar side's transcript of the user's
speech (`chat` pieces with `from: "user"`), turned into questions for our LLM.

The feed records every piece (the transcript shows it live) and hands it here. A piece
with `fin: true` ends its utterance; when the avatar sends pieces without any `fin`, a
quiet of the preset's `hear_quiet_ms` after the last piece ends it. A finished utterance
is asked once in the session (whichever socket, or process, hears its end: a page that
reconnects and sends old lines again asks nothing) and, as a typed line is, within the
chat's rate (realtime/spoken.py); an echo of a line the user typed (same id, or the same
words a moment later) is not. While the avatar answers, an utterance that reaches the
preset's `barge_in_min_chars` interrupts it at once (barge-in, within the command limit
as the page's Interrupt is), so the user need not wait for their own last word to be
heard; shorter sounds (a cough, an "mm") do not.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sessions import keys, shared_cache
from sessions.llm.conversation import normalize_question
from sessions.models import TranscriptEntry
from sessions.stream.parser import ChatMessage

#: How long a typed line's words, heard back from the avatar's side, count as its echo.
ECHO_SECONDS = 30.0
#: Utterances remembered (answered, or in progress): enough for any live conversation.
REMEMBERED = 200
#: How long a line asked stays asked: longer than any session (an hour at most).
ASKED_SECONDS = 2 * 3600

Ask = Callable[[str, str, float], Awaitable[None]]  # (mid, text, ended at monotonic)
Line = Callable[
    [str], Awaitable[dict[str, Any] | None]
]  # a user line's text, cut, reported_by_page


@dataclass
class _Utterance:
    pieces: dict[int, str] = field(default_factory=dict)
    last_at: float = 0.0  # monotonic time of its newest piece: the end of the words
    barged: bool = False
    quiet: asyncio.Task | None = None


class Hearing:
    """One session socket's ear (consumers.SessionConsumer owns one in own-LLM sessions)."""

    def __init__(
        self,
        session_id: str,
        *,
        quiet_ms: int,
        barge_in_min_chars: int,
        ask: Ask,
        barge_in: Callable[[], Awaitable[None]],
        answering: Callable[[], bool],
        line: Line | None = None,
    ) -> None:
        self.session_id = session_id
        self.quiet = quiet_ms / 1000
        self.min_chars = max(barge_in_min_chars, 1)
        self._ask = ask
        self._barge_in = barge_in
        self._answering = answering
        self._line = line or self._recorded_line
        self._open: collections.OrderedDict[str, _Utterance] = collections.OrderedDict()
        self._done: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._typed: collections.deque[tuple[str, str, float]] = collections.deque(maxlen=20)

    def typed(self, mid: str, text: str) -> None:
        """A line the user typed: should the avatar's side echo it, it is no question."""
        self._typed.append((mid, normalize_question(text), time.monotonic()))

    def _echo(self, mid: str, text: str, *, so_far: bool = False) -> bool:
        """Whether the line `mid` (`text`, or its start when `so_far`) is the avatar's
        side repeating what the user typed: the typed line's own id, or its words."""
        words = normalize_question(text)
        now = time.monotonic()
        for typed_mid, typed_words, at in self._typed:
            if mid == typed_mid:
                return True
            recent = now - at < ECHO_SECONDS
            if (
                recent
                and words
                and (typed_words.startswith(words) if so_far else words == typed_words)
            ):
                return True
        return False

    async def heard(self, message: ChatMessage) -> None:
        """A piece of the user's speech, recorded in the transcript already."""
        mid = message.mid
        if not mid or mid in self._done or self._echo(mid, ""):
            return  # answered already, or the id of a typed line
        utterance = self._open.get(mid)
        if utterance is None:
            utterance = self._open[mid] = _Utterance()
            while len(self._open) > REMEMBERED:
                self._forget(next(iter(self._open)))
        idx = len(utterance.pieces) if message.idx is None else message.idx
        utterance.pieces.setdefault(idx, message.text)
        utterance.last_at = time.monotonic()
        if self._barges_in(mid, utterance):
            utterance.barged = True
            await self._barge_in()
        if utterance.quiet is not None:
            utterance.quiet.cancel()
            utterance.quiet = None
        if message.fin is True:
            await self._finish(mid)
        elif message.fin is None:
            # No fin at all: the avatar's side never says where the utterance ends.
            utterance.quiet = asyncio.get_running_loop().create_task(self._after_quiet(mid))

    def _barges_in(self, mid: str, utterance: _Utterance) -> bool:
        if utterance.barged or not self._answering():
            return False
        said = "".join(utterance.pieces[i] for i in sorted(utterance.pieces))
        return len(said.strip()) >= self.min_chars and not self._echo(mid, said, so_far=True)

    async def _after_quiet(self, mid: str) -> None:
        await asyncio.sleep(self.quiet)
        utterance = self._open.get(mid)
        if utterance is not None:
            utterance.quiet = None  # this task is finishing it: no cancel from aclose
        await self._finish(mid)

    async def _finish(self, mid: str) -> None:
        utterance = self._forget(mid)
        if utterance is None:
            return
        _remember(self._done, mid)
        line = await self._line(mid)
        if line is None or line["cut"] or not line["reported_by_page"]:
            return
        text = line["text"].strip()
        if not text or self._echo(mid, text):
            return
        if len(text) < self.min_chars and self._answering():
            return  # a cough while the avatar answers: neither a barge-in nor a question
        if not await self._first_ask(mid):
            return  # asked already, by this socket before a reconnect or by another one
        await self._ask(mid, text, utterance.last_at)

    async def _first_ask(self, mid: str) -> bool:
        """Whether the line `mid` is asked here: it is taken in the shared cache, so each
        line of the session is asked once, across sockets and processes (this socket's
        own memory of lines answered forgets them when the page reconnects)."""
        key = keys.spoken_asked(self.session_id, mid)
        return await shared_cache.add(key, 1, timeout=ASKED_SECONDS)

    async def _recorded_line(self, mid: str) -> dict[str, Any] | None:
        """The line as recorded: whole (halves of characters joined), and whether it was
        cut at the length cap (a question too long is refused with its line, not asked
        in half) or typed here (an echo)."""
        lines = TranscriptEntry.objects.filter(
            session_id=self.session_id, role=TranscriptEntry.Role.USER, mid=mid
        )
        return await lines.values("text", "cut", "reported_by_page").afirst()

    def _forget(self, mid: str) -> _Utterance | None:
        utterance = self._open.pop(mid, None)
        if utterance is not None and utterance.quiet is not None:
            utterance.quiet.cancel()
        return utterance

    def aclose(self) -> None:
        for mid in list(self._open):
            self._forget(mid)


def _remember(seen: collections.OrderedDict[str, None], mid: str) -> None:
    seen[mid] = None
    while len(seen) > REMEMBERED:
        seen.popitem(last=False)
