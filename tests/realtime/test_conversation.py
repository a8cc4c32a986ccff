"""A whole conversation over the session socket and the sandbox avatar's socket."""

from __future__ import annotations

import json

import pytest

from sessions.models import AvatarSession, SessionEvent, TranscriptEntry
from sessions.services import transcript
from tests.support.wsutil import Conversation, create_session, open_page, open_sandbox

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def is_final_avatar(m) -> bool:
    return m["type"] == "transcript" and m["role"] == "avatar" and m["final"]


def speaking(value: bool):
    return lambda m: m["type"] == "avatar" and m["speaking"] is value


async def test_a_dialogue_is_relayed_and_persisted_in_order(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    first = json.loads(await page.receive_from())
    assert first["type"] == "session" and first["status"] == "active"
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        for question in ("Hello there!", "What can you do for me?"):
            await page.send_json_to({"type": "chat", "text": question})
            await talk.wait_for(lambda m, q=question: m["type"] == "transcript" and m["text"] == q)
            await talk.wait_for(is_final_avatar)
            await talk.wait_for(speaking(False))
            talk.received.clear()
    await page.disconnect()
    await avatar.disconnect()

    assert talk.violations() == []
    await transcript.settled()  # typed lines wait up to WRITE_BEHIND_SECONDS: now
    lines = [
        (e.role, e.text, e.final)
        async for e in TranscriptEntry.objects.filter(session_id=session["id"])
    ]
    assert [role for role, _, _ in lines] == ["user", "avatar", "user", "avatar"]
    assert lines[0][1] == "Hello there!" and lines[2][1] == "What can you do for me?"
    assert all(final for _, _, final in lines)
    assert all(text.strip() for _, text, _ in lines)
    row = await AvatarSession.objects.aget(pk=session["id"])
    assert row.chat_count == 2 and row.frames_sent >= 2


async def test_retelling_mode_speaks_a_long_text_exactly(world, settings):
    settings.SANDBOX_WORDS_PER_SECOND = 2000.0
    text = ('He said "hi" \\ then left. ' * 60 + "Emoji 🎉🚀 and ünïcödé, 漢字. ") * 2
    session = await create_session(world.alice_token, preset="cleo")
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": text})
        await talk.wait_for(is_final_avatar, timeout=20)
    await page.disconnect()
    await avatar.disconnect()

    assert talk.violations() == []
    assert len(talk.sent_frames) > 1
    assert all(len(f.encode()) <= 950 for f in talk.sent_frames)
    spoken = list(talk.avatar_text().values())
    assert len(spoken) == 1
    # The avatar speaks word pieces; the words come back exactly, spacing aside.
    assert spoken[0].split() == text.split()


async def test_interrupt_cuts_the_answer_short(world, settings):
    settings.SANDBOX_WORDS_PER_SECOND = 20.0
    session = await create_session(world.alice_token, preset="cleo")
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    long_text = " ".join(f"word{i}" for i in range(400))
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": long_text})
        await talk.wait_for(speaking(True))
        await talk.wait_for(lambda m: m["type"] == "transcript" and m["role"] == "avatar")
        await page.send_json_to({"type": "interrupt"})
        result = await talk.wait_for(lambda m: m["type"] == "command_result")
        await talk.wait_for(speaking(False))
    await page.disconnect()
    await avatar.disconnect()

    assert result == {
        "type": "command_result",
        "cmd": "interrupt",
        "ok": True,
        "code": 1000,
        "message": "ok",
    }
    spoken = " ".join(talk.avatar_text().values()).split()
    assert 0 < len(spoken) < 400
    assert await SessionEvent.objects.filter(
        session_id=session["id"], message="interrupt"
    ).aexists()


async def test_set_params_is_acknowledged_and_recorded(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to(
            {"type": "set_params", "params": {"voice": "lyon", "language": "fr", "mode": 1}}
        )
        result = await talk.wait_for(lambda m: m["type"] == "command_result")
    await page.disconnect()
    await avatar.disconnect()

    assert result["cmd"] == "set-params" and result["ok"] is True
    sent = json.loads(talk.sent_frames[-1])
    assert sent["pld"] == {
        "cmd": "set-params",
        "data": {
            "vid": "sandbox_voice_lyon",
            "lang": "fr",
            "mode": 1,
            "vparams": {"vid": "sandbox_voice_lyon"},
        },
    }
    row = await AvatarSession.objects.aget(pk=session["id"])
    assert (row.voice_id, row.language, row.mode) == ("sandbox_voice_lyon", "fr", 1)


async def test_a_reconnecting_page_gets_the_transcript_so_far(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Remember me"})
        await talk.wait_for(is_final_avatar)
        await talk.wait_for(speaking(False))
    await page.disconnect()

    again = await open_page(session, world.alice_token)
    assert json.loads(await again.receive_from())["type"] == "session"
    replay = [json.loads(await again.receive_from()) for _ in range(2)]
    await again.disconnect()
    await avatar.disconnect()
    assert [(m["role"], m["final"]) for m in replay] == [("user", True), ("avatar", True)]
    assert replay[0]["text"] == "Remember me"
    assert replay[1]["text"] == next(iter(talk.avatar_text().values()))


async def test_a_second_socket_of_the_session_sees_the_same_transcript(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    other_tab = await open_page(session, world.alice_token)
    assert json.loads(await other_tab.receive_from())["type"] == "session"
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Both tabs see this"})
        await talk.wait_for(is_final_avatar)
        await talk.wait_for(speaking(False))
    seen = []
    while not await other_tab.receive_nothing(timeout=0.2):
        seen.append(json.loads(await other_tab.receive_from()))
    await page.disconnect()
    await other_tab.disconnect()
    await avatar.disconnect()
    assert not any(m["type"] == "rtc_send" for m in seen)  # frames only go to the asker
    user_lines = [m["text"] for m in seen if m["type"] == "transcript" and m["role"] == "user"]
    assert user_lines == ["Both tabs see this"]
    avatar_text = "".join(
        m["text"] for m in seen if m["type"] == "transcript" and m["role"] == "avatar"
    )
    assert avatar_text == next(iter(talk.avatar_text().values()))


async def test_closing_the_session_ends_both_sockets_with_the_reason(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    await page.receive_from()
    avatar = await open_sandbox(session)
    from sessions.services import lifecycle

    await lifecycle.close_session(session["id"], "user")
    messages = []
    while True:
        output = await page.receive_output(timeout=2)
        if output["type"] == "websocket.close":
            break
        messages.append(json.loads(output["text"]))
    assert output["code"] == 4410
    assert messages[-1]["type"] == "session" and messages[-1]["status"] == "closed"
    assert messages[-1]["close_reason"] == "user"
    assert (await avatar.receive_output(timeout=2))["type"] == "websocket.close"
