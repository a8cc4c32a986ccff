"""Issue 15 item 11, against LLM servers that echo the key: error text split by whitespace
and streamed answers (the key across several pieces) reach nobody with the key in them."""

from __future__ import annotations

import json

import httpx
import pytest

from sessions.llm.client import LlmConfig, LlmError, stream_chat
from tests.llm.helpers import MESSAGES, collect, config_for
from tests.support.fakes.llm_server import tokenize
from tools.secret_scan.scanner import leak_pattern

AKOOL_KEY = "akool-key-DO-NOT-LEAK-5e5e"


def no_leak(text: str, *secrets: str) -> bool:
    return all(leak_pattern(s).search(text) is None for s in secrets)


@pytest.mark.asyncio
async def test_a_streamed_answer_echoing_the_keys_is_scrubbed_across_pieces(fake):
    # The fake streams runs longer than 8 characters in 4-character pieces: each key
    # arrives split across several of them, and one also split by a line break.
    fake.answer = f"My key is {fake.api_key} and {AKOOL_KEY[:9]}\n{AKOOL_KEY[9:]} too. Bye."
    config = config_for(fake, also_hide=(AKOOL_KEY,))
    pieces = await collect(config)
    assert len(tokenize(fake.answer)) > 15  # the keys were sent in many pieces
    for piece in pieces:
        assert no_leak(piece, fake.api_key, AKOOL_KEY)
        assert fake.api_key[:4] not in piece or piece.strip() == "[redacted]"
    assert "".join(pieces) == "My key is [redacted] and [redacted] too. Bye."


@pytest.mark.asyncio
async def test_a_non_streamed_answer_echoing_the_key_is_scrubbed():
    key = "sk-whole-DO-NOT-LEAK-777"

    def reply(request: httpx.Request) -> httpx.Response:
        body = {"choices": [{"message": {"content": f"the key: {key[:5]} {key[5:]}"}}]}
        return httpx.Response(200, json=body)

    config = LlmConfig(base_url="http://llm.invalid/v1", api_key=key, retries=0)
    text = "".join(
        [p async for p in stream_chat(config, MESSAGES, transport=httpx.MockTransport(reply))]
    )
    assert text == "the key: [redacted]"


@pytest.mark.asyncio
async def test_an_error_echoing_the_key_split_by_whitespace_or_at_the_cut_is_redacted():
    key = "sk-err-DO-NOT-LEAK-0123456789"
    messages = [
        f"Incorrect API key provided: {key[:4]} {key[4:12]}\n\t{key[12:]}.",
        "y" * 280 + key,  # the key across the 300-character cut
    ]
    for message in messages:

        def reply(request: httpx.Request, message=message) -> httpx.Response:
            return httpx.Response(400, content=json.dumps({"error": {"message": message}}))

        config = LlmConfig(base_url="http://llm.invalid/v1", api_key=key, retries=0)
        with pytest.raises(LlmError) as info:
            async for _ in stream_chat(config, MESSAGES, transport=httpx.MockTransport(reply)):
                pass
        assert info.value.code == "llm_refused"
        assert no_leak(info.value.message, key)
        assert "[redacted]" in info.value.message
