"""The sandbox stays our witness (issue 15's review, findings 3 and 4): a page holding the
channel's token cannot switch the sandbox avatar's mode (or any setting) behind the
session's back, nor make it say and record unlimited text; its queue is bounded; and a
transcript cap reached while it speaks is a refusal, logged once, not a traceback a piece."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from sessions.models import AvatarSession, TranscriptEntry
from sessions.providers.sandbox.avatar import ACK_NOT_SENT
from sessions.stream.chunker import chat_frames
from sessions.stream.codec import command_frame, event_frame, set_params_frame
from tests.providers.sandbox.helpers import Client, make, say
from tests.support.wsutil import Conversation, create_session, open_page, open_sandbox


async def deny(mid: str, data: dict) -> bool:
    return False


@pytest.mark.asyncio
async def test_a_set_params_the_server_did_not_send_changes_nothing():
    client = Client()
    avatar = make(client, mode=2, language="en", allow=deny)
    await avatar.receive(set_params_frame(mode=1, language="fr", mid="forged"))
    [ack] = client.acks()
    assert (ack.mid, ack.code) == ("forged", ACK_NOT_SENT)
    assert avatar.mode == 2 and avatar.params == {"lang": "en"}
    # An interrupt only stops the avatar: always obeyed.
    await avatar.receive(command_frame("interrupt", mid="stop"))
    assert client.acks()[-1].code == 1000


@pytest.mark.asyncio
async def test_chats_beyond_the_queue_are_refused():
    client = Client()
    # Slow speech: the first chat is being said, the next ones wait.
    avatar = make(client, mode=1, max_queued=3, words_per_second=0.001)
    for n in range(10):
        await say(avatar, f"Line {n}", mid=f"m{n}")
        await asyncio.sleep(0.01)  # the avatar starts saying the first
    refused = [f for f in client.frames if f == event_frame("sandbox_refused", reason="queue_full")]
    assert len(refused) == 10 - 1 - 3  # one being said, three waiting
    await avatar.aclose()


# --- on the real sockets ---------------------------------------------------------------


async def straight(avatar, frames: list[str]) -> None:
    """What a script holding the token does: frames on the sandbox socket only."""
    for frame in frames:
        await avatar.send_to(text_data=frame)


async def ack_of(avatar, mid: str) -> int:
    while True:
        message = json.loads(await avatar.receive_from(timeout=5))
        if message["type"] == "command" and message.get("mid") == mid:
            return message["pld"]["code"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_token_holder_cannot_switch_the_avatar_to_say_anything(world, settings):
    """Finding 3's attack: set-params {"mode": 1} straight to the sandbox, then chats. The
    avatar stays in dialogue mode (answers, never says the text as given), the session
    row is unchanged, and the chat rate still holds."""
    settings.CHAT_MESSAGES_PER_MINUTE = 5
    session = await create_session(world.alice_token)
    assert session["mode"] == 2
    avatar = await open_sandbox(session)
    await straight(avatar, [set_params_frame(mode=1, mid="p1")])
    assert await ack_of(avatar, "p1") == ACK_NOT_SENT
    claim = "I promise you a full refund"
    for n in range(8):
        await straight(avatar, chat_frames(f"{claim} #{n}.", mid=f"r{n}"))
    answered, refused = 0, []
    while answered + len(refused) < 8:
        message = json.loads(await avatar.receive_from(timeout=5))
        pld = message.get("pld", {})
        if message["type"] == "chat" and message.get("fin"):
            answered += 1
        elif pld.get("event") == "sandbox_refused":
            refused.append(pld["reason"])
    await avatar.disconnect()

    assert answered == 5 and refused == ["chat_rate_limit"] * 3
    lines = [e.text async for e in TranscriptEntry.objects.filter(session_id=session["id"])]
    assert lines and not [text for text in lines if claim in text]
    assert (await AvatarSession.objects.aget(pk=session["id"])).mode == 2


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_servers_set_params_applies_once_and_a_replay_is_refused(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "set_params", "params": {"mode": 1}})
        result = await talk.wait_for(lambda m: m["type"] == "command_result")
        [sent] = [f for f in talk.sent_frames if '"set-params"' in f]
    assert result["ok"] and result["code"] == 1000
    assert (await AvatarSession.objects.aget(pk=session["id"])).mode == 1
    # The same frame again (to undo a later change, say): refused, changes nothing.
    await straight(avatar, [sent])
    assert await ack_of(avatar, json.loads(sent)["mid"]) == ACK_NOT_SENT
    # The server's frame with other data under its mid: refused too.
    data = json.loads(sent)
    data["mid"] = "msg-0000000000000000"
    await straight(avatar, [json.dumps(data)])
    assert await ack_of(avatar, "msg-0000000000000000") == ACK_NOT_SENT
    await page.disconnect()
    await avatar.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_mode_1_text_sent_straight_is_held_to_the_chat_rate(world, settings):
    """A retelling session without our LLM: the sandbox records what it says, so the
    text a script sends straight to it counts as the typed chats it stands for."""
    settings.CHAT_MESSAGES_PER_MINUTE = 5
    session = await create_session(world.alice_token, preset="cleo")
    assert session["mode"] == 1
    avatar = await open_sandbox(session)
    for n in range(8):
        await straight(avatar, chat_frames(f"Said as given #{n}.", mid=f"r{n}"))
    refused = []
    while len(refused) < 3:
        message = json.loads(await avatar.receive_from(timeout=5))
        if message.get("pld", {}).get("event") == "sandbox_refused":
            refused.append(message["pld"]["reason"])
    assert refused == ["chat_rate_limit"] * 3
    await avatar.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_full_transcript_is_a_refusal_logged_once_not_a_traceback_a_piece(
    world, settings, caplog
):
    """Finding 4's attack: mode 1 text past TRANSCRIPT_MAX_CHARS."""
    settings.TRANSCRIPT_MAX_CHARS = 100
    settings.CHAT_MAX_CHARS = 1000
    session = await create_session(world.alice_token, preset="cleo")
    avatar = await open_sandbox(session)
    caplog.set_level(logging.INFO)
    chats = 4
    for n in range(chats):
        text = " ".join(f"word{n}x{i}" for i in range(20))  # five pieces of four words
        await straight(avatar, chat_frames(text, mid=f"c{n}"))
    ended = 0
    while ended < chats:
        message = json.loads(await avatar.receive_from(timeout=10))
        ended += message.get("pld", {}).get("event") == "audio_end"
    await avatar.disconnect()

    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors == []
    capped = [r for r in caplog.records if "not recorded: transcript_full" in r.getMessage()]
    assert len(capped) == 1
    lines = [e async for e in TranscriptEntry.objects.filter(session_id=session["id"])]
    assert sum(len(e.text) for e in lines) <= 100
    assert len(lines) == 1 and lines[0].final and lines[0].cut  # ended where the cap came


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_line_at_its_cap_ends_there_and_the_next_line_is_recorded(world, settings, caplog):
    settings.TRANSCRIPT_LINE_MAX_CHARS = 30
    session = await create_session(world.alice_token, preset="cleo")
    avatar = await open_sandbox(session)
    caplog.set_level(logging.INFO)
    await straight(avatar, chat_frames(" ".join(["ab"] * 20), mid="long"))
    await straight(avatar, chat_frames("Short one.", mid="short"))
    ended = 0
    while ended < 2:
        message = json.loads(await avatar.receive_from(timeout=10))
        ended += message.get("pld", {}).get("event") == "audio_end"
    await avatar.disconnect()

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert len([r for r in caplog.records if "line_too_long" in r.getMessage()]) == 1
    lines = [e async for e in TranscriptEntry.objects.filter(session_id=session["id"])]
    lines.sort(key=lambda e: e.created_at)
    assert [(e.final, e.cut) for e in lines] == [(True, True), (True, False)]
    assert len(lines[0].text) <= 30 and lines[1].text == "Short one."
