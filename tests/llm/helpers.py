"""What the LLM client's tests share: the messages sent, a config for the fake server, and
ways to read an answer or wait for the server."""

from __future__ import annotations

import asyncio
import time

import pytest

from sessions.llm.client import LlmConfig, LlmError, stream_chat
from tests.support.fakes.llm_server import FakeLlm

MESSAGES = [
    {"role": "system", "content": "You are Ada, a friendly guide."},
    {"role": "user", "content": "Tell me about the museum."},
]
LONG_ANSWER = " ".join(f"Sentence number {i} is here." for i in range(60))


def config_for(fake: FakeLlm, **overrides) -> LlmConfig:
    # Short timeouts and backoff: the behaviours are the same, the suite stays fast.
    args = {
        "base_url": fake.base_url,
        "api_key": fake.api_key or "",
        "model": "fake-model",
        "connect_timeout": 1.0,
        "read_timeout": 2.0,
        "backoff": 0.01,
    }
    args.update(overrides)
    return LlmConfig(**args)


async def collect(config: LlmConfig, messages=MESSAGES) -> list[str]:
    return [piece async for piece in stream_chat(config, messages)]


async def collect_until_error(config: LlmConfig) -> tuple[list[str], LlmError]:
    pieces: list[str] = []
    with pytest.raises(LlmError) as info:
        async for piece in stream_chat(config, MESSAGES):
            pieces.append(piece)
    return pieces, info.value


async def wait_until(predicate, timeout: float = 10.0) -> float:
    """Seconds it took for ``predicate()`` to hold; fails the test after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - started
