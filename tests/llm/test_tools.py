"""Function calling against the fake LLM (real HTTP, real SSE): the request offers the
tools, streamed tool_calls come back whole, and the rounds hand results back."""

from __future__ import annotations

import json

import pytest

from sessions.llm.client import LlmConfig, LlmError, stream_chat
from sessions.llm.tools import (
    ToolCallAssembler,
    ToolCallRequest,
    ToolCalls,
    ToolSpec,
    answer_rounds,
)

pytestmark = pytest.mark.asyncio

WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city now.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
QUESTION = [{"role": "user", "content": "Weather in Paris?"}]


def config(fake) -> LlmConfig:
    return LlmConfig(base_url=fake.base_url, api_key=fake.api_key, retries=0)


async def collect(stream) -> list:
    return [piece async for piece in stream]


async def test_streamed_tool_calls_come_back_whole(fake):
    fake.call_tools([("get_weather", {"city": "Paris"}), ("get_time", {"zone": "CET"})])
    pieces = await collect(
        stream_chat(config(fake), QUESTION, tools=[WEATHER.request_entry()], tool_choice="auto")
    )
    assert len(pieces) == 1 and isinstance(pieces[0], ToolCalls)
    calls = pieces[0].calls
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_fake_0", "get_weather", {"city": "Paris"}),
        ("call_fake_1", "get_time", {"zone": "CET"}),
    ]
    request = fake.requests[-1]
    assert request["tools"] == [WEATHER.request_entry()]
    assert request["tool_choice"] == "auto"


async def test_without_tools_the_request_is_as_before(fake):
    fake.call_tools([("get_weather", {"city": "Paris"})])
    pieces = await collect(stream_chat(config(fake), QUESTION))
    assert all(isinstance(p, str) for p in pieces)
    assert "tools" not in fake.requests[-1]


async def test_a_key_echoed_in_the_arguments_is_hidden(fake):
    fake.call_tools([("get_weather", {"city": fake.api_key})])
    [calls] = await collect(stream_chat(config(fake), QUESTION, tools=[WEATHER.request_entry()]))
    assert fake.api_key not in calls.calls[0].arguments


async def test_misshapen_tool_calls_are_an_unreadable_answer():
    assembler = ToolCallAssembler()
    with pytest.raises(ValueError):
        assembler.feed([{"index": 0, "function": {"arguments": 5}}])
    with pytest.raises(ValueError):
        assembler.feed({"index": 0})


async def test_the_rounds_hand_results_back_and_end_with_the_answer(fake):
    fake.call_tools([("get_weather", {"city": "Paris"})])
    fake.answer = lambda messages: f"It is {json.loads(messages[-1]['content'])['temp']} degrees."
    ran: list[ToolCallRequest] = []
    fillers: list[str] = []

    async def run(call: ToolCallRequest) -> str:
        ran.append(call)
        return json.dumps({"temp": 21})

    async def filler() -> None:
        fillers.append("said")

    text = "".join(
        await collect(
            answer_rounds(
                lambda m, **kw: stream_chat(config(fake), m, **kw),
                QUESTION,
                [WEATHER],
                run=run,
                max_rounds=3,
                before_first_call=filler,
            )
        )
    )
    assert text == "It is 21 degrees."
    assert [c.name for c in ran] == ["get_weather"] and fillers == ["said"]
    second = fake.requests[-1]["messages"]
    assert second[-2]["role"] == "assistant" and second[-2]["tool_calls"][0]["id"] == "call_fake_0"
    assert second[-1] == {"role": "tool", "tool_call_id": "call_fake_0", "content": '{"temp": 21}'}


async def test_after_the_last_round_the_llm_may_not_call_tools(fake):
    fake.call_tools([("get_weather", {"city": "Paris"})], times=10)
    fake.answer = "I could not find out."
    runs = 0

    async def run(call: ToolCallRequest) -> str:
        nonlocal runs
        runs += 1
        return "{}"

    text = "".join(
        await collect(
            answer_rounds(
                lambda m, **kw: stream_chat(config(fake), m, **kw),
                QUESTION,
                [WEATHER],
                run=run,
                max_rounds=2,
            )
        )
    )
    assert runs == 2 and text == "I could not find out."
    assert [r["tool_choice"] for r in fake.requests] == ["auto", "auto", "none"]


async def test_a_broken_tool_call_stream_is_reported(fake):
    fake.call_tools([("get_weather", '{"city": "Par')])
    fake.fail_mid_stream(0, times=1)
    with pytest.raises(LlmError):
        await collect(stream_chat(config(fake), QUESTION, tools=[WEATHER.request_entry()]))
