"""Spoken turns on the session socket: what the user says (the avatar side's transcript
of their speech) asks our LLM, and interrupts the avatar (barge-in); every turn, typed
or spoken, is timed. Mixed into the session consumer (realtime/consumers.py), whose
state and output it uses; the rules live in services.hearing and services.turn_timing.
"""

from __future__ import annotations

from sessions.models import AvatarSession
from sessions.services.hearing import Hearing
from sessions.services.limits import check_chat
from sessions.services.turn_timing import TurnClock
from sessions.stream.parser import ChatMessage


class SpokenTurns:
    hearing: Hearing | None = None
    turns: TurnClock | None = None
    avatar_speaking = False

    def _start_hearing(self, session: AvatarSession) -> None:
        self.turns = TurnClock(self.session_id)
        if self.answerer is None:
            return  # no LLM of ours answers here: the avatar's own hears the user
        preset = session.preset
        self.hearing = Hearing(
            self.session_id,
            quiet_ms=preset.hear_quiet_ms if preset else 800,
            barge_in_min_chars=preset.barge_in_min_chars if preset else 4,
            ask=self._ask_spoken,
            # The page's Interrupt by voice: within the same command limit, refused in
            # words (an error frame), never a flood of interrupts and event rows.
            barge_in=lambda: self._guarded(self._interrupt_asked("barge-in")),
            answering=self._avatar_busy,
        )

    def _avatar_busy(self) -> bool:
        """The avatar answers: our LLM still streams, or the avatar still speaks."""
        return self.answerer.answering or self.avatar_speaking

    async def heard(self, message: ChatMessage) -> None:
        """A piece of the user's speech the feed recorded (services.avatar_feed)."""
        if self.hearing is not None and self.commands.settings.our_llm_answers:
            await self.hearing.heard(message)

    def avatar_said(self, text: str) -> None:
        """A piece of our LLM's answer came back from the avatar: it got this far."""
        if self.answerer is not None:
            self.answerer.avatar_said(text)

    async def _ask_spoken(self, mid: str, text: str, ended_at: float) -> None:
        """A finished utterance, asked once in the session (services.hearing): a question
        as if typed. The line is recorded already (its length capped as it grew); the
        chat's rate is counted here, before the LLM (or the moderation endpoint) is asked,
        and a refusal is an error frame."""
        await self._guarded(self._spoken_question(text, ended_at))

    async def _spoken_question(self, text: str, ended_at: float) -> None:
        self._refuse_if_ending()
        await check_chat(self.session_id, text)
        if self._avatar_busy():
            await self._interrupt_avatar("new question")
        self.turns.asked(spoken=True, ended_at=ended_at)
        await self.answerer.start(text)

    def _typed_turn(self, mid: str, text: str, received: float) -> None:
        """A typed line starts a turn; its echo from the avatar's side is no question."""
        if self.hearing is not None:
            self.hearing.typed(mid, text)
        if self.turns is not None:
            self.turns.asked(spoken=False, ended_at=received)

    def _stop_hearing(self) -> None:
        if self.turns is not None:
            self.turns.close()  # the turn in progress is over, as far as it got
        if self.hearing is not None:
            self.hearing.aclose()
