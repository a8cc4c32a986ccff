"""Answers from the operator's LLM, streamed into a session as the avatar's speech.

The consumer hands each user message of an LLM session to an `Answerer`. The answer
streams in; each piece goes to the transcript at once, each completed sentence goes to
the pacer at once (as its own chat message), so the avatar starts speaking on the first
sentence instead of after the whole answer. A new message or an interrupt cancels the
answer: the LLM stream is closed and the frames not yet released are dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from django.conf import settings

from sessions import errors, keys, shared_cache
from sessions.llm.client import LlmConfig, LlmError, stream_chat
from sessions.llm.conversation import (
    Conversation,
    cache_key,
    estimate_messages_tokens,
    estimate_tokens,
)
from sessions.llm.sentences import SentenceSplitter
from sessions.models import Role
from sessions.services import limits, transcript
from sessions.services.transcript import Shown
from sessions.stream.chunker import chat_frames
from sessions.stream.codec import new_mid
from sessions.stream.pacer import Backlogged, Pacer

log = logging.getLogger("avatarsite.answers")

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly assistant speaking through a video avatar. Answer in a few short, "
    "spoken sentences; no lists, no markdown."
)


def llm_enabled() -> bool:
    return bool(settings.LLM_BASE_URL)


def llm_config() -> LlmConfig:
    return LlmConfig(
        base_url=settings.LLM_BASE_URL,
        api_key=settings.LLM_API_KEY,
        model=settings.LLM_MODEL,
        connect_timeout=settings.LLM_CONNECT_TIMEOUT,
        read_timeout=settings.LLM_READ_TIMEOUT,
        retries=settings.LLM_RETRIES,
        max_tokens=settings.LLM_MAX_TOKENS,
        also_hide=(settings.AKOOL_API_KEY, settings.AKOOL_CLIENT_SECRET),
    )


async def _replay(text: str) -> AsyncIterator[str]:
    """A cached answer, fed through the same path as a streamed one."""
    yield text


Show = Callable[[Shown], Awaitable[None]]  # a transcript update for the session's pages
Warn = Callable[[str, str], Awaitable[None]]  # an error (code, message) for the page


class Answerer:
    """One session's conversation with the LLM (one per socket that talks)."""

    def __init__(
        self,
        *,
        session_id: str,
        principal_key: str,
        preset_slug: str,
        system_prompt: str,
        pacer: Pacer,
        show: Show,
        warn: Warn,
    ) -> None:
        self.session_id = session_id
        self.principal_key = principal_key
        self.preset_slug = preset_slug
        self.pacer = pacer
        self.show = show
        self.warn = warn
        self.conversation = Conversation(
            system_prompt or DEFAULT_SYSTEM_PROMPT, token_budget=settings.LLM_CONTEXT_TOKENS
        )
        self.task: asyncio.Task | None = None
        self.mid: str | None = None  # the transcript line of the answer in progress

    async def load_history(self) -> None:
        """Rebuild the conversation from the transcript (a reconnect, another process)."""
        async for entry in transcript.lines(self.session_id):
            if entry.role == Role.USER:
                self.conversation.add_user(entry.text)
            else:
                self.conversation.add_assistant(entry.text, cut=entry.cut)

    @property
    def answering(self) -> bool:
        return self.task is not None and not self.task.done()

    def cancel(self) -> int:
        """Stop the answer in progress and drop its frames not yet released. Synchronous,
        so the answer cannot submit another sentence in between. Returns frames dropped."""
        if self.answering:
            assert self.task is not None
            self.task.cancel()
        return self.pacer.drop_pending()

    async def start(self, text: str) -> None:
        """Answer `text` (already recorded as the user's line). Refuses over budget."""
        await limits.check_llm_budget(self.session_id, self.principal_key)
        if self.task is not None and not self.task.done():
            # A cancelled answer records what it said before the next question goes in,
            # so the conversation keeps its order.
            await asyncio.wait({self.task})
        first_question = not self.conversation.turns
        self.conversation.add_user(text)
        self.mid = new_mid()
        self.task = asyncio.get_running_loop().create_task(self._answer(text, first_question))

    async def _answer(self, question: str, first_question: bool) -> None:
        mid = self.mid
        assert mid is not None
        messages = self.conversation.messages()
        key = None
        cached = None
        if first_question and settings.LLM_CACHE_TTL > 0:
            salt = f"{self.conversation.system_prompt}\n{settings.LLM_MODEL}"
            key = keys.llm_answer(cache_key(self.preset_slug, question, salt=salt))
            cached = await shared_cache.get(key)
        await transcript.start_answer(self.session_id, mid)
        splitter = SentenceSplitter()
        said: list[str] = []
        try:
            source = _replay(cached) if cached else stream_chat(llm_config(), messages)
            async with contextlib.aclosing(source) as pieces:
                async for piece in pieces:
                    said.append(piece)
                    self._speak(splitter.feed(piece))
                    await self._show(mid, piece)
            self._speak([splitter.flush() or ""])
        except asyncio.CancelledError:
            await self._finish(mid, said, messages, cut=True, spent=not cached)
            raise
        except LlmError as exc:
            await self._finish(mid, said, messages, cut=True, spent=not cached)
            log.warning("session %s: LLM failed: %s", self.session_id, exc.code)
            message = exc.message
            if said and "cut short" not in message:
                message += " The answer was cut short."
            await self.warn(exc.code, message)
            return
        answer = "".join(said)
        if key and not cached and answer.strip():
            await shared_cache.set(key, answer, timeout=settings.LLM_CACHE_TTL)
        await self._finish(mid, said, messages, cut=False, spent=not cached)

    def _speak(self, sentences: list[str]) -> None:
        for sentence in sentences:
            if sentence.strip():
                try:
                    self.pacer.submit(chat_frames(sentence, budget=settings.STREAM_FRAME_BUDGET))
                except Backlogged as exc:
                    # The rest of the answer cannot be spoken whole: it ends here, cut.
                    refusal = limits.stream_backlog(exc.retry_after)
                    raise LlmError(refusal.code, refusal.message, partial=True) from None

    async def _show(self, mid: str, piece: str) -> None:
        await self.show(await transcript.extend_answer(self.session_id, mid, piece))

    async def _finish(
        self, mid: str, said: list[str], messages: list[dict], *, cut: bool, spent: bool
    ) -> None:
        # Shielded: this runs while the task is being cancelled, and what was already
        # said must still be recorded as said (and as cut), and paid for.
        async def finish() -> None:
            text = "".join(said)
            if spent:
                tokens = estimate_messages_tokens(messages) + estimate_tokens(text)
                await limits.spend_llm_tokens(self.session_id, self.principal_key, tokens)
            self.conversation.add_assistant(text, cut=cut)
            await limits.add_transcript_chars(self.session_id, len(text))
            await self.show(await transcript.end_answer(self.session_id, mid, text, cut=cut))

        await asyncio.shield(finish())

    async def aclose(self) -> None:
        if self.answering:
            assert self.task is not None
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, errors.DomainError):
                await self.task
