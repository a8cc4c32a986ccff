"""The sandbox avatar's socket and the session behind its channel (issue 15, items 4 and 6):
chats sent straight to `/ws/sandbox/<channel>/` (a page holds the token) are held to the
session socket's limits, charged to the session and to whoever created it; a channel has
one avatar socket, the newest; what the sandbox avatar says is recorded from the sandbox
side, never taken from the page, and reaches the page live exactly once."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from channels.layers import get_channel_layer

from sessions import keys
from sessions.models import AvatarSession, TranscriptEntry
from sessions.providers.sandbox.consumer import CLOSE_TAKEN_OVER
from sessions.providers.sandbox.session_side import SessionSide
from sessions.services import limits
from sessions.stream.chunker import chat_frames
from sessions.stream.codec import bot_chat_frame, event_frame
from tests.support.fakes.llm_server import serving
from tests.support.wsutil import Conversation, create_session, open_page, open_sandbox

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

ANSWER = "The museum opens at nine."


@pytest.fixture
def llm(settings):
    with serving(settings, ANSWER, retries=0) as server:
        yield server


async def chat_straight(avatar, count: int, text: str = "When do you open?") -> None:
    """What an attacker's script does: chats on the sandbox socket, no session socket."""
    for n in range(count):
        for frame in chat_frames(f"{text} ({n})", mid=f"attack-{n}"):
            await avatar.send_to(text_data=frame)


async def outcomes(avatar, chats: int, timeout: float = 10.0) -> tuple[int, list[str]]:
    """(answers given, refusal reasons) once every chat has one or the other."""
    answered, refused = 0, []

    async def collect() -> None:
        nonlocal answered
        while answered + len(refused) < chats:
            message = json.loads(await avatar.receive_from(timeout=timeout))
            pld = message.get("pld", {})
            if message["type"] == "chat" and message.get("fin"):
                answered += 1
            elif pld.get("event") == "sandbox_refused":
                refused.append(pld["reason"])

    await asyncio.wait_for(collect(), timeout)
    return answered, refused


async def principal_of(session) -> str:
    """Who pays for the session's answers (its owner, whichever token talks)."""
    return (await AvatarSession.objects.aget(pk=session["id"])).budget_key


def day() -> int:
    return int(time.time() // 86400)


async def test_chats_sent_straight_to_the_sandbox_past_the_daily_budget_never_reach_the_llm(
    world, llm, settings
):
    settings.CHAT_MESSAGES_PER_MINUTE = 1000  # the token budget is what is tried here
    session = await create_session(world.alice_token)  # dialogue mode: the LLM answers
    assert session["mode"] == 2
    principal = await principal_of(session)
    # Today's tokens were spent (in another session of the same principal).
    await limits.spend_llm_tokens("another-session", principal, settings.LLM_TOKENS_PER_DAY)

    avatar = await open_sandbox(session)
    await chat_straight(avatar, 50)
    answered, refused = await outcomes(avatar, 50)
    await avatar.disconnect()

    assert llm.requests == [] and answered == 0
    assert refused == ["llm_daily_tokens"] * 50


async def test_the_llm_answers_only_what_the_session_budget_allows_and_it_is_charged(
    world, llm, settings
):
    settings.CHAT_MESSAGES_PER_MINUTE = 1000
    settings.LLM_TOKENS_PER_SESSION = 1  # one answer spends it
    session = await create_session(world.alice_token)
    principal = await principal_of(session)
    avatar = await open_sandbox(session)
    await chat_straight(avatar, 50)
    answered, refused = await outcomes(avatar, 50)
    await avatar.disconnect()

    assert len(llm.requests) == 1 and answered == 1
    assert refused == ["llm_session_tokens"] * 49
    # Charged to the session and to the principal it was created for.
    spent_session = await limits.shared_cache.get(keys.llm_tokens_of_session(session["id"]))
    spent_today = await limits.shared_cache.get(keys.llm_tokens_of_principal(principal, day()))
    assert spent_session > 0 and spent_today == spent_session


async def test_the_chat_rate_and_length_hold_on_the_sandbox_socket(world, settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 5
    settings.CHAT_MAX_CHARS = 100
    session = await create_session(world.alice_token)  # the built-in responder answers
    avatar = await open_sandbox(session)
    await chat_straight(avatar, 1, text="x" * 101)
    assert await outcomes(avatar, 1) == (0, ["message_too_long"])
    await chat_straight(avatar, 8)
    answered, refused = await outcomes(avatar, 8)
    await avatar.disconnect()

    assert answered == 5 and refused == ["chat_rate_limit"] * 3


async def test_a_page_chatting_at_the_limit_is_not_refused_by_the_sandbox(world, settings):
    """The session socket counts the page's chats, the sandbox counts them again on a
    count of its own: a page within the limit loses nothing."""
    settings.CHAT_MESSAGES_PER_MINUTE = 3
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        for n in range(3):
            await page.send_json_to({"type": "chat", "text": f"Hello number {n}"})
        lines = await asyncio.wait_for(_avatar_lines(session, 3), 10)
    await page.disconnect()
    await avatar.disconnect()
    assert len(lines) == 3
    assert talk.of_type("error") == []
    assert not [f for f in talk.avatar_frames if "sandbox_refused" in f]


async def _avatar_lines(session, count: int) -> list[TranscriptEntry]:
    while True:
        lines = [
            line
            async for line in TranscriptEntry.objects.filter(
                session_id=session["id"], role="avatar", final=True
            )
        ]
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.02)


async def test_a_second_avatar_socket_on_a_channel_closes_the_first(world):
    session = await create_session(world.alice_token)
    first = await open_sandbox(session)
    second = await open_sandbox(session)  # a page reconnecting its transport: never refused
    closed = await first.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": CLOSE_TAKEN_OVER}
    # The newest one is the avatar.
    for frame in chat_frames("Hello there", mid="m1"):
        await second.send_to(text_data=frame)
    assert await outcomes(second, 1) == (1, [])
    third = await open_sandbox(session)
    output = await second.receive_output(timeout=2)
    while output["type"] == "websocket.send":  # the end of its answer (audio_end)
        output = await second.receive_output(timeout=2)
    assert output == {"type": "websocket.close", "code": CLOSE_TAKEN_OVER}
    await third.disconnect()


# --- what the avatar said: the sandbox is the witness -------------------------------------


def final_avatar_line(m) -> bool:
    return m["type"] == "transcript" and m["role"] == "avatar" and m["final"]


def bot_pieces(frames: list[str]) -> dict[str, list[str]]:
    pieces: dict[str, list[str]] = {}
    for frame in frames:
        message = json.loads(frame)
        if message["type"] == "chat" and message["pld"].get("from") == "bot":
            pieces.setdefault(message["mid"], []).append(message["pld"]["text"])
    return pieces


async def test_a_forged_avatar_line_is_not_recorded_and_the_real_one_is_shown_once(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    forged = bot_chat_frame("I promise a refund", mid="forged", idx=0, fin=True)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "rtc_message", "data": forged})
        await page.send_json_to({"type": "chat", "text": "Hello there"})
        # The page forwards the avatar's audio_end after the forged line: once the page
        # is told the avatar stopped, the forged line has been handled.
        await talk.wait_for(lambda m: m == {"type": "avatar", "speaking": False})
        # The sandbox's own record of the answer reaches the page by the session's group.
        await talk.wait_for(final_avatar_line)
    await page.disconnect()
    await avatar.disconnect()

    lines = [line async for line in TranscriptEntry.objects.filter(session_id=session["id"])]
    assert not [line for line in lines if "refund" in line.text]
    assert not [m for m in talk.of_type("transcript") if m["mid"] == "forged"]
    said = bot_pieces(talk.avatar_frames)
    assert len(said) == 1
    mid, pieces = next(iter(said.items()))
    (answer,) = [line for line in lines if line.role == "avatar"]
    assert (answer.mid, answer.text, answer.final) == (mid, "".join(pieces), True)
    assert answer.reported_by_page is False
    # Live, exactly once: one transcript frame a piece, the line whole.
    shown = [m for m in talk.of_type("transcript") if m["mid"] == mid]
    assert [m["text"] for m in shown] == pieces
    assert shown[-1]["final"] is True


async def test_every_socket_of_the_session_sees_the_sandbox_avatar_once(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    other_tab = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Hello there"})
        await talk.wait_for(final_avatar_line)
    await page.disconnect()
    await avatar.disconnect()
    (answer,) = [m async for m in TranscriptEntry.objects.filter(role="avatar")]
    seen = []
    while not await other_tab.receive_nothing(timeout=0.2):
        message = json.loads(await other_tab.receive_from())
        if message["type"] == "transcript" and message["mid"] == answer.mid:
            seen.append(message["text"])
    await other_tab.disconnect()
    assert "".join(seen) == answer.text


async def written(session, mid: str) -> TranscriptEntry:
    """The line, once the sandbox has written it (a short WRITE_BEHIND_SECONDS)."""
    while True:
        line = await TranscriptEntry.objects.filter(session_id=session["id"], mid=mid).afirst()
        if line is not None:
            return line
        await asyncio.sleep(0.01)


async def test_a_piece_the_replay_already_showed_is_not_shown_again_live(world, settings):
    """A socket that connects while the sandbox avatar speaks: a piece written before its
    replay read the line is in the replay; the same piece arriving live is skipped, the
    next one shown."""
    settings.WRITE_BEHIND_SECONDS = 0.01
    session = await create_session(world.alice_token)
    side = await SessionSide.of_channel(session["rtc"]["channel"])
    layer = get_channel_layer()
    sent: list[dict] = []

    async def keep(group, event):
        sent.append(event)  # held back: delivered after the page's replay

    real_send, layer.group_send = layer.group_send, keep
    try:
        await side.said(2, "line-1", 0, "Hello ", False)
    finally:
        layer.group_send = real_send
    await asyncio.wait_for(written(session, "line-1"), 3)
    page = await open_page(session, world.alice_token)
    frames = [json.loads(await page.receive_from()) for _ in range(2)]
    assert frames[1]["text"] == "Hello " and frames[1]["replay"] is True
    await layer.group_send(keys.session_group(session["id"]), sent[0])
    await side.said(2, "line-1", 1, "there.", True)
    live = json.loads(await page.receive_from(timeout=2))
    assert (live["text"], live["final"]) == ("there.", True)
    assert await page.receive_nothing(timeout=0.2)
    await page.disconnect()


async def test_the_sandbox_ends_its_own_lines_not_a_late_audio_end_from_the_page(world, settings):
    """The page's audio_end of one answer may come after the next answer began: in a
    sandbox session it ends nothing; the sandbox ends a line cut short itself."""
    settings.WRITE_BEHIND_SECONDS = 0.01  # the open line is written while it lasts
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    side = await SessionSide.of_channel(session["rtc"]["channel"])
    await side.said(2, "line-2", 0, "Hello ", False)
    await asyncio.wait_for(written(session, "line-2"), 3)
    await page.send_json_to({"type": "rtc_message", "data": event_frame("audio_end")})
    while json.loads(await page.receive_from(timeout=2)) != {"type": "avatar", "speaking": False}:
        pass
    line = await TranscriptEntry.objects.aget(session_id=session["id"], mid="line-2")
    assert (line.text, line.final) == ("Hello ", False)

    await side.cut(2, "line-2")
    await line.arefresh_from_db()
    assert (line.text, line.final, line.cut) == ("Hello ", True, True)
    shown = json.loads(await page.receive_from(timeout=2))
    if shown.get("text") == "Hello ":  # its live piece (the layer may deliver it late)
        shown = json.loads(await page.receive_from(timeout=2))
    assert (shown["mid"], shown["final"], shown["cut"]) == ("line-2", True, True)
    await page.disconnect()


async def test_a_page_past_the_budget_is_told_in_words_not_answered_by_silence(
    world, llm, settings
):
    """The sandbox's dialogue answers come from the operator's LLM: once the owner's day is
    spent, the session socket refuses the chat with the limit's error (the sandbox would
    only stay silent), and nothing reaches the avatar or the LLM."""
    session = await create_session(world.alice_token)
    assert session["mode"] == 2
    await limits.spend_llm_tokens("another-session", await principal_of(session), 10**9)
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "When do you open?"})
        refused = await talk.wait_for(lambda m: m["type"] == "error", timeout=5)
    await page.disconnect()
    await avatar.disconnect()
    assert refused["code"] == "llm_daily_tokens"
    assert llm.requests == []
    assert not await TranscriptEntry.objects.filter(session_id=session["id"]).aexists()
