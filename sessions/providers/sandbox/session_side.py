"""The session behind a sandbox channel, as its avatar's socket sees it: the limits its
chats are answered within, and the transcript its avatar's words go to.

Anyone holding the channel's token (a page does: it is in the owner's `rtc`) can talk to
the sandbox avatar directly, so what the session socket enforces on a chat is enforced
here too, with the same functions (services.limits), charged to the same session and to
the principal it was created for. And the sandbox is the witness of what its avatar said:
the page that forwards it is not (services.avatar_feed skips those lines).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable

from channels.layers import get_channel_layer
from django.conf import settings

from sessions import errors, keys, shared_cache
from sessions.llm.client import LlmError, stream_chat
from sessions.llm.conversation import Conversation, estimate_messages_tokens, estimate_tokens
from sessions.models import AvatarSession, Role
from sessions.providers.sandbox.avatar import Refused
from sessions.providers.sandbox.line_writer import LineWriter
from sessions.providers.sandbox.provider import live_channel
from sessions.services import limits, transcript
from sessions.services.answers import DEFAULT_SYSTEM_PROMPT, llm_config, llm_enabled
from sessions.services.commands import ACK_WAIT, SessionSettings

log = logging.getLogger("avatarsite.sandbox")

# What our mids look like (codec.new_mid), with room to change it; anything else is not ours.
_OUR_MID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# How long the "greeted" marker is kept: longer than any session lives.
SESSION_KEY_SECONDS = 2 * 3600
APOLOGY = "Sorry, I could not think of an answer just now. Please ask me again."


class SessionSide:
    """One sandbox channel's session: its id, its principal, its settings."""

    def __init__(self, session: AvatarSession) -> None:
        self.session_id = str(session.pk)
        self.principal_key = session.budget_key  # who pays, whoever talks
        self.settings = SessionSettings.of(session)
        self.network = session.network  # the one the sandbox plays
        # The preset's knowledge base: its opening line greets, its instructions steer.
        knowledge = session.preset.knowledge if session.preset else None
        self.greeting = knowledge.prologue if knowledge else ""
        self.instructions = knowledge.prompt if knowledge else ""
        self._line = LineWriter(self.session_id)  # the line being said, written whole
        self._full = False  # the transcript reached TRANSCRIPT_MAX_CHARS
        self._capped = ""  # the mid of a line that reached its length cap
        self._logged: set[str] = set()  # caps logged already (once each, not per piece)

    @classmethod
    async def of_channel(cls, channel: str) -> SessionSide | None:
        """The live session behind a channel, or None."""
        info = await live_channel(channel)
        if info is None:
            return None
        session = (
            await AvatarSession.objects.filter(provider="sandbox", upstream_id=info["upstream_id"])
            .select_related("preset__knowledge")
            .afirst()
        )
        return None if session is None else cls(session)

    async def greets(self) -> bool:
        """Whether the avatar says its opening line now: once a session, on the first
        socket (a page that reconnects is not greeted again). Not when our LLM answers: as
        AKool's knowledge base, it greets in dialogue; our server says the line then."""
        if self.settings.our_llm_answers:
            return False
        return bool(self.greeting) and await shared_cache.add(
            keys.sandbox_greeted(self.session_id), 1, SESSION_KEY_SECONDS
        )

    async def admit(self, mode: int, text: str) -> None:
        """A chat to answer (mode 2), or to say and record as the avatar's (mode 1): the
        session socket's chat length and rate (a count of its own, so a chat sent through
        the page is not counted twice). Mode 1 text our server sends is a typed chat,
        counted alike, or our LLM's sentences, which are never recorded here: not counted."""
        self.settings.mode = mode
        if self.settings.our_llm_answers:
            return
        try:
            await limits.check_chat(keys.sandbox_chats(self.session_id), text)
        except errors.DomainError as exc:
            raise Refused(exc.code) from None

    async def sent_by_server(self, mid: str, data: dict) -> bool:
        """Whether our server sent this set-params (Commands.sent keeps each one, with its
        data, until acked), and this is its first copy here."""
        if not _OUR_MID.fullmatch(mid):
            return False  # not an id we make (codec.new_mid): no need to look it up
        stored = await shared_cache.get(keys.pending_command(self.session_id, mid))
        if not isinstance(stored, dict) or stored.get("data") != data:
            return False
        applied = keys.sandbox_command_applied(self.session_id, mid)
        return await shared_cache.add(applied, 1, ACK_WAIT)

    def llm_answer(self) -> Callable[[str], Awaitable[str]] | None:
        """The sandbox's stand-in for AKool's own dialogue LLM: the operator's LLM, asked
        for the whole answer (as the real avatar's LLM answers inside the avatar), within
        the session's and the principal's token budgets. None without an LLM."""
        if not llm_enabled():
            return None
        # AKool's LLM follows the knowledge base's instructions: so does its stand-in.
        prompt = self.instructions or DEFAULT_SYSTEM_PROMPT
        conversation = Conversation(prompt, token_budget=settings.LLM_CONTEXT_TOKENS)

        async def answer(question: str) -> str:
            try:
                await limits.check_llm_budget(self.session_id, self.principal_key)
            except errors.DomainError as exc:
                raise Refused(exc.code) from None
            conversation.add_user(question)
            messages = conversation.messages()
            said: list[str] = []
            try:
                async with contextlib.aclosing(stream_chat(llm_config(), messages)) as pieces:
                    async for piece in pieces:
                        said.append(piece)
                reply = "".join(said)
            except LlmError as exc:
                log.warning("sandbox: the LLM failed (%s); answering with an apology", exc.code)
                reply = APOLOGY
            finally:
                # Paid for as the session's own answers are (services/answers.py), also
                # when it failed or was cut short: the tokens were spent upstream.
                tokens = estimate_messages_tokens(messages) + estimate_tokens("".join(said))
                await asyncio.shield(
                    limits.spend_llm_tokens(self.session_id, self.principal_key, tokens)
                )
            conversation.add_assistant(reply)
            return reply

        return answer

    async def said(self, mode: int, mid: str, idx: int, text: str, fin: bool) -> None:
        """A piece the avatar said: to every socket of the session live, and onto its
        line, written whole at its end (and on a timer while it lasts: line_writer). Not
        when the session's own LLM answers (retelling its sentences): that answer is in
        the transcript already."""
        self.settings.mode = mode
        if self.settings.our_llm_answers or self._full or mid == self._capped:
            return  # (a cap reached: nothing more of it is recorded)
        if not transcript.could_be_sent(mid, idx, text):
            return
        before = self._line.text_of(mid)  # where the piece starts in its line
        try:
            await limits.take_transcript_room(self.session_id, len(text))
            most = limits.line_max_chars(Role.AVATAR)
            if len(before) + len(text) > most:
                raise limits.line_too_long(most)
            await self._line.add(mid, text)
            if fin:  # written before it is shown: a page (re)connecting then replays it whole
                await self._line.end(cut=False)
            await self._show(transcript.Shown(Role.AVATAR, mid, text, fin), before, text)
        except limits.CapReached as exc:
            await self._cap_reached(exc, mid, before)
        except Exception:
            # The avatar goes on speaking; the page's replay shows what was recorded.
            log.exception("session %s: failed to record the sandbox avatar", self.session_id)

    async def _cap_reached(self, cap: limits.CapReached, mid: str, before: str) -> None:
        """A transcript cap refused a piece (a limit, not a failure): its line ends there,
        cut short, and nothing more of it (or of anything, once full) is recorded."""
        if cap.code not in self._logged:
            self._logged.add(cap.code)
            log.info("session %s: sandbox avatar not recorded: %s", self.session_id, cap.code)
        self._full = self._full or cap.code == "transcript_full"
        self._capped = mid
        if before:
            await self._end(mid, before)

    async def cut(self, mode: int, mid: str) -> None:
        """The avatar stopped before the end of the line (an interrupt, the socket gone):
        the line ends here, marked cut short. The sandbox ends its own lines: the page's
        `audio_end` arrives after the next answer may have begun."""
        self.settings.mode = mode
        said = self._line.text_of(mid)
        if self.settings.our_llm_answers or not said:
            return
        try:
            await self._end(mid, said)
        except Exception:
            log.exception("session %s: failed to end the sandbox avatar's line", self.session_id)

    async def close(self) -> None:
        """The avatar left: nothing of its open line stays unwritten, no timer runs on."""
        try:
            await self._line.close()
        except Exception:
            log.exception("session %s: failed to write the sandbox avatar's line", self.session_id)

    async def _end(self, mid: str, said: str) -> None:
        """The line `mid` (`said` so far) ends cut short: written, then shown."""
        await self._line.end(cut=True)
        await self._show(transcript.Shown(Role.AVATAR, mid, "", True, cut=True), said, "")

    async def _show(self, update: transcript.Shown, before: str, text: str) -> None:
        """To every socket of the session: the update, where it starts in its line (`at`)
        and the line so far, for a socket whose replay lags it (realtime/shown_lines)."""
        await get_channel_layer().group_send(
            keys.session_group(self.session_id),
            {
                "type": keys.SESSION_SHOWN,
                "shown": vars(update),  # a flat dataclass: its fields as they are
                "at": len(before),
                "line": before + text,
            },
        )
