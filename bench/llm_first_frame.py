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

from sessions.llm.client import LlmConfig, stream_chat  # noqa: E402
from sessions.llm.sentences import SentenceSplitter  # noqa: E402
from sessions.stream.chunker import chat_frames  # noqa: E402
from sessions.stream.pacer import Pacer  # noqa: E402
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


async def streamed(config: LlmConfig) -> float:
    first = FirstFrame()
    pacer = Pacer(first.emit)

    async def answer() -> None:
        splitter = SentenceSplitter()
        async with contextlib.aclosing(stream_chat(config, MESSAGES)) as pieces:
            async for piece in pieces:
                for sentence in splitter.feed(piece):
                    pacer.submit(chat_frames(sentence))
        rest = splitter.flush()
        if rest and rest.strip():
            pacer.submit(chat_frames(rest))

    started = time.monotonic()  # the user's chat arrives
    task = asyncio.create_task(answer())
    at = await first.at
    task.cancel()  # the interrupt: stop the LLM and drop what is queued
    pacer.drop_pending()
    await asyncio.wait({task})
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
        results: dict[str, list[float]] = {"streamed": [], "whole answer": []}
        for run in range(runs):
            for name, design in (("streamed", streamed), ("whole answer", whole_answer)):
                results[name].append(await design(config))
                # The cancelled stream must be gone before the next run starts.
                if not fake.wait_idle(timeout=2.0):
                    print("warning: the fake still has an open stream", file=sys.stderr)
            print(
                f"  run {run + 1}: streamed {results['streamed'][-1] * 1000:7.1f} ms   "
                f"whole answer {results['whole answer'][-1] * 1000:7.1f} ms"
            )
    medians = {name: statistics.median(times) for name, times in results.items()}
    ratio = medians["streamed"] / medians["whole answer"]
    print("median time from the user's chat to the first frame:")
    for name, value in medians.items():
        print(f"  {name:<13} {value * 1000:7.1f} ms")
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    print(f"ratio streamed / whole answer: {ratio:.3f} ({verdict} the target of <= {TARGET_RATIO})")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    sys.exit(asyncio.run(main(parser.parse_args().runs)))
