"""A session whose preset has tools: the fake LLM asks for a call, the server calls the
fake tool server (which checks the signature), the result goes back to the LLM and the
answer is spoken. A tool that times out or fails: the avatar says so, the session goes
on. Every call is one audit row; deleting the transcript deletes its arguments/results."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from sessions.models import AvatarPreset, AvatarSession, TranscriptEntry
from sessions.services import retention, tool_urls
from sessions.tool_models import PresetTool, ToolCall
from tests.support.fakes.llm_server import serving
from tests.support.fakes.tool_server import FakeTool
from tests.support.wsutil import Conversation, create_session, open_page, open_sandbox

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

FILLER = "One moment, I am looking that up."
PARIS = {"city": "Paris"}


def llm_answer(messages: list[dict]) -> str:
    """The fake LLM's last round: it reads the tool's result as a real one would."""
    last = messages[-1]
    if last["role"] != "tool":
        return "Hello again."
    if "did not answer" in last["content"]:
        return "Sorry, the weather service is not answering right now."
    return f"It is {json.loads(last['content'])['temp']} degrees in Paris."


@pytest.fixture
def llm(settings):
    with serving(settings, llm_answer, retries=0) as server:
        server.call_tools([("get_weather", PARIS)])
        yield server


@pytest.fixture
def tool(settings):
    settings.TOOL_HTTP_HOSTS = ["127.0.0.1"]
    with FakeTool(reply={"temp": 21}) as server:
        yield server


@pytest.fixture
def guide(world, tool):
    preset = AvatarPreset.objects.create(
        slug="guide", name="Guide", avatar_id="sandbox_ada", use_llm=True, tool_filler=FILLER
    )
    PresetTool.objects.create(
        preset=preset,
        name="get_weather",
        description="The weather in a city now.",
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        endpoint=tool.url,
        secret=tool.secret,
        timeout_seconds=2.0,
    )
    return preset


def final_avatar(m) -> bool:
    return m["type"] == "transcript" and m["role"] == "avatar" and m["final"]


async def ask(world, *questions: str) -> tuple[dict, Conversation]:
    session = await create_session(world.alice_token, preset="guide")
    page = await open_page(session, world.alice_token)
    assert json.loads(await page.receive_from())["type"] == "session"
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        for n, question in enumerate(questions, 1):
            await page.send_json_to({"type": "chat", "text": question})
            await talk.wait_for(lambda m, n=n: sum(map(final_avatar, talk.received)) >= n)
    await page.disconnect()
    await avatar.disconnect()
    return session, talk


def answers(talk: Conversation) -> list[str]:
    """Each answer as the page saw it (its transcript pieces joined)."""
    texts: dict[str, str] = {}
    for m in talk.received:
        if m["type"] == "transcript" and m["role"] == "avatar":
            texts[m["mid"]] = texts.get(m["mid"], "") + m["text"]
    return list(texts.values())


async def test_a_tool_call_round_trip_is_signed_answered_and_audited(world, guide, llm, tool):
    session, talk = await ask(world, "What is the weather in Paris?")
    # The filler while the tool ran, then the answer built on its result.
    assert answers(talk) == [f"{FILLER} It is 21 degrees in Paris."]
    [call] = tool.calls
    assert call["verified"] is True and call["arguments"] == PARIS
    row = await ToolCall.objects.aget(session_id=session["id"])
    assert (row.tool_name, row.arguments, row.outcome, row.error) == (
        "get_weather",
        PARIS,
        "ok",
        "",
    )
    assert json.loads(row.result) == {"temp": 21} and row.duration_ms < 2000
    # The LLM saw its own call and the result, in OpenAI's shape.
    second = llm.requests[-1]["messages"]
    assert second[-1] == {"role": "tool", "tool_call_id": "call_fake_0", "content": row.result}
    assert not talk.of_type("error")


async def test_a_wrong_secret_is_refused_by_the_tool_server(world, guide, llm, tool):
    await PresetTool.objects.filter(name="get_weather").aupdate(secret="not-the-secret")
    session, talk = await ask(world, "What is the weather in Paris?")
    assert tool.calls[0]["verified"] is False
    row = await ToolCall.objects.aget(session_id=session["id"])
    assert row.outcome == "failed" and "HTTP 401" in row.error
    assert answers(talk) == [f"{FILLER} Sorry, the weather service is not answering right now."]


async def test_a_tool_that_times_out_is_told_and_the_session_goes_on(world, guide, llm, tool):
    tool.delay = 3.0
    await PresetTool.objects.filter(name="get_weather").aupdate(timeout_seconds=0.3)
    session, talk = await ask(world, "What is the weather in Paris?", "Thanks!")
    assert answers(talk) == [
        f"{FILLER} Sorry, the weather service is not answering right now.",
        "Hello again.",
    ]
    row = await ToolCall.objects.aget(session_id=session["id"])
    assert row.outcome == "timeout" and "0.3 seconds" in row.error
    assert 250 <= row.duration_ms < 2000
    assert not talk.of_type("error")


async def test_a_failing_tool_is_told_and_the_session_goes_on(world, guide, llm, tool):
    tool.status = 500
    session, talk = await ask(world, "What is the weather in Paris?", "Thanks!")
    assert answers(talk)[-1] == "Hello again."
    assert "not answering" in answers(talk)[0]
    row = await ToolCall.objects.aget(session_id=session["id"])
    assert row.outcome == "failed" and "HTTP 500" in row.error


async def test_when_the_llm_says_nothing_after_a_failure_the_avatar_still_does(
    world, guide, llm, tool
):
    tool.status = 500
    llm.answer = ""
    _, talk = await ask(world, "What is the weather in Paris?")
    assert answers(talk) == [f"{FILLER} Sorry, I could not get that information just now."]


async def test_arguments_that_do_not_fit_the_schema_are_not_sent(world, guide, llm, tool):
    llm.call_tools([("get_weather", {"town": "Paris"})])
    session, talk = await ask(world, "What is the weather in Paris?")
    assert tool.calls == []
    row = await ToolCall.objects.aget(session_id=session["id"])
    assert row.outcome == "refused" and "city" in row.error


async def test_the_call_goes_to_the_address_checked(world, guide, llm, tool, settings, monkeypatch):
    # A listed name: resolved once, and the call connects to that address with its Host.
    settings.TOOL_HTTP_HOSTS = ["tools.test"]
    monkeypatch.setattr(tool_urls, "_addresses", lambda host, port: ["127.0.0.1"])
    url = f"http://tools.test:{tool.port}/tool"
    await PresetTool.objects.filter(name="get_weather").aupdate(endpoint=url)
    await ask(world, "What is the weather in Paris?")
    assert tool.calls[0]["host"] == f"tools.test:{tool.port}" and tool.calls[0]["verified"]


async def test_a_name_that_rebinds_to_loopback_is_never_called(
    world, guide, llm, tool, settings, monkeypatch
):
    settings.TOOL_HTTP_HOSTS = []
    monkeypatch.setattr(tool_urls, "_addresses", lambda host, port: ["127.0.0.1"])
    url = f"https://rebind.example.com:{tool.port}/tool"
    await PresetTool.objects.filter(name="get_weather").aupdate(endpoint=url)
    session, talk = await ask(world, "What is the weather in Paris?")
    assert tool.calls == []
    row = await ToolCall.objects.aget(session_id=session["id"])
    assert row.outcome == "refused" and "private or local" in row.error
    assert "not answering" in answers(talk)[0]
    # The LLM is told it may not be called, not about the site's network.
    told = llm.requests[-1]["messages"][-1]["content"]
    assert "may not be called" in told and "TOOL_HTTP_HOSTS" not in told


async def test_deleting_the_transcript_deletes_the_calls_arguments_and_results(
    world, guide, llm, tool
):
    session, _ = await ask(world, "What is the weather in Paris?")
    await AvatarSession.objects.filter(pk=session["id"]).aupdate(status="closed")
    assert await sync_to_async(retention.delete_transcripts)([session["id"]], "test") == 1
    row = await ToolCall.objects.aget(session_id=session["id"])
    assert (row.tool_name, row.outcome, row.arguments, row.result) == ("get_weather", "ok", {}, "")
    assert not await TranscriptEntry.objects.filter(session_id=session["id"]).aexists()
