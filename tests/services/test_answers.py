"""Sessions that answer with the operator's LLM (a fake OpenAI-compatible server on
loopback, real HTTP and SSE): the avatar starts speaking on the first sentence."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from sessions.models import AvatarPreset, TranscriptEntry
from sessions.services import transcript
from tests.support.fakes.llm_server import serving
from tests.support.wsutil import Conversation, create_session, open_page, open_sandbox

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ANSWER = (
    "The museum opens at nine. Tickets cost twelve euros, and children go free. "
    "The café on the top floor has the best view of the river. "
    "Guided tours start every hour from the main hall. Enjoy your visit!"
)


@pytest.fixture
def llm(settings):
    with serving(settings, ANSWER, retries=2) as server:
        yield server


@pytest.fixture
def guide(world):
    return AvatarPreset.objects.create(
        slug="guide",
        name="Guide",
        avatar_id="sandbox_ada",
        use_llm=True,
        system_prompt="You are the museum's guide.",
    )


async def start(world, **body):
    session = await create_session(world.alice_token, preset="guide", **body)
    page = await open_page(session, world.alice_token)
    assert json.loads(await page.receive_from())["type"] == "session"
    avatar = await open_sandbox(session)
    return session, page, avatar


def answer_line(talk: Conversation) -> tuple[str, list[dict]]:
    frames = [m for m in talk.of_type("transcript") if m["role"] == "avatar"]
    return "".join(m["text"] for m in frames), frames


def chat_texts(frames: list[str]) -> list[str]:
    """The text each chat message carries, in order (messages joined from their chunks)."""
    texts: dict[str, str] = {}
    for frame in frames:
        message = json.loads(frame)
        if message["type"] == "chat":
            texts[message["mid"]] = texts.get(message["mid"], "") + message["pld"]["text"]
    return list(texts.values())


def final_avatar(m) -> bool:
    return m["type"] == "transcript" and m["role"] == "avatar" and m["final"]


async def test_a_streamed_answer_reaches_the_transcript_and_the_frames_in_order(world, guide, llm):
    session, page, avatar = await start(world)
    assert session["mode"] == 1
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "When does the museum open?"})
        await talk.wait_for(final_avatar, timeout=10)
    await page.disconnect()
    await avatar.disconnect()

    text, frames = answer_line(talk)
    assert text == ANSWER
    assert frames[-1]["final"] is True and all(not f["final"] for f in frames[:-1])
    # Each sentence went out as its own chat message, in order, and together they are
    # the whole answer.
    spoken = chat_texts(talk.sent_frames)
    assert len(spoken) >= 4 and "".join(spoken) == ANSWER
    assert talk.violations() == []
    await transcript.settled()  # typed lines wait up to WRITE_BEHIND_SECONDS: now
    stored = [(e.role, e.text, e.final, e.cut) async for e in TranscriptEntry.objects.all()]
    assert stored == [
        ("user", "When does the museum open?", True, False),
        ("avatar", ANSWER, True, False),
    ]
    request = llm.requests[-1]
    assert request["stream"] is True
    assert request["messages"][0] == {"role": "system", "content": "You are the museum's guide."}
    assert request["messages"][-1] == {"role": "user", "content": "When does the museum open?"}


async def test_the_first_frame_leaves_before_a_slow_answer_is_finished(world, guide, llm):
    llm.first_token_delay = 0.3
    llm.tokens_per_second = 25  # ~45 tokens: the whole answer takes ~2 s
    session, page, avatar = await start(world)
    sent_at = time.monotonic()
    await page.send_json_to({"type": "chat", "text": "Tell me about the museum"})
    first_frame = None
    while True:
        message = json.loads(await page.receive_from(timeout=10))
        if message["type"] == "rtc_send" and first_frame is None:
            first_frame = time.monotonic() - sent_at
        if final_avatar(message):
            break
    finished = time.monotonic() - sent_at
    await page.disconnect()
    await avatar.disconnect()
    assert first_frame is not None
    assert first_frame >= 0.3  # not before the LLM said anything
    assert first_frame < finished / 2  # ...but long before it was done


async def test_an_error_before_the_first_token_is_retried(world, guide, llm):
    llm.fail_before_first(503, times=1)
    session, page, avatar = await start(world)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Hello?"})
        await talk.wait_for(final_avatar, timeout=10)
    await page.disconnect()
    await avatar.disconnect()
    assert answer_line(talk)[0] == ANSWER
    assert len(llm.requests) == 2
    assert not talk.of_type("error")


async def test_a_failure_mid_answer_is_reported_and_what_was_said_stays(world, guide, llm):
    llm.fail_mid_stream(after_tokens=8)
    session, page, avatar = await start(world)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Hello?"})
        error = await talk.wait_for(lambda m: m["type"] == "error", timeout=10)
        await talk.wait_for(final_avatar, timeout=5)
    await page.disconnect()
    await avatar.disconnect()
    assert error["code"] == "llm_stream_cut"
    assert "cut short" in error["message"]
    said, frames = answer_line(talk)
    assert said and ANSWER.startswith(said) and said != ANSWER
    assert frames[-1].get("cut") is True
    line = await TranscriptEntry.objects.aget(role="avatar")
    assert (line.text, line.final, line.cut) == (said, True, True)


async def test_a_malformed_stream_is_reported(world, guide, llm):
    llm.malformed_after(3)
    session, page, avatar = await start(world)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Hello?"})
        error = await talk.wait_for(lambda m: m["type"] == "error", timeout=10)
    await page.disconnect()
    await avatar.disconnect()
    assert error["code"] == "llm_bad_stream"


async def test_an_interrupt_mid_answer_stops_the_frames_and_the_stream(world, guide, llm):
    llm.tokens_per_second = 15
    session, page, avatar = await start(world)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Tell me everything"})
        await talk.wait_for(lambda m: m["type"] == "transcript" and m["role"] == "avatar")
        await page.send_json_to({"type": "interrupt"})
        frames_at_interrupt = len(talk.sent_frames)
        await talk.wait_for(lambda m: m["type"] == "command_result", timeout=5)
        await asyncio.sleep(0.8)  # the old answer would have gone on meanwhile
    await page.disconnect()
    await avatar.disconnect()
    after = [json.loads(f) for f in talk.sent_frames[frames_at_interrupt:]]
    # At most one frame of the old answer was already on its way; then the interrupt.
    kinds = [f["type"] for f in after]
    assert kinds.count("chat") <= 1
    assert {"type": "command", "cmd": "interrupt"} == {
        "type": after[-1]["type"],
        "cmd": after[-1]["pld"]["cmd"],
    }
    assert llm.wait_idle(2.0)  # the LLM stream was closed
    said, frames = answer_line(talk)
    assert said != ANSWER and frames[-1].get("cut") is True
    line = await TranscriptEntry.objects.aget(role="avatar")
    assert line.cut and line.final


async def test_a_new_message_cuts_the_answer_in_progress(world, guide, llm):
    llm.tokens_per_second = 15
    session, page, avatar = await start(world)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "First question"})
        await talk.wait_for(lambda m: m["type"] == "transcript" and m["role"] == "avatar")
        llm.tokens_per_second = None
        await page.send_json_to({"type": "chat", "text": "Second question"})
        await talk.wait_for(
            lambda m: final_avatar(m) and not m.get("cut") and m["mid"] != talk.received[0]["mid"],
            timeout=10,
        )
    await page.disconnect()
    await avatar.disconnect()
    await transcript.settled()  # typed lines wait up to WRITE_BEHIND_SECONDS: now
    lines = [(e.role, e.cut) async for e in TranscriptEntry.objects.all()]
    assert lines == [("user", False), ("avatar", True), ("user", False), ("avatar", False)]
    # The second request carried the history, the cut answer included.
    history = llm.requests[-1]["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]


async def test_token_limits_refuse_with_a_clear_message(world, guide, llm, settings):
    settings.LLM_TOKENS_PER_SESSION = 10
    session, page, avatar = await start(world)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Hello?"})
        await talk.wait_for(final_avatar, timeout=10)
        await page.send_json_to({"type": "chat", "text": "And again?"})
        error = await talk.wait_for(lambda m: m["type"] == "error", timeout=5)
    await page.disconnect()
    await avatar.disconnect()
    assert error["code"] == "llm_session_tokens" and "new session" in error["message"]
    assert len(llm.requests) == 1


async def test_the_daily_token_limit_covers_all_of_a_users_sessions(world, guide, llm, settings):
    settings.LLM_TOKENS_PER_DAY = 10
    first, page, avatar = await start(world)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Hello?"})
        await talk.wait_for(final_avatar, timeout=10)
    await page.disconnect()
    await avatar.disconnect()
    second, page, avatar = await start(world)
    await page.send_json_to({"type": "chat", "text": "Hello again?"})
    error = json.loads(await page.receive_from(timeout=5))
    await page.disconnect()
    await avatar.disconnect()
    assert error["type"] == "error" and error["code"] == "llm_daily_tokens"


async def test_an_identical_first_question_is_answered_from_the_cache(world, guide, llm, settings):
    settings.LLM_CACHE_TTL = 60
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 5
    for _ in range(2):
        session, page, avatar = await start(world)
        async with Conversation(page, avatar) as talk:
            await page.send_json_to({"type": "chat", "text": "When do you open?"})
            await talk.wait_for(final_avatar, timeout=10)
        await page.disconnect()
        await avatar.disconnect()
        assert answer_line(talk)[0] == ANSWER
    assert len(llm.requests) == 1


async def test_dialogue_mode_on_an_llm_preset_leaves_answers_to_the_avatar(world, guide, llm):
    session = await create_session(world.alice_token, preset="guide", mode=2)
    assert session["mode"] == 2


async def test_without_an_llm_the_preset_falls_back_to_its_mode(world, guide):
    session = await create_session(world.alice_token, preset="guide")
    assert session["mode"] == guide.mode


async def test_the_sandbox_dialogue_mode_uses_the_llm_when_one_is_configured(world, llm):
    session = await create_session(world.alice_token, preset="ada")  # mode 2, no use_llm
    page = await open_page(session, world.alice_token)
    await page.receive_from()
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "When does the museum open?"})
        await talk.wait_for(final_avatar, timeout=10)
    await page.disconnect()
    await avatar.disconnect()
    spoken = " ".join(talk.avatar_text().values())
    assert spoken.split() == ANSWER.split()
    assert llm.requests


async def test_the_llm_key_reaches_no_frame_and_no_log(world, guide, llm, caplog):
    llm.fail_mid_stream(after_tokens=3)
    session, page, avatar = await start(world)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Hello?"})
        await talk.wait_for(lambda m: m["type"] == "error", timeout=10)
    await page.disconnect()
    await avatar.disconnect()
    everything = json.dumps(talk.received) + json.dumps(talk.sent_frames) + caplog.text
    assert llm.api_key not in everything


async def test_the_end_of_the_time_cancels_the_answer_being_streamed(world, guide, llm):
    from datetime import timedelta

    from django.utils import timezone

    from sessions.models import AvatarSession

    llm.tokens_per_second = 15  # the whole answer takes seconds
    session = await create_session(world.alice_token, preset="guide")
    ends_at = timezone.now() + timedelta(seconds=1.5)
    await AvatarSession.objects.filter(pk=session["id"]).aupdate(expires_at=ends_at)
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Tell me everything"})
        await talk.wait_for(lambda m: m["type"] == "transcript" and m["role"] == "avatar")
        ended = await talk.wait_for(
            lambda m: m["type"] == "session" and m["status"] == "closed", timeout=5
        )
        stopped_at = timezone.now()
    await page.disconnect()
    await avatar.disconnect()

    assert ended["close_reason"] == "expired"
    assert (stopped_at - ends_at).total_seconds() < 3.0  # 2 s, plus slack for a busy machine
    assert llm.wait_idle(2.0)  # the LLM stream was closed
    said, frames = answer_line(talk)
    assert said != ANSWER and frames[-1].get("cut") is True
    line = await TranscriptEntry.objects.aget(role="avatar")
    assert line.cut and line.final


# --- one home for each rule (issue 13): regressions of copies that had drifted ---------


async def test_after_a_switch_to_dialogue_mode_the_avatar_answers_not_our_llm(world, guide, llm):
    """The session's settings follow the avatar's acks: once mode 2 is acknowledged, a
    question goes to the avatar's own LLM, not ours; once mode 1 is back, ours answers
    again. (The sandbox avatar in dialogue mode asks the same fake LLM, with its own
    system prompt: ours carries the preset's.)"""

    def ours() -> int:
        return sum("museum's guide" in json.dumps(body) for body in llm.requests)

    session, page, avatar = await start(world)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "set_params", "params": {"mode": 2}})
        await talk.wait_for(lambda m: m["type"] == "command_result" and m["ok"])
        before = len(talk.sent_frames)
        await page.send_json_to({"type": "chat", "text": "What is on today?"})
        await talk.wait_for(final_avatar, timeout=10)
        await talk.wait_for(lambda m: m["type"] == "avatar" and m["speaking"] is False)
        in_dialogue = chat_texts(talk.sent_frames[before:])
        asked_ours = ours()

        talk.received.clear()
        await page.send_json_to({"type": "set_params", "params": {"mode": 1}})
        await talk.wait_for(lambda m: m["type"] == "command_result" and m["ok"])
        before = len(talk.sent_frames)
        await page.send_json_to({"type": "chat", "text": "And tomorrow?"})
        await talk.wait_for(final_avatar, timeout=10)
        retelling = chat_texts(talk.sent_frames[before:])
    await page.disconnect()
    await avatar.disconnect()

    assert in_dialogue[0] == "What is on today?"
    assert asked_ours == 0
    assert ours() == 1  # our LLM answered the question asked back in retelling mode
    assert retelling[0] == "The museum opens at nine. "


async def test_behind_a_proxy_a_visitors_socket_counts_against_their_own_address(
    world, guide, llm, settings
):
    """HTTP and the socket resolve an anonymous visitor the same way: behind a trusted
    proxy both believe X-Forwarded-For, so two visitors' LLM budgets stay apart."""
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from avatarsite.asgi import application
    from tests.support.wsutil import ORIGIN

    settings.ANONYMOUS_SESSIONS = True
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    settings.LLM_TOKENS_PER_DAY = 10  # one answer spends a visitor's day

    async def visitor(address: str) -> tuple[WebsocketCommunicator, WebsocketCommunicator]:
        client = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=address)
        response = await sync_to_async(client.post)(
            "/api/v1/sessions", {"preset": "guide"}, content_type="application/json"
        )
        assert response.status_code == 201, response.content
        session = response.json()
        cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
        headers = [ORIGIN, (b"cookie", cookie), (b"x-forwarded-for", address.encode())]
        page = WebsocketCommunicator(application, session["ws_path"], headers=headers)
        page.scope["client"] = ("10.0.0.1", 50000)  # the proxy is who connects
        assert (await page.connect())[0]
        assert json.loads(await page.receive_from())["type"] == "session"
        return page, await open_sandbox(session)

    page, avatar = await visitor("203.0.113.1")
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Hello?"})
        await talk.wait_for(final_avatar, timeout=10)
    await page.disconnect()
    await avatar.disconnect()

    page, avatar = await visitor("203.0.113.2")
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Hello from next door?"})
        reply = await talk.wait_for(lambda m: final_avatar(m) or m["type"] == "error", timeout=10)
    await page.disconnect()
    await avatar.disconnect()

    assert reply["type"] == "transcript", reply


async def test_an_llm_session_served_once_the_llm_is_gone_records_the_avatars_lines(world, guide):
    """LLM_BASE_URL emptied after the session started: nobody answers with our LLM, so
    the avatar's own lines are the answer and are recorded (one rule: SessionSettings)."""
    from sessions.models import AvatarSession

    session = await create_session(world.alice_token, preset="guide")
    await AvatarSession.objects.filter(pk=session["id"]).aupdate(use_llm=True, mode=1)
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "hello there"})
        await talk.wait_for(final_avatar, timeout=10)
    await page.disconnect()
    await avatar.disconnect()

    lines = [e async for e in TranscriptEntry.objects.filter(role="avatar")]
    assert lines and all(line.text for line in lines)


async def test_a_visitors_socket_charges_the_visitor_the_session_was_created_for(
    world, guide, llm, settings
):
    """Issue 15, item 5: behind a trusted proxy, sockets keyed anonymous visitors by the
    proxy's address, so one visitor spent every visitor's daily LLM budget. Here the
    proxy passes no X-Forwarded-For on the socket (both sockets resolve to the proxy's
    address): the budget is still the one of the visitor who created the session."""
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.test import Client

    from avatarsite.asgi import application
    from sessions.models import AvatarSession
    from tests.support.wsutil import ORIGIN

    settings.ANONYMOUS_SESSIONS = True
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    settings.LLM_TOKENS_PER_DAY = 10  # one answer spends a visitor's day

    async def visitor(address: str):
        client = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=address)
        response = await sync_to_async(client.post)(
            "/api/v1/sessions", {"preset": "guide"}, content_type="application/json"
        )
        assert response.status_code == 201, response.content
        session = response.json()
        cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
        page = WebsocketCommunicator(
            application, session["ws_path"], headers=[ORIGIN, (b"cookie", cookie)]
        )
        page.scope["client"] = ("10.0.0.1", 50000)  # the proxy is who connects
        assert (await page.connect())[0]
        assert json.loads(await page.receive_from())["type"] == "session"
        return session, page, await open_sandbox(session)

    async def ask(page, avatar, text: str) -> dict:
        async with Conversation(page, avatar) as talk:
            await page.send_json_to({"type": "chat", "text": text})
            return await talk.wait_for(
                lambda m: final_avatar(m) or m["type"] == "error", timeout=10
            )

    first, page, avatar = await visitor("203.0.113.1")
    assert (await ask(page, avatar, "Hello?"))["type"] == "transcript"
    spent = await ask(page, avatar, "And again?")  # the first visitor's day is spent
    await page.disconnect()
    await avatar.disconnect()

    second, page, avatar = await visitor("203.0.113.2")
    reply = await ask(page, avatar, "Hello from next door?")
    await page.disconnect()
    await avatar.disconnect()

    assert spent["type"] == "error" and spent["code"] == "llm_daily_tokens"
    assert reply["type"] == "transcript", reply
    principals = [(await AvatarSession.objects.aget(pk=s["id"])).principal for s in (first, second)]
    assert principals == ["ip:203.0.113.1", "ip:203.0.113.2"]


async def test_several_tokens_of_one_user_share_the_users_daily_llm_budget(
    world, guide, llm, settings
):
    """Issue 15, items 5 and 10: the daily LLM budget is the session owner's, whichever
    of their API tokens talks; a second token is not a second budget."""
    from asgiref.sync import sync_to_async

    from sessions.models import ApiToken

    settings.LLM_TOKENS_PER_DAY = 10  # one answer spends the user's day
    tokens = [(await sync_to_async(ApiToken.issue)(world.alice, f"cli {i}"))[1] for i in range(2)]

    async def ask(token: str, text: str) -> dict:
        session = await create_session(token, preset="guide")
        page = await open_page(session, token)
        avatar = await open_sandbox(session)
        async with Conversation(page, avatar) as talk:
            await page.send_json_to({"type": "chat", "text": text})
            reply = await talk.wait_for(
                lambda m: final_avatar(m) or m["type"] == "error", timeout=10
            )
        await page.disconnect()
        await avatar.disconnect()
        return reply

    assert (await ask(tokens[0], "Hello?"))["type"] == "transcript"
    refused = await ask(tokens[1], "Hello with my other token?")
    assert refused["type"] == "error" and refused["code"] == "llm_daily_tokens", refused
