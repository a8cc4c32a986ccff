"""The operator's LLM client (sessions/llm/client.py) against a fake OpenAI-compatible server
on loopback (tests/support/fakes/llm_server.py): real HTTP, real server-sent events, real
timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import httpx
import pytest

from sessions.llm.client import LlmConfig, LlmError, stream_chat
from tests.llm.helpers import (
    LONG_ANSWER,
    MESSAGES,
    collect,
    collect_until_error,
    config_for,
    wait_until,
)
from tests.support.fakes.llm_server import DEFAULT_API_KEY, FakeLlm, tokenize
from tools import services

# --- streaming ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_it_streams_the_answer_in_pieces_in_order(fake):
    fake.answer = "The museum opened in 1889. It has three floors, and a café!"
    pieces = await collect(config_for(fake, max_tokens=123))
    assert pieces == tokenize(fake.answer)
    assert len(pieces) > 5
    assert "".join(pieces) == fake.answer
    (body,) = fake.requests
    assert body == {
        "model": "fake-model",
        "messages": MESSAGES,
        "stream": True,
        "max_tokens": 123,
    }
    assert fake.headers[0]["authorization"] == f"Bearer {DEFAULT_API_KEY}"


@pytest.mark.asyncio
async def test_it_sends_no_authorization_without_a_key():
    with FakeLlm(api_key=None, answer="Fine.") as fake:
        assert await collect(config_for(fake, api_key="")) == ["Fine."]
        assert "authorization" not in fake.headers[0]


@pytest.mark.asyncio
async def test_unusual_text_survives_the_stream_exactly(fake):
    # U+2028 and U+0085 are line breaks to str.splitlines (and to httpx's aiter_lines),
    # but legal raw inside a JSON string; emoji and CJK go through as UTF-8.
    fake.answer = 'Line\u2028sep\u0085next 😀 東京は大きい。 tab\tand\r\nCRLF "quoted" \\ done'
    assert "".join(await collect(config_for(fake))) == fake.answer


@pytest.mark.asyncio
async def test_it_reads_legal_but_unusual_sse(fake):
    # CRLF line ends, a BOM, comments, event/id fields, JSON spread over data lines.
    fake.sse_style = "tricky"
    fake.answer = "Multi-line events still arrive whole. Yes!"
    assert await collect(config_for(fake)) == tokenize(fake.answer)


@pytest.mark.asyncio
async def test_a_slow_server_gives_the_first_piece_after_its_delay_not_at_the_end(fake):
    fake.answer = " ".join(f"w{i}" for i in range(20))
    fake.first_token_delay = 0.3
    fake.tokens_per_second = 20  # the whole answer: 0.3 + 19 / 20 = 1.25 s
    started = time.monotonic()
    arrivals = []
    async for _ in stream_chat(config_for(fake), MESSAGES):
        arrivals.append(time.monotonic() - started)
    assert len(arrivals) == 20
    assert 0.25 <= arrivals[0] < 0.8, arrivals[0]
    assert arrivals[-1] >= 1.1
    # Pieces come at the server's pace, not in one burst at the end.
    assert arrivals[10] - arrivals[0] >= 0.4


@pytest.mark.asyncio
async def test_a_server_ignoring_stream_still_gives_its_answer():
    def handler(request: httpx.Request) -> httpx.Response:
        answer = {"choices": [{"message": {"role": "assistant", "content": "Whole."}}]}
        return httpx.Response(200, json=answer)

    config = LlmConfig(base_url="http://llm.test/v1")
    pieces = [
        p async for p in stream_chat(config, MESSAGES, transport=httpx.MockTransport(handler))
    ]
    assert pieces == ["Whole."]


def sse_transport(body: bytes, calls: list[int] | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if calls is not None:
            calls.append(1)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return httpx.MockTransport(handler)


def event(delta: dict, finish: str | None = None) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


@pytest.mark.asyncio
async def test_a_finish_reason_without_done_is_a_complete_answer():
    body = event({"role": "assistant"}) + event({"content": "Hi."}) + event({}, "stop")
    config = LlmConfig(base_url="http://llm.test/v1")
    assert [p async for p in stream_chat(config, MESSAGES, transport=sse_transport(body))] == [
        "Hi."
    ]


@pytest.mark.asyncio
async def test_a_body_ending_without_done_or_finish_is_a_cut_stream():
    calls: list[int] = []
    body = event({"content": "Hi"}) + event({"content": " there"})
    config = LlmConfig(base_url="http://llm.test/v1", backoff=0.01)
    pieces = []
    with pytest.raises(LlmError) as info:
        async for piece in stream_chat(config, MESSAGES, transport=sse_transport(body, calls)):
            pieces.append(piece)
    assert info.value.code == "llm_stream_cut"
    assert info.value.partial is True
    assert pieces == ["Hi", " there"]
    assert len(calls) == 1


@pytest.mark.asyncio
async def test_an_error_inside_the_stream_is_reported_with_its_message():
    body = event({"content": "Let me"}) + b'data: {"error": {"message": "model overloaded"}}\n\n'
    config = LlmConfig(base_url="http://llm.test/v1")
    with pytest.raises(LlmError) as info:
        async for _ in stream_chat(config, MESSAGES, transport=sse_transport(body)):
            pass
    assert info.value.code == "llm_failed"
    assert "model overloaded" in info.value.message
    assert info.value.partial is True


# --- failures and retries -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_errors_before_the_first_token_are_retried(fake):
    fake.fail_before_first(503, times=2)
    fake.answer = "Third time lucky."
    assert "".join(await collect(config_for(fake, retries=2))) == "Third time lucky."
    assert len(fake.requests) == 3


@pytest.mark.asyncio
async def test_too_many_requests_is_retried_after_its_retry_after(fake):
    fake.fail_before_first(429, times=1, retry_after=0.2)
    started = time.monotonic()
    await collect(config_for(fake, retries=1))
    assert time.monotonic() - started >= 0.2
    assert len(fake.requests) == 2


@pytest.mark.asyncio
async def test_it_gives_up_after_its_retries(fake):
    fake.fail_before_first(502, times=10)
    pieces, error = await collect_until_error(config_for(fake, retries=2))
    assert pieces == []
    assert error.code == "llm_server_error"
    assert error.status == 502
    assert error.partial is False
    assert len(fake.requests) == 3


@pytest.mark.asyncio
async def test_a_client_error_is_not_retried_and_carries_the_servers_message(fake):
    fake.fail_before_first(400, times=5)
    pieces, error = await collect_until_error(config_for(fake, retries=3))
    assert error.code == "llm_refused"
    assert error.status == 400
    assert "Fake failure (HTTP 400)" in error.message
    assert len(fake.requests) == 1


@pytest.mark.asyncio
async def test_a_wrong_key_is_refused_without_repeating_the_key(fake):
    wrong = "sk-wrong-key-SECRET-91"
    pieces, error = await collect_until_error(config_for(fake, api_key=wrong))
    assert error.code == "llm_refused"
    assert error.status == 401
    assert "Incorrect API key" in error.message
    assert wrong not in error.message
    assert len(fake.requests) == 1


@pytest.mark.asyncio
async def test_a_failure_mid_stream_keeps_what_arrived_and_is_not_retried(fake):
    fake.answer = LONG_ANSWER
    fake.fail_mid_stream(after_tokens=5)
    pieces, error = await collect_until_error(config_for(fake, retries=3))
    assert pieces == tokenize(LONG_ANSWER)[:5]
    assert error.partial is True
    assert error.code == "llm_stream_cut"
    assert "cut short" in error.message
    assert len(fake.requests) == 1


@pytest.mark.asyncio
async def test_a_connection_dropped_before_the_first_token_is_retried(fake):
    fake.fail_mid_stream(after_tokens=0, times=1)
    assert "".join(await collect(config_for(fake, retries=1))) == fake.answer
    assert len(fake.requests) == 2


@pytest.mark.asyncio
async def test_malformed_sse_is_a_bad_stream(fake):
    fake.answer = LONG_ANSWER
    fake.malformed_after(3)
    pieces, error = await collect_until_error(config_for(fake))
    assert error.code == "llm_bad_stream"
    assert error.partial is True
    assert pieces == tokenize(LONG_ANSWER)[:3]


@pytest.mark.asyncio
async def test_malformed_sse_before_any_token_is_not_partial_and_not_retried(fake):
    fake.malformed_after(0)
    pieces, error = await collect_until_error(config_for(fake, retries=2))
    assert (pieces, error.code, error.partial) == ([], "llm_bad_stream", False)
    assert len(fake.requests) == 1


@pytest.mark.asyncio
async def test_a_hung_server_times_out(fake):
    fake.hang()
    started = time.monotonic()
    pieces, error = await collect_until_error(config_for(fake, read_timeout=0.3, retries=1))
    elapsed = time.monotonic() - started
    assert error.code == "llm_timeout"
    assert error.partial is False
    assert 0.6 <= elapsed < 2.0, elapsed
    assert len(fake.requests) == 2


@pytest.mark.asyncio
async def test_a_stall_mid_answer_times_out_as_partial(fake):
    fake.answer = LONG_ANSWER
    fake.tokens_per_second = 1  # the second token is a second away
    pieces, error = await collect_until_error(config_for(fake, read_timeout=0.3, retries=2))
    assert pieces == tokenize(LONG_ANSWER)[:1]
    assert (error.code, error.partial) == ("llm_timeout", True)
    assert len(fake.requests) == 1


@pytest.mark.asyncio
async def test_a_refused_connection_is_unavailable():
    config = LlmConfig(
        base_url=f"http://127.0.0.1:{services.free_port()}/v1", retries=1, backoff=0.01
    )
    pieces, error = await collect_until_error(config)
    assert (pieces, error.code, error.partial) == ([], "llm_unavailable", False)


@pytest.mark.asyncio
async def test_a_base_url_without_scheme_is_a_configuration_error():
    pieces, error = await collect_until_error(LlmConfig(base_url="localhost:8080/v1"))
    assert error.code == "llm_misconfigured"
    assert "LLM_BASE_URL" in error.message


@pytest.mark.asyncio
async def test_the_key_never_reaches_messages_or_logs(fake, caplog):
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    fake.answer = LONG_ANSWER
    key = fake.api_key
    errors: list[LlmError] = []
    fake.fail_before_first(503, times=3)
    errors.append((await collect_until_error(config_for(fake, retries=2)))[1])
    fake.reset()
    fake.answer = LONG_ANSWER
    fake.fail_mid_stream(after_tokens=2)
    errors.append((await collect_until_error(config_for(fake)))[1])
    fake.reset()
    fake.malformed_after(1)
    errors.append((await collect_until_error(config_for(fake)))[1])
    # The server echoes a wrong key; the client must not repeat it either.
    wrong = key + "-wrong"
    errors.append((await collect_until_error(config_for(fake, api_key=wrong)))[1])
    refused = config_for(fake, base_url=f"http://127.0.0.1:{services.free_port()}/v1", retries=0)
    errors.append((await collect_until_error(refused))[1])
    assert [e.code for e in errors] == [
        "llm_server_error",
        "llm_stream_cut",
        "llm_bad_stream",
        "llm_refused",
        "llm_unavailable",
    ]
    texts = [e.message for e in errors] + [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [repr(config_for(fake)), repr(config_for(fake, api_key=wrong))]
    texts += [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    assert caplog.records, "expected the failures to be logged"
    for text in texts:
        assert key not in text


# --- cancellation ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cancelling_the_consumer_closes_the_servers_stream(fake):
    fake.answer = LONG_ANSWER
    fake.tokens_per_second = 20
    got: list[str] = []

    async def consume() -> None:
        async for piece in stream_chat(config_for(fake), MESSAGES):
            got.append(piece)

    task = asyncio.create_task(consume())
    await wait_until(lambda: len(got) >= 2)
    assert fake.active_streams == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_until(lambda: fake.active_streams == 0, timeout=1.0) < 0.5
    assert len(got) < len(tokenize(LONG_ANSWER))


@pytest.mark.asyncio
async def test_cancelling_before_the_first_token_closes_the_request(fake):
    fake.first_token_delay = 10
    task = asyncio.create_task(collect(config_for(fake)))
    await wait_until(lambda: fake.active_streams == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_until(lambda: fake.active_streams == 0, timeout=1.0) < 0.5


@pytest.mark.asyncio
async def test_closing_the_generator_closes_the_servers_stream(fake):
    fake.answer = LONG_ANSWER
    fake.tokens_per_second = 20
    async with contextlib.aclosing(stream_chat(config_for(fake), MESSAGES)) as pieces:
        async for _ in pieces:
            break
    assert await wait_until(lambda: fake.active_streams == 0, timeout=1.0) < 0.5
