"""How long the user waits for the avatar to start: time from the user's chat to the first
frame the pacer emits (the consumer's first ``rtc_send``), with our streamed design and with
a whole-answer design (wait for the complete answer, then send it).
Run: ``python bench/llm_first_frame.py [--runs N]``.

The LLM is the fake OpenAI-compatible server of the tests, on loopback, answering with
real HTTP and SSE at 50 tokens per second after 0.3 s to the first token; every answer is
300 tokens (words) in sentences of 8 to 18 words. Both designs run in the same process,
alternately, against the same server:

- streamed: ``stream_chat`` -> ``SentenceSplitter`` -> each completed sentence becomes
  its own chat message (its own mid, ``fin: true``; the avatar speaks each chat as it
  arrives, so an answer-wide mid would hold speech back until the last token) via
  ``chat_frames`` -> ``Pacer``. Once the first frame is out the run is
  interrupted (the answer task cancelled, the queue dropped), as a user may do; that
  also keeps the bench short.
- whole answer (the naive way to integrate an LLM): wait for the complete answer,
  then ``chat_frames`` of all of it -> ``Pacer``.
- spoken (issue 19): the question arrives as recognised speech, ``from: "user"`` pieces
  of a few words, through ``services.hearing.Hearing`` (the session socket's ear); the
  clock starts when the final piece (``fin: true``) is heard, and the answer streams as
  in "streamed". Target: at most 1/5 of the whole-answer wait as well.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import os  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "avatarsite.settings")
import django  # noqa: E402

django.setup()  # services.hearing reads the transcript's models (the bench passes its own)

from sessions.llm.client import LlmConfig, stream_chat  # noqa: E402
from sessions.llm.sentences import SentenceSplitter  # noqa: E402
from sessions.services.hearing import Hearing  # noqa: E402
from sessions.stream.chunker import chat_frames  # noqa: E402
from sessions.stream.pacer import Pacer  # noqa: E402
from sessions.stream.parser import ChatMessage  # noqa: E402
from tests.support.fakes.llm_server import FakeLlm, tokenize  # noqa: E402

TOKENS_PER_SECOND = 50
FIRST_TOKEN_DELAY = 0.3
ANSWER_TOKENS = 300
TARGET_RATIO = 1 / 5
MESSAGES = [
    {"role": "system", "content": "You are a museum guide. Answer in full sentences."},
    {"role": "user", "content": "What is there to see on the first floor?"},
]


def make_answer(tokens: int = ANSWER_TOKENS, seed: int = 7) -> str:
    rng = random.Random(seed)
    vocabulary = "the hall holds old maps and bright glass from many ports near our city".split()
    words: list[str] = []
    while len(words) < tokens:
        sentence = [rng.choice(vocabulary) for _ in range(rng.randint(8, 18))]
        sentence[0] = sentence[0].capitalize()
        sentence[-1] += "."
        words += sentence
    words = words[:tokens]
    words[-1] = words[-1].rstrip(".") + "."
    return " ".join(words)


class FirstFrame:
    """The pacer's emit: records when the first frame was handed over."""

    def __init__(self) -> None:
        self.at: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.frames = 0

    async def emit(self, frame: str) -> None:
        self.frames += 1
        if not self.at.done():
            self.at.set_result(time.monotonic())


async def _answer(config: LlmConfig, pacer: Pacer, messages=MESSAGES) -> None:
    splitter = SentenceSplitter()
    async with contextlib.aclosing(stream_chat(config, messages)) as pieces:
        async for piece in pieces:
            for sentence in splitter.feed(piece):
                pacer.submit(chat_frames(sentence))
    rest = splitter.flush()
    if rest and rest.strip():
        pacer.submit(chat_frames(rest))


async def streamed(config: LlmConfig) -> float:
    first = FirstFrame()
    pacer = Pacer(first.emit)
    started = time.monotonic()  # the user's chat arrives
    task = asyncio.create_task(_answer(config, pacer))
    at = await first.at
    task.cancel()  # the interrupt: stop the LLM and drop what is queued
    pacer.drop_pending()
    await asyncio.wait({task})
    await pacer.aclose()
    return at - started


async def spoken(config: LlmConfig) -> float:
    """The question as recognised speech: from the final piece heard to the first frame."""
    first = FirstFrame()
    pacer = Pacer(first.emit)
    question = MESSAGES[-1]["content"]
    words = question.split(" ")
    pieces = [" ".join(words[i : i + 3]) + " " for i in range(0, len(words), 3)]
    tasks: list[asyncio.Task] = []

    async def ask(mid: str, text: str, ended_at: float) -> None:
        messages = [*MESSAGES[:-1], {"role": "user", "content": text}]
        tasks.append(asyncio.create_task(_answer(config, pacer, messages)))

    async def line(mid: str) -> dict:  # as the transcript would hold it
        return {"text": "".join(pieces), "cut": False, "reported_by_page": True}

    async def nothing() -> None:
        return None

    ear = Hearing(
        "bench",
        quiet_ms=800,
        barge_in_min_chars=4,
        ask=ask,
        barge_in=nothing,
        answering=lambda: False,
        line=line,
    )
    for idx, text in enumerate(pieces[:-1]):
        await ear.heard(ChatMessage("u1", text, "user", idx, False))
    started = time.monotonic()  # the final piece arrives
    await ear.heard(ChatMessage("u1", pieces[-1], "user", len(pieces) - 1, True))
    at = await first.at
    for task in tasks:
        task.cancel()
    pacer.drop_pending()
    await asyncio.wait(tasks)
    await pacer.aclose()
    return at - started


async def whole_answer(config: LlmConfig) -> float:
    first = FirstFrame()
    pacer = Pacer(first.emit)
    started = time.monotonic()
    text = "".join([piece async for piece in stream_chat(config, MESSAGES)])
    pacer.submit(chat_frames(text))
    at = await first.at
    await pacer.aclose()
    return at - started


async def main(runs: int) -> int:
    answer = make_answer()
    assert len(tokenize(answer)) == ANSWER_TOKENS
    with FakeLlm(
        answer=answer,
        first_token_delay=FIRST_TOKEN_DELAY,
        tokens_per_second=TOKENS_PER_SECOND,
    ) as fake:
        config = LlmConfig(base_url=fake.base_url, api_key=fake.api_key or "", model="fake")
        print(
            f"fake LLM: {TOKENS_PER_SECOND} tokens/s, {FIRST_TOKEN_DELAY} s to the first token, "
            f"{ANSWER_TOKENS}-token answers ({len(answer)} characters); {runs} runs each"
        )
        print(f"first sentence: {SentenceSplitter().feed(answer)[0]!r}")
        results: dict[str, list[float]] = {"streamed": [], "spoken": [], "whole answer": []}
        designs = (("streamed", streamed), ("spoken", spoken), ("whole answer", whole_answer))
        for run in range(runs):
            for name, design in designs:
                results[name].append(await design(config))
                # The cancelled stream must be gone before the next run starts.
                if not fake.wait_idle(timeout=2.0):
                    print("warning: the fake still has an open stream", file=sys.stderr)
            print(
                f"  run {run + 1}: streamed {results['streamed'][-1] * 1000:7.1f} ms   "
                f"spoken {results['spoken'][-1] * 1000:7.1f} ms   "
                f"whole answer {results['whole answer'][-1] * 1000:7.1f} ms"
            )
    medians = {name: statistics.median(times) for name, times in results.items()}
    print("median time from the user's chat (spoken: its final piece) to the first frame:")
    for name, value in medians.items():
        print(f"  {name:<13} {value * 1000:7.1f} ms")
    met = True
    for name in ("streamed", "spoken"):
        ratio = medians[name] / medians["whole answer"]
        verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
        met = met and ratio <= TARGET_RATIO
        print(
            f"ratio {name} / whole answer: {ratio:.3f} ({verdict} the target of <= {TARGET_RATIO})"
        )
    return 0 if met else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    sys.exit(asyncio.run(main(parser.parse_args().runs)))
