"""Answers from the operator's LLM, streamed into a session as the avatar's speech.

The consumer hands each user message of an LLM session to an `Answerer`. The answer
streams in; each completed sentence goes to the pacer (as its own chat message) and to
the transcript at once, so the avatar starts speaking on the first sentence instead of
after the whole answer, and the transcript shows only what was released to be said. A
new message or an interrupt cancels the answer: the LLM stream is closed and the frames
not yet released are dropped.

Guardrails (llm.guardrails): a moderation endpoint, when configured, may rule a question
out before the LLM is asked; each sentence is checked against the preset's declined
topics before it is spoken or shown. Either way the avatar says one polite decline line
instead, in the session's language, and a `limit` event is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _

from sessions import errors, keys, shared_cache
from sessions.llm import guardrails
from sessions.llm.client import LlmError
from sessions.llm.conversation import (
    Conversation,
    begun,
    cache_key,
    estimate_messages_tokens,
    estimate_tokens,
    letters,
)
from sessions.llm.sentences import SentenceSplitter
from sessions.models import Role, SessionEvent
from sessions.operations import metrics
from sessions.services import lifecycle, limits, tool_calls, transcript
from sessions.services.llm_setup import (  # noqa: F401 (named from here too)
    llm_config,
    llm_enabled,
    moderation_config,
)
from sessions.services.transcript import Shown
from sessions.stream.chunker import chat_frames
from sessions.stream.codec import new_mid
from sessions.stream.pacer import Backlogged, Pacer

log = logging.getLogger("avatarsite.answers")

DEFAULT_SYSTEM_PROMPT = (
    "You are a friendly assistant speaking through a video avatar. Answer in a few short, "
    "spoken sentences; no lists, no markdown."
)


@dataclass
class _Reply:
    """One answer as it goes: what was said (spoken and shown), what the LLM streamed
    (paid for), whether a guardrail declined it, whether it cost tokens at all."""

    said: list[str] = field(default_factory=list)
    streamed: list[str] = field(default_factory=list)
    declined: bool = False
    spent: bool = False


async def _replay(text: str) -> AsyncIterator[str]:
    """A cached answer, fed through the same path as a streamed one."""
    yield text


# How long the "opening line said" marker is kept: longer than any session lives.
OPENING_KEY_SECONDS = 2 * 3600

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
        declined_topics: str = "",
        language: Callable[[], str] = lambda: "",
    ) -> None:
        self.session_id = session_id
        self.principal_key = principal_key
        self.preset_slug = preset_slug
        self.pacer = pacer
        self.show = show
        self.warn = warn
        # The session's language as the avatar last confirmed it (set_params may change
        # it): the decline line is said in it.
        self.language = language
        topics = guardrails.parse_topics(declined_topics)
        self.guard = guardrails.TopicGuard(topics)
        prompt = guardrails.system_prompt(
            system_prompt or DEFAULT_SYSTEM_PROMPT, topics, language()
        )
        self.conversation = Conversation(prompt, token_budget=settings.LLM_CONTEXT_TOKENS)
        self.task: asyncio.Task | None = None
        self.mid: str | None = None  # the transcript line of the answer in progress
        # One answer at a time: questions that arrive together (two quiet timers, a typed
        # and a spoken line) start in turn, each after the one before has ended, never
        # side by side where an interrupt could not reach the one no longer tracked.
        self._starting = asyncio.Lock()
        # The avatar's own words that came back while this answer went out (letters),
        # and whether it sends its words back at all: on an interrupt the conversation
        # keeps only the sentences it began (what the user heard).
        self.heard = 0
        self.echoes = False
        self.last: tuple[str, list[str]] | None = None  # the last whole answer: (mid, sentences)

    async def load_history(self) -> None:
        """Rebuild the conversation from the transcript (a reconnect, another process)."""
        async for entry in transcript.lines(self.session_id):
            if entry.role == Role.USER:
                self.conversation.add_user(entry.text)
            else:
                self.conversation.add_assistant(entry.text, cut=entry.cut)

    async def greet(self, opening: str) -> None:
        """In a session with no conversation yet (the history loaded), have the avatar say
        the knowledge base's opening line, once a session: AKool's knowledge base greets
        in dialogue only, so our server says it in own-LLM sessions, on any provider."""
        async with self._starting:
            if not opening or self.conversation.turns or self.answering:
                return
            if not await shared_cache.add(
                keys.opening_said(self.session_id), 1, OPENING_KEY_SECONDS
            ):
                return
            mid = self.mid = new_mid()
            self.heard, self.last = 0, None
            self.task = asyncio.get_running_loop().create_task(self._say_opening(mid, opening))

    async def _open_line(self, mid: str) -> None:
        """Record the answer's line before a word of it goes out. An interrupt at that very
        moment must not leave the line half made, unfinished for ever (its insert goes on
        in a thread, whatever happens here): the line is made all the same, and then the
        cancellation goes on to the caller, which ends the line cut."""
        opening = asyncio.ensure_future(transcript.start_answer(self.session_id, mid))
        try:
            await asyncio.shield(opening)
        except asyncio.CancelledError:
            await opening
            raise

    async def _say_opening(self, mid: str, line: str) -> None:
        """Said and recorded as an answer is (an interrupt cuts it alike); costs no tokens."""
        reply = _Reply()
        try:
            await self._open_line(mid)
            await self._release(mid, [line], reply)
        except asyncio.CancelledError:
            await self._finish(mid, reply, [], cut=True, interrupted=True)
            if not reply.said:
                # Cut before a word went out (the socket was displaced at once): the next
                # socket says it, rather than nobody ever.
                await shared_cache.delete(keys.opening_said(self.session_id))
            raise
        except LlmError as exc:  # the stream's backlog is full: it waits for nobody
            await self._finish(mid, reply, [], cut=True)
            await self.warn(exc.code, exc.message)
            return
        await self._finish(mid, reply, [], cut=False)

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

    def avatar_said(self, text: str) -> None:
        """A piece of the avatar's speech (`from: "bot"`) came back: it got this far."""
        self.echoes = True
        self.heard += letters(text)

    async def cut_heard(self) -> None:
        """An interrupt while the avatar still spoke an answer that had all gone out: the
        LLM remembers the sentences it began, and the transcript marks the line cut."""
        last, self.last = self.last, None
        if last is None or not self.echoes:
            return
        mid, said = last
        heard = begun(said, self.heard)
        self.conversation.cut_last_answer("".join(heard))
        unspoken = "".join(said[len(heard) :])
        shown = await transcript.cut_answer(self.session_id, mid, "".join(heard), unspoken)
        if shown is not None:
            await self.show(shown)

    async def start(self, text: str) -> None:
        """Answer `text` (already recorded as the user's line). Refuses over budget."""
        async with self._starting:
            await limits.check_llm_budget(self.session_id, self.principal_key)
            if self.task is not None and not self.task.done():
                # A cancelled answer records what it said before the next question goes
                # in, so the conversation keeps its order.
                await asyncio.wait({self.task})
            # The opening line is no question: a first question after it may be cached.
            first_question = not any(turn.role == "user" for turn in self.conversation.turns)
            self.conversation.add_user(text)
            mid = self.mid = new_mid()
            self.heard, self.last = 0, None
            answer = self._answer(mid, text, first_question)
            self.task = asyncio.get_running_loop().create_task(answer)

    async def _answer(self, mid: str, question: str, first_question: bool) -> None:
        messages = self.conversation.messages()
        reply = _Reply()
        key = None
        try:
            await self._open_line(mid)
            if ruled_out := await self._moderation(question):
                await self._decline(mid, reply, {"where": "question", "reason": ruled_out})
            else:
                tools = await tool_calls.preset_tools(self.preset_slug)  # answers never cached
                key, cached = await self._cached(question, first_question and not tools)
                reply.spent = not cached
                source = _replay(cached) if cached else self._source(messages, tools, mid, reply)
                await self._stream(mid, source, reply)
        except asyncio.CancelledError:
            await self._finish(mid, reply, messages, cut=True, interrupted=True)
            raise
        except LlmError as exc:
            await self._finish(mid, reply, messages, cut=True)
            log.warning("session %s: LLM failed: %s", self.session_id, exc.code)
            message = exc.message
            if reply.said and "cut short" not in message:
                message += " The answer was cut short."
            await self.warn(exc.code, message)
            return
        except Exception:
            # Anything else (a bug, the database refusing a row): the line still ends, cut,
            # what was streamed is still paid for, and the page is told; never a silent,
            # unfinished, unpaid answer.
            log.exception("session %s: the answer failed", self.session_id)
            await self._finish(mid, reply, messages, cut=True)
            await self.warn("answer_failed", _("Something went wrong; the answer was cut short."))
            return
        answer = "".join(reply.said)
        if reply.spent and key and not reply.declined and answer.strip():
            await shared_cache.set(key, answer, timeout=settings.LLM_CACHE_TTL)
        await self._finish(mid, reply, messages, cut=False)

    async def _cached(self, question: str, first_question: bool) -> tuple[str | None, str | None]:
        """(the cache key, the cached answer) of a preset's first question, else Nones."""
        if not (first_question and settings.LLM_CACHE_TTL > 0):
            return None, None
        # The system prompt (declined topics included) and model shape the answer.
        salt = f"{self.conversation.system_prompt}\n{settings.LLM_MODEL}"
        key = keys.llm_answer(cache_key(self.preset_slug, question, salt=salt))
        return key, await shared_cache.get(key)

    def _source(self, messages: list[dict], tools, mid: str, reply: _Reply) -> AsyncIterator[str]:
        """The LLM's answer, calling the preset's tools if it has any (the filler said)."""
        return tool_calls.answer_stream(
            llm_config(),
            messages,
            tools,
            session_id=self.session_id,
            principal_key=self.principal_key,
            say=lambda line: self._release(mid, [line], reply),
        )

    async def _stream(self, mid: str, source: AsyncIterator[str], reply: _Reply) -> None:
        """Release the answer sentence by sentence: each is checked against the declined
        topics, then spoken and shown (the transcript shows only what may be said)."""
        splitter, asked = SentenceSplitter(), time.monotonic()
        async with contextlib.aclosing(source) as pieces:
            async for piece in pieces:
                if not reply.streamed:
                    metrics.llm_first_token(asked)
                reply.streamed.append(piece)
                if not await self._release(mid, splitter.feed(piece), reply):
                    return  # declined: leaving the block closes the LLM's stream
        await self._release(mid, [splitter.flush() or ""], reply)

    async def _release(self, mid: str, sentences: list[str], reply: _Reply) -> bool:
        """Speak and show ``sentences``; False once one touched a declined topic (it and
        the rest of the answer are replaced by the decline line)."""
        for sentence in sentences:
            if not sentence.strip():
                continue
            topic = self.guard.touches(sentence)
            if topic is not None:
                await self._decline(mid, reply, {"where": "answer", "topic": topic})
                return False
            self._speak(sentence)
            reply.said.append(sentence)
            await self._show(mid, sentence)
        return True

    async def _decline(self, mid: str, reply: _Reply, data: dict[str, str]) -> None:
        line = guardrails.decline_line(self.language())
        self._speak(line)
        reply.said.append(line)
        reply.declined = True
        await self._show(mid, line)
        # What was asked or answered stays out of the event: the transcript has the one,
        # and the other was never said.
        await lifecycle.record_event(
            self.session_id,
            SessionEvent.Kind.LIMIT,
            "Declined a topic the preset declines.",
            **data,
        )

    async def _moderation(self, question: str) -> str | None:
        """Why the moderation endpoint (when there is one) rules the question out:
        "flagged", or, failing closed, why it gave no verdict; None to answer it."""
        config = moderation_config()
        if config is None:
            return None
        try:
            flagged = await guardrails.moderate(config, question)
        except guardrails.ModerationError as exc:
            closed = settings.LLM_MODERATION_FAIL_CLOSED
            log.warning(
                "session %s: no moderation verdict (%s): %s",
                self.session_id,
                exc.code,
                "declining" if closed else "answering anyway",
            )
            return exc.code if closed else None
        return "flagged" if flagged else None

    def _speak(self, sentence: str) -> None:
        try:
            self.pacer.submit(chat_frames(sentence, budget=settings.STREAM_FRAME_BUDGET))
        except Backlogged as exc:
            # The rest of the answer cannot be spoken whole: it ends here, cut.
            refusal = limits.stream_backlog(exc.retry_after)
            raise LlmError(refusal.code, refusal.message, partial=True) from None

    async def _show(self, mid: str, piece: str) -> None:
        await self.show(await transcript.extend_answer(self.session_id, mid, piece))

    async def _finish(
        self, mid: str, reply: _Reply, messages: list[dict], *, cut: bool, interrupted: bool = False
    ) -> None:
        # Shielded: this runs while the task is being cancelled, and what was already
        # said must still be recorded as said (and as cut), and paid for.
        async def finish() -> None:
            text = "".join(reply.said)
            if reply.spent:
                # Paid for as streamed: held-back or declined text was generated too.
                tokens = estimate_messages_tokens(messages) + estimate_tokens(
                    "".join(reply.streamed)
                )
                await limits.spend_llm_tokens(self.session_id, self.principal_key, tokens)
            # Interrupted: the LLM remembers what the user heard, the sentences the avatar
            # began (when it tells us its words; else all that went out). The transcript
            # keeps the rest that was released apart, marked as never said.
            heard = begun(reply.said, self.heard) if interrupted and self.echoes else reply.said
            self.conversation.add_assistant("".join(heard), cut=cut)
            self.last = None if cut else (mid, list(reply.said))
            await limits.add_transcript_chars(self.session_id, len(text))
            unspoken = "".join(reply.said[len(heard) :])
            await self.show(
                await transcript.end_answer(
                    self.session_id, mid, "".join(heard), cut=cut, unspoken=unspoken
                )
            )

        await asyncio.shield(finish())

    async def aclose(self) -> None:
        if self.answering:
            assert self.task is not None
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, errors.DomainError):
                await self.task
