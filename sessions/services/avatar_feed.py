"""What the avatar says, as the page forwards it: recorded in order, beside the socket.

The page passes on every stream message it receives from the avatar. Each is checked
(the size and text rules of the data stream), queued, and recorded by a task of its own,
so a chat or an interrupt sent next never waits behind these database writes (under load
they were most of the time from a chat to its first frame). What to show comes back
through a `Listener`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple, Protocol

from django.conf import settings
from django.utils import timezone

from sessions import errors
from sessions.models import SessionEvent, TranscriptEntry
from sessions.services import limits, transcript
from sessions.services.commands import Ack, Commands
from sessions.services.lifecycle import record_event
from sessions.services.transcript import Shown
from sessions.stream.codec import MAX_FRAME_BYTES, edge_halves, encoded_size, is_storable
from sessions.stream.parser import ChatMessage, CommandMessage, EventMessage, StreamMessage, parse

log = logging.getLogger("avatarsite.ws")
Role = TranscriptEntry.Role

# How long a closing socket waits for what the page forwarded to be recorded.
DRAIN_SECONDS = 5.0
# Lines (role, mid) the feed remembers as admitted or dropped: enough for any session's
# recent lines; an old one forgotten is only checked again.
REMEMBERED_LINES = 1000


class Listener(Protocol):
    """What the feed tells the session's pages."""

    async def shown(self, update: Shown) -> None: ...
    async def acknowledged(self, ack: Ack) -> None: ...
    async def speaking(self, speaking: bool) -> None: ...
    async def violation(self, reason: str) -> None: ...
    async def failed(self) -> None: ...
    async def refused(self, refusal: errors.DomainError) -> None: ...
    async def heard(self, message: ChatMessage) -> None: ...  # the user's speech, recorded
    def avatar_said(self, text: str) -> None: ...  # our LLM's answer, coming back spoken


def _storable(message: StreamMessage) -> bool:
    """No NUL and no lone surrogate anywhere, except half a character at the edge of a
    numbered chat piece: AKool's client cuts text by UTF-16 code units, and the
    transcript keeps such a half until the piece beside it brings the other one."""
    if isinstance(message, ChatMessage) and message.idx is not None:
        message = dataclasses.replace(message, text=edge_halves(message.text)[1])
    return is_storable(dataclasses.asdict(message))


class _Forwarded(NamedTuple):
    message: StreamMessage
    received_at: datetime
    cut: bool  # an audio_end after an interrupt: the speech it ends was cut short


class AvatarFeed:
    def __init__(
        self,
        session_id: str,
        commands: Commands,
        listener: Listener,
        answer_in_progress: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.session_id = session_id
        self.commands = commands
        self.listener = listener
        # Our LLM's line in progress, if any: its own to finish.
        self.answer_in_progress = answer_in_progress
        self.interrupted = False  # an interrupt went out; the next audio_end ends it
        self._inbox: asyncio.Queue[_Forwarded] = asyncio.Queue(settings.AVATAR_FEED_BACKLOG)
        self._task: asyncio.Task | None = None
        # Lines this socket admitted (past the new-line limits), and lines nothing more
        # of is recorded (refused, or ended at their length cap): each told once.
        self._admitted: dict[tuple[str, str], None] = {}
        self._dropped: dict[tuple[str, str], None] = {}
        self._full = False  # the session's transcript is full (told once)

    def forward(self, data: str) -> None:
        """A stream message the page received from the avatar (checked, then queued)."""
        if encoded_size(data) > MAX_FRAME_BYTES:
            return  # over Agora's 1 KB: not a message any avatar sent through the channel
        message = parse(data)
        if message is None or not _storable(message):
            return  # not a v2 message, or escaped NULs/lone surrogates: no avatar sends them
        if self._inbox.full():
            raise limits.feed_backlog()  # before any state changes: this one never was
        cut = False
        if isinstance(message, EventMessage) and message.event == "audio_end":
            # Whether the avatar stopped because it was interrupted is decided here, in
            # the order the socket's messages came in.
            cut, self.interrupted = self.interrupted, False
        self._inbox.put_nowait(_Forwarded(message, timezone.now(), cut))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._record())

    async def aclose(self) -> None:
        """What the page forwarded before it went is still recorded (within a bound)."""
        if self._task is None:
            return
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._inbox.join(), DRAIN_SECONDS)
        finally:
            self._task.cancel()  # also when the socket's own task is cancelled meanwhile

    async def _record(self) -> None:
        while True:
            forwarded = await self._inbox.get()
            try:
                await self._handle(forwarded)
            except Exception:
                log.exception("session %s: failed to record the avatar's message", self.session_id)
                await self.listener.failed()
            finally:
                self._inbox.task_done()

    async def _handle(self, forwarded: _Forwarded) -> None:
        message = forwarded.message
        if isinstance(message, ChatMessage):
            await self._chat(message, forwarded.received_at)
        elif isinstance(message, CommandMessage):
            # An ack (the avatar does not command us) with a code AKool would send.
            if message.code is not None and -(2**31) <= message.code < 2**31:
                ack = await self.commands.on_ack(
                    message.cmd, message.mid, message.code, message.msg
                )
                await self.listener.acknowledged(ack)
        elif message.event in ("audio_start", "audio_end"):
            speaking = message.event == "audio_start"
            if not speaking:
                await self.finish_lines(cut=forwarded.cut)
            await self.listener.speaking(speaking)
        elif message.event == "sandbox_violation":
            reason = str(message.data.get("reason", ""))[:50]
            log.warning("session %s: sandbox reported a violation: %r", self.session_id, reason)
            await record_event(
                self.session_id, SessionEvent.Kind.ERROR, f"stream violation: {reason}"
            )
            await self.listener.violation(reason)

    async def _chat(self, message: ChatMessage, received_at: datetime) -> None:
        role = (
            TranscriptEntry.Role.USER if message.sender == "user" else TranscriptEntry.Role.AVATAR
        )
        if role == TranscriptEntry.Role.AVATAR and self.commands.settings.our_llm_answers:
            # The avatar speaking our LLM's answer: streamed into the transcript already;
            # how far it got is what the LLM remembers of an interrupted answer.
            self.listener.avatar_said(message.text)
            return
        if role == TranscriptEntry.Role.AVATAR and self.commands.settings.sandbox_witnesses:
            return  # the sandbox records its avatar's words itself: the page is no witness
        line = (role, message.mid)
        if self._full or line in self._dropped:
            return  # told already: nothing more of it is recorded
        try:
            if line not in self._admitted:
                await self._admit(role, message)
            update = await transcript.record_piece(
                self.session_id,
                role=role,
                mid=message.mid,
                idx=message.idx,
                text=message.text,
                fin=message.fin,
                received_at=received_at,
                by_page=True,
            )
        except errors.DomainError as refusal:
            await self._drop(line, refusal)
            return
        if update is not None:
            await self.listener.shown(update)
        if role == TranscriptEntry.Role.USER:
            await self.listener.heard(message)  # a spoken question, in own-LLM sessions

    async def _admit(self, role: str, message: ChatMessage) -> None:
        """A line the transcript does not hold yet is a new line, within the session's
        rate of them; a user's (the avatar side's transcript of the user's speech) also
        within the chat's rate and length, as if typed. An echo of a typed line is no
        new line. Where our LLM answers, a user's line is a question, counted against
        the chat's rate when it is asked (realtime/spoken.py), once: counted here too, a
        spoken question would cost two."""
        if not await transcript.has_line(self.session_id, role, message.mid):
            await limits.check_new_line(self.session_id)
            if role == TranscriptEntry.Role.USER and not self.commands.settings.our_llm_answers:
                await limits.check_chat(self.session_id, message.text)
        _remember(self._admitted, (role, message.mid))

    async def _drop(self, line: tuple[str, str], refusal: errors.DomainError) -> None:
        if refusal.code == "transcript_full":
            self._full = True
        else:
            _remember(self._dropped, line)
        if refusal.code == "line_too_long":  # the line was ended at its cap
            await self.listener.shown(Shown(line[0], line[1], "", True, cut=True))
        await self.listener.refused(refusal)
        if isinstance(refusal, limits.Refusal) and refusal.worth_recording:
            # A rate's first refusal of its window, as the socket records its own.
            await record_event(
                self.session_id, SessionEvent.Kind.LIMIT, refusal.message, code=refusal.code
            )

    async def finish_lines(self, *, cut: bool) -> None:
        """The avatar stopped speaking, or nobody passes its words on any more."""
        if self.commands.settings.sandbox_witnesses:
            return  # the sandbox ends its avatar's lines itself (session_side.cut)
        mids = await transcript.finish_avatar_lines(
            self.session_id, cut=cut, keep=self.answer_in_progress()
        )
        for mid in mids:
            await self.listener.shown(Shown(TranscriptEntry.Role.AVATAR, mid, "", True))


def _remember(lines: dict[tuple[str, str], None], line: tuple[str, str]) -> None:
    lines[line] = None
    if len(lines) > REMEMBERED_LINES:
        del lines[next(iter(lines))]
