"""The pipeline a session builds from an LLM answer: pieces to the transcript, sentences to
the pacer as chat frames, and an interrupt that stops both (sessions/llm, sessions/stream)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from sessions.llm.client import LlmConfig, stream_chat
from sessions.llm.sentences import SentenceSplitter
from sessions.stream.chunker import chat_frames
from sessions.stream.pacer import Pacer
from sessions.stream.parser import parse
from tests.llm.helpers import LONG_ANSWER, MESSAGES, config_for, wait_until

# --- the pipeline the consumer builds -------------------------------------------------------


async def speak(config: LlmConfig, pacer: Pacer, transcript: list[str]) -> None:
    """What the session consumer does with an answer: pieces to the transcript, each
    completed sentence to the pacer as its own chat message."""
    splitter = SentenceSplitter()
    async with contextlib.aclosing(stream_chat(config, MESSAGES)) as pieces:
        async for piece in pieces:
            transcript.append(piece)
            for sentence in splitter.feed(piece):
                pacer.submit(chat_frames(sentence))
    rest = splitter.flush()
    if rest:
        pacer.submit(chat_frames(rest))


@pytest.mark.asyncio
async def test_a_streamed_answer_reaches_transcript_and_frames_in_order(fake):
    fake.answer = "First sentence here. Second one follows! And a third? Yes, the last."
    fake.tokens_per_second = 200
    frames: list[str] = []

    async def emit(frame: str) -> None:
        frames.append(frame)

    pacer = Pacer(emit)
    transcript: list[str] = []
    await speak(config_for(fake), pacer, transcript)
    await pacer.drained()
    messages = [parse(f) for f in frames]
    assert "".join(transcript) == fake.answer
    assert "".join(m.text for m in messages) == fake.answer
    assert [m.text for m in messages] == [
        "First sentence here. ",
        "Second one follows! ",
        "And a third? ",
        "Yes, the last.",
    ]
    # One chat message per sentence: each its own mid, each complete.
    assert len({m.mid for m in messages}) == 4
    assert all(m.fin for m in messages)


@pytest.mark.asyncio
async def test_an_interrupt_mid_answer_stops_the_frames_within_one_frame(fake):
    fake.answer = LONG_ANSWER
    fake.tokens_per_second = 100
    frames: list[str] = []

    async def emit(frame: str) -> None:
        frames.append(frame)

    # A tight rate limit keeps frames queued, as a long answer does for real.
    pacer = Pacer(emit, limit=400)
    task = asyncio.create_task(speak(config_for(fake), pacer, []))
    await wait_until(lambda: len(frames) >= 2)
    # The interrupt: cancel the answer, drop what is queued. Both in one step of the
    # event loop, so the answer cannot submit anything in between.
    task.cancel()
    pacer.drop_pending()
    sent = len(frames)
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.3)
    assert len(frames) <= sent + 1
    await wait_until(lambda: fake.active_streams == 0, timeout=1.0)
    await pacer.aclose()
