"""A session whose preset has tools: the fake LLM asks for a call, the server calls the
fake tool server (which checks the signature), the result goes back to the LLM and the
answer is spoken. A tool that times out or fails: the avatar says so, the session goes
on. Every call is one audit row; deleting the transcript deletes its arguments/results."""

from __future__ import annotations

import asyncio
import gzip
import json

import pytest
from asgiref.sync import sync_to_async

from sessions import keys, shared_cache
from sessions.models import AvatarPreset, AvatarSession, TranscriptEntry
from sessions.services import retention, tool_calls, tool_urls
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


@pytest.mark.parametrize("character", ["\\ud800", "\\u0000"], ids=["lone-surrogate", "nul"])
async def test_arguments_no_tool_could_take_are_refused_and_audited(
    world, guide, llm, tool, character
):
    # JSON escapes let the LLM write a lone surrogate (not UTF-8) or a NUL (PostgreSQL
    # stores neither): refused before sending, whatever the database.
    llm.call_tools([("get_weather", '{"city": "Pa' + character + 'ris"}')])
    session, talk = await ask(world, "What is the weather in Paris?", "Thanks!")
    assert tool.calls == []
    row = await ToolCall.objects.aget(session_id=session["id"])
    assert row.outcome == "refused" and "NUL or an unpaired surrogate" in row.error
    assert answers(talk) == [
        f"{FILLER} Sorry, the weather service is not answering right now.",
        "Hello again.",
    ]
    assert not talk.of_type("error")


async def test_an_unexpected_failure_ends_the_answer_cut_charged_and_told(
    world, guide, llm, tool, monkeypatch
):
    async def broken(tool, arguments, record):
        raise RuntimeError("a bug")

    monkeypatch.setattr(tool_calls, "_send", broken)
    session = await create_session(world.alice_token, preset="guide")
    page = await open_page(session, world.alice_token)
    await page.receive_from()
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "What is the weather in Paris?"})
        error = await talk.wait_for(lambda m: m["type"] == "error")
        line = await talk.wait_for(final_avatar)
    await page.disconnect()
    await avatar.disconnect()
    assert error["code"] == "answer_failed" and "cut short" in error["message"]
    assert line["cut"] is True
    assert (await shared_cache.get(keys.llm_tokens_of_session(session["id"])) or 0) > 0
    row = await ToolCall.objects.aget(session_id=session["id"])
    assert row.outcome == "failed" and "unexpectedly" in row.error


async def test_a_call_cut_off_by_an_interrupt_is_audited_as_cancelled(world, guide, llm, tool):
    tool.delay = 5.0
    session = await create_session(world.alice_token, preset="guide")
    page = await open_page(session, world.alice_token)
    await page.receive_from()
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "What is the weather in Paris?"})
        await talk.wait_for(lambda m: m["type"] == "transcript" and m["role"] == "avatar")
        for _ in range(100):  # the signed POST is out: the tool holds its answer back
            if tool.calls:
                break
            await asyncio.sleep(0.02)
        row = await ToolCall.objects.aget(session_id=session["id"])
        assert row.outcome == "pending"  # written before the POST
        await page.send_json_to({"type": "interrupt"})
        await talk.wait_for(final_avatar)
    await page.disconnect()
    await avatar.disconnect()
    await row.arefresh_from_db()
    assert row.outcome == "cancelled" and "interrupted" in row.error
    assert row.arguments == PARIS and row.duration_ms < 4000


async def test_calls_past_the_limits_are_refused_and_audited(world, guide, llm, tool, settings):
    settings.TOOL_MAX_CALLS_PER_ROUND = 2
    settings.TOOL_MAX_CALLS_PER_ANSWER = 3
    llm.call_tools([("get_weather", PARIS)] * 3, times=2)  # 3 calls in each of 2 rounds
    session, talk = await ask(world, "What is the weather in Paris?")
    assert len(tool.calls) == 3  # 2 in the first round, 1 in the second
    rows = [r async for r in ToolCall.objects.filter(session_id=session["id"]).order_by("pk")]
    assert [r.outcome for r in rows] == ["ok", "ok", "refused", "ok", "refused", "refused"]
    assert "2 tool calls are allowed at once" in rows[2].error
    assert "3 tool calls are allowed in one answer" in rows[4].error
    told = [m for m in llm.requests[1]["messages"] if m["role"] == "tool"]
    assert "allowed at once" in told[-1]["content"]


async def test_each_call_has_its_own_id_and_is_signed_for_this_tool_only(world, guide, llm, tool):
    llm.call_tools([("get_weather", PARIS)] * 2)
    await ask(world, "What is the weather in Paris?")
    first, second = tool.calls
    assert first["verified"] and second["verified"]
    assert first["call_id"] and first["call_id"] != second["call_id"]
    # Another tool sharing the secret does not accept a call signed for this one.
    tool.name = "get_time"
    llm.call_tools([("get_weather", PARIS)])
    await ask(world, "What is the weather in Paris?")
    assert tool.calls[-1]["verified"] is False


async def test_a_compressed_answer_is_not_inflated(world, guide, llm, tool):
    tool.body = gzip.compress(b"\0" * (4 << 20))  # 4 MB of zeros in a few KB
    tool.headers = {"Content-Encoding": "gzip"}
    session, talk = await ask(world, "What is the weather in Paris?")
    assert tool.calls[0]["accept_encoding"] == "identity"
    row = await ToolCall.objects.aget(session_id=session["id"])
    assert row.outcome == "failed" and "compressed (gzip)" in row.error
    assert "not answering" in answers(talk)[0]


async def test_a_result_with_a_nul_is_recorded_all_the_same(world, guide, llm, tool):
    # PostgreSQL refuses a NUL in text: the audit stores a replacement character instead.
    tool.body = b'{"temp": "2\x001"}'
    session, _ = await ask(world, "What is the weather in Paris?")
    row = await ToolCall.objects.aget(session_id=session["id"])
    assert row.outcome == "ok" and row.result == '{"temp": "2\ufffd1"}'
