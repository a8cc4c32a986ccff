"""What the page asks of its session (the README's "Session websocket"), one handler per
frame type; mixed into the session consumer (realtime/consumers.py), whose state and
output they use."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from sessions import errors
from sessions.models import SessionEvent
from sessions.realtime import frames
from sessions.services import lifecycle, limits, transcript
from sessions.services.limits import check_chat, check_command, check_llm_budget
from sessions.stream.chunker import chat_frames
from sessions.stream.codec import new_mid
from sessions.stream.pacer import Backlogged


class ClientFrames:
    """The handlers `on_<type>` of the session socket."""

    def _refuse_if_ending(self) -> None:
        """Nothing new for the avatar once the session's time is up or it is ending."""
        if timezone.now() >= self.expires_at:
            raise errors.Gone(
                "session_expired", _("The session's time is up; start a new one to go on.")
            )
        if self.ending:
            raise errors.Conflict("session_ending", _("The session is ending; start a new one."))

    def _submit(self, stream_frames: list[str], *, check_only: bool = False) -> None:
        """To the avatar, whole, or refused (the pacer's backlog is full)."""
        try:
            (self.pacer.check if check_only else self.pacer.submit)(stream_frames)
        except Backlogged as exc:
            raise limits.stream_backlog(exc.retry_after) from None

    async def on_chat(self, message: dict[str, Any]) -> None:
        received = time.monotonic()  # the end of the user's words, for the turn's timing
        text = frames.chat_text(message)
        self._refuse_if_ending()
        await check_chat(self.session_id, text)
        llm = self.commands.settings.our_llm_answers  # the one rule (SessionSettings)
        if self.commands.settings.llm_answers:
            # Refused here, in words, rather than answered by silence: the budget is the
            # session's owner's (or visitor's), whoever talks.
            await check_llm_budget(self.session_id, self.budget_key)
        await limits.take_transcript_room(self.session_id, len(text))
        mid = new_mid()
        self._refuse_if_ending()  # again: the checks above may have waited on the cache
        if not llm:
            self._typed_turn(mid, text, received)
            self._submit(chat_frames(text, mid=mid, budget=settings.STREAM_FRAME_BUDGET))
            # The frames go first: the pacer's task sends the first in the loop's next
            # turn, and the line's echo follows in that same turn, so both leave in one
            # write to the socket (on loopback a write costs as much as a frame's own
            # handling).
            await asyncio.sleep(0)
        self.chats += 1
        await self.shown(transcript.record_user_line(self.session_id, mid, text))
        if llm:
            if self.answerer.answering:
                # A new message cuts the answer in progress short, as a person would.
                await self._interrupt_avatar("new message")
            self._typed_turn(mid, text, received)
            await self.answerer.start(text)

    async def on_interrupt(self, message: dict[str, Any]) -> None:
        await self._interrupt_asked("interrupt")

    async def _interrupt_asked(self, why: str) -> None:
        """An interrupt the user asks for (the page's Interrupt, or their speech cutting
        the avatar short): a command, within the session's command rate."""
        await check_command(self.session_id)
        await self._interrupt_avatar(why)

    async def _interrupt_avatar(self, why: str) -> None:
        """Stop the answer in progress: the LLM stream (if any), the frames not yet
        released, and the avatar's speech. Synchronous up to the submit: nothing of the
        old answer can slip in between."""
        dropped = self.answerer.cancel() if self.answerer else self.pacer.drop_pending()
        if self.answerer is not None and self.avatar_speaking:
            await self.answerer.cut_heard()  # an answer all sent, still being spoken
        self.feed.interrupted = True
        self.avatar_speaking = False  # it stops now: what the user says next is no barge-in
        if self.turns is not None:
            self.turns.interrupted()
        self.pacer.submit([self.commands.interrupt()])
        await lifecycle.record_event(
            self.session_id, SessionEvent.Kind.COMMAND, "interrupt", why=why, dropped_frames=dropped
        )

    async def on_set_params(self, message: dict[str, Any]) -> None:
        params = frames.session_params(message)
        self._refuse_if_ending()
        await check_command(self.session_id)
        mid, frame = await self.commands.set_params(params)
        self._refuse_if_ending()  # again: the voice lookup waited on the database
        self._submit([frame], check_only=True)  # refused before it is recorded as sent
        # Findable by every socket before it can be acknowledged, then on its way.
        await self.commands.sent(mid)
        self._submit([frame])

    async def on_rtc_message(self, message: dict[str, Any]) -> None:
        self.feed.forward(frames.rtc_data(message))

    async def on_rtc_send_failed(self, message: dict[str, Any]) -> None:
        reason = str(message.get("reason", ""))[:200]
        if await limits.send_failure_worth_recording(self.session_id):
            await lifecycle.record_event(
                self.session_id,
                SessionEvent.Kind.ERROR,
                f"page could not send a frame: {reason} (more this minute are not recorded)",
            )
        await self._error(
            "send_failed", _("A message could not reach the avatar; please send it again.")
        )

    async def refused(self, refusal: errors.DomainError) -> None:
        """The feed did not record what the page forwarded (a limit or a cap): why."""
        await self._error(refusal.code, refusal.message, retry_after=refusal.retry_after)
