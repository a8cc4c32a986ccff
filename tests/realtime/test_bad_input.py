"""Bad input on both sockets: each gets its error or refusal, and a socket that may
stay open keeps working afterwards."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import pytest
import pytest_asyncio
from channels.testing import WebsocketCommunicator

from avatarsite.asgi import application
from sessions.models import SessionEvent, TranscriptEntry
from sessions.services import lifecycle, transcript
from tests.support.wsutil import (
    ORIGIN,
    Conversation,
    bearer,
    create_session,
    open_page,
    open_sandbox,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def connect(path: str, headers) -> tuple[WebsocketCommunicator, bool, int | None]:
    ws = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await ws.connect()
    return ws, connected, code


async def turned_away(path: str, headers) -> tuple[str, int]:
    """Accepted, then an `error` frame and a close (a bare handshake refusal would reach
    the page as HTTP 403, with no code): the error's code and the close code."""
    ws, connected, _ = await connect(path, headers)
    assert connected
    error = await next_message(ws)
    assert error["type"] == "error" and error["message"]
    closing = await ws.receive_output(timeout=3)
    assert closing["type"] == "websocket.close"
    return error["code"], closing["code"]


async def next_message(ws) -> dict:
    return json.loads(await ws.receive_from(timeout=3))


async def still_works(page) -> None:
    """The socket answers a valid chat with its transcript line and frames."""
    await page.send_json_to({"type": "chat", "text": "still there?"})
    kinds = set()
    for _ in range(2):
        kinds.add((await next_message(page))["type"])
    assert kinds == {"transcript", "rtc_send"}


@pytest_asyncio.fixture
async def page(world):
    session = await create_session(world.alice_token)
    ws = await open_page(session, world.alice_token)
    assert (await next_message(ws))["type"] == "session"
    ws.session = session
    yield ws
    await ws.disconnect()


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ("not json", "bad_json"),
        ("[1, 2, 3]", "bad_message"),
        ('{"no": "type"}', "bad_message"),
        ('{"type": 42}', "bad_message"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "chat"}', "bad_message"),
        ('{"type": "chat", "text": 12}', "bad_message"),
        ('{"type": "chat", "text": "   "}', "empty_message"),
        ('{"type": "set_params"}', "bad_message"),
        # The same error as the API's create for an unknown voice (one rule, one home).
        ('{"type": "set_params", "params": {"voice": "nope"}}', "voice_not_found"),
        ('{"type": "set_params", "params": {"language": "xx"}}', "invalid_language"),
        ('{"type": "set_params", "params": {"mode": 3}}', "invalid_mode"),
        ('{"type": "set_params", "params": {"mode": true}}', "invalid_mode"),
        (
            '{"type": "set_params", "params": {"background_url": "javascript:x"}}',
            "invalid_background",
        ),
        ('{"type": "set_params", "params": {"colour": "red"}}', "invalid_params"),
        ('{"type": "rtc_message", "data": {"x": 1}}', "bad_message"),
    ],
)
async def test_a_bad_message_gets_an_error_and_the_socket_stays(page, payload, code):
    await page.send_to(text_data=payload)
    error = await next_message(page)
    assert error["type"] == "error" and error["code"] == code
    assert error["message"]
    await still_works(page)


async def test_a_binary_frame_is_refused(page):
    await page.send_to(bytes_data=b"\x00\x01")
    assert (await next_message(page))["code"] == "binary_not_supported"
    await still_works(page)


async def test_a_huge_frame_is_refused_without_recording_anything(page, settings):
    await page.send_to(text_data=json.dumps({"type": "chat", "text": "x" * 50_000}))
    assert (await next_message(page))["code"] == "frame_too_large"
    assert not await TranscriptEntry.objects.filter(session_id=page.session["id"]).aexists()
    await still_works(page)


async def test_a_message_over_the_character_limit_is_refused(page, settings):
    settings.CHAT_MAX_CHARS = 100
    await page.send_json_to({"type": "chat", "text": "y" * 101})
    error = await next_message(page)
    assert error["code"] == "message_too_long" and "100" in error["message"]
    await still_works(page)


async def test_a_flood_is_limited_and_what_was_accepted_is_kept(page, settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 3
    for i in range(5):
        await page.send_json_to({"type": "chat", "text": f"message {i}"})
    errors, lines = [], []
    while not await page.receive_nothing(timeout=0.3):
        message = await next_message(page)
        if message["type"] == "error":
            errors.append(message)
        elif message["type"] == "transcript":
            lines.append(message["text"])
    assert lines == ["message 0", "message 1", "message 2"]
    assert [e["code"] for e in errors] == ["chat_rate_limit", "chat_rate_limit"]
    assert errors[0]["retry_after"] >= 1
    await transcript.settled()  # typed lines wait up to WRITE_BEHIND_SECONDS: now
    stored = [e.text async for e in TranscriptEntry.objects.filter(session_id=page.session["id"])]
    assert stored == lines
    # The window's first refusal is recorded, not the rest of the flood (issue 15).
    assert (
        await SessionEvent.objects.filter(session_id=page.session["id"], kind="limit").acount() == 1
    )


async def test_unparseable_avatar_messages_are_ignored(page):
    for data in ("garbage", '{"v": 1, "type": "chat"}', '{"v": 2, "type": "nope"}', "{}"):
        await page.send_json_to({"type": "rtc_message", "data": data})
    assert await page.receive_nothing(timeout=0.3)
    await still_works(page)


async def test_without_credentials_the_socket_is_refused(world):
    session = await create_session(world.alice_token)
    assert await turned_away(session["ws_path"], [ORIGIN]) == ("not_authenticated", 4401)


async def test_an_invalid_token_is_refused(world):
    session = await create_session(world.alice_token)
    headers = [ORIGIN, bearer("avs_forged")]
    assert await turned_away(session["ws_path"], headers) == ("not_authenticated", 4401)


async def test_another_users_session_is_refused(world):
    session = await create_session(world.alice_token)
    headers = [ORIGIN, bearer(world.bob_token)]
    assert await turned_away(session["ws_path"], headers) == ("session_not_found", 4404)


async def test_an_unknown_session_is_refused(world):
    path = "/ws/sessions/00000000-0000-4000-8000-000000000000/"
    headers = [ORIGIN, bearer(world.alice_token)]
    assert await turned_away(path, headers) == ("session_not_found", 4404)


async def test_a_foreign_origin_is_refused(world):
    session = await create_session(world.alice_token)
    headers = [(b"origin", b"https://evil.example"), bearer(world.alice_token)]
    ws, connected, code = await connect(session["ws_path"], headers)
    assert not connected


async def test_a_missing_origin_is_allowed_only_with_a_bearer_token(world):
    session = await create_session(world.alice_token)
    ws, connected, _ = await connect(session["ws_path"], [bearer(world.alice_token)])
    assert connected
    await ws.disconnect()
    ws, connected, _ = await connect(session["ws_path"], [])
    assert not connected


async def test_a_closed_session_says_why_and_closes(world):
    session = await create_session(world.alice_token)
    await lifecycle.close_session(session["id"], "user")
    ws, connected, _ = await connect(session["ws_path"], [ORIGIN, bearer(world.alice_token)])
    assert connected
    message = await next_message(ws)
    assert message["status"] == "closed" and message["close_reason"] == "user"
    assert (await ws.receive_output(timeout=2)) == {"type": "websocket.close", "code": 4410}


async def test_staff_can_watch_but_not_talk(world, auditor):
    _, staff_token = await _issue(world.staff)
    session = await create_session(world.alice_token)
    ws, connected, _ = await connect(session["ws_path"], [ORIGIN, bearer(staff_token)])
    assert connected
    assert (await next_message(ws))["type"] == "session"
    await ws.send_json_to({"type": "chat", "text": "hi"})
    assert (await next_message(ws))["code"] == "read_only"
    await ws.disconnect()


async def _issue(user):
    from asgiref.sync import sync_to_async

    from sessions.models import ApiToken

    return await sync_to_async(ApiToken.issue)(user, "staff")


# --- the sandbox socket -----------------------------------------------------------
async def test_the_sandbox_refuses_a_forged_or_foreign_token(world):
    first = await create_session(world.alice_token)
    second = await create_session(world.bob_token)
    channel = first["rtc"]["channel"]
    for token in ("forged", second["rtc"]["token"], ""):
        ws, connected, code = await connect(
            f"/ws/sandbox/{channel}/?token={quote(token)}", [ORIGIN]
        )
        assert not connected and code == 4403


async def test_the_sandbox_refuses_a_closed_sessions_channel(world):
    session = await create_session(world.alice_token)
    await lifecycle.close_session(session["id"], "user")
    rtc = session["rtc"]
    ws, connected, code = await connect(
        f"/ws/sandbox/{rtc['channel']}/?token={quote(rtc['token'])}", [ORIGIN]
    )
    assert not connected and code == 4403


async def test_the_sandbox_reports_oversized_and_too_fast_frames_and_keeps_working(world):
    session = await create_session(world.alice_token)
    avatar = await open_sandbox(session)
    big = json.dumps(
        {"v": 2, "type": "chat", "mid": "m", "idx": 0, "fin": True, "pld": {"text": "x" * 1100}}
    )
    await avatar.send_to(text_data=big)
    event = json.loads(await avatar.receive_from())
    assert event["pld"] == {"event": "sandbox_violation", "reason": "frame_too_large"}
    frame = json.dumps(
        {
            "v": 2,
            "type": "command",
            "mid": "c",
            "pld": {"cmd": "set-params", "data": {"lang": "x" * 150}},
        }
    ).ljust(1000)
    reasons = []
    for _ in range(8):  # 8 x 1,000 bytes in well under a second: over 6,000 B/s
        await avatar.send_to(text_data=frame)
    while not await avatar.receive_nothing(timeout=0.2):
        reasons.append(json.loads(await avatar.receive_from())["pld"].get("reason"))
    assert reasons.count("rate_exceeded") == 2
    assert reasons.count(None) == 6  # six acks for the accepted frames
    await asyncio.sleep(1.05)  # let the rate window empty: garbage counts towards it too
    await avatar.send_to(text_data="not json at all")
    await avatar.send_to(bytes_data=b"\xff\xfe")
    assert await avatar.receive_nothing(timeout=0.2)
    await avatar.disconnect()


async def test_the_page_and_sandbox_still_talk_after_bad_input(world, page):
    avatar = await open_sandbox(page.session)
    await avatar.send_to(text_data="junk")
    await page.send_to(text_data="junk")
    assert (await next_message(page))["code"] == "bad_json"
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "hello"})
        await talk.wait_for(
            lambda m: m["type"] == "transcript" and m["role"] == "avatar" and m["final"]
        )
    assert talk.violations() == []
    await avatar.disconnect()


async def test_a_flood_of_any_kind_of_message_is_refused_unread(page, settings):
    settings.WS_MESSAGES_PER_10S = 5
    for _ in range(7):
        await page.send_json_to({"type": "rtc_message", "data": "{}"})
    errors = []
    while not await page.receive_nothing(timeout=0.2):
        errors.append(await next_message(page))
    assert [e["code"] for e in errors] == ["message_rate_limit", "message_rate_limit"]
    assert errors[0]["retry_after"] >= 1


async def test_an_escaped_lone_surrogate_is_refused_as_invalid_text(page):
    await page.send_to(text_data='{"type": "chat", "text": "bad \\ud800 text"}')
    error = await next_message(page)
    assert (error["code"], "surrogate" in error["message"]) == ("bad_message", True)
    await still_works(page)


async def test_a_nul_character_is_refused_as_invalid_text(page):
    # PostgreSQL cannot store NUL in text: refused up front, on every database.
    await page.send_json_to({"type": "chat", "text": "bad \x00 text"})
    error = await next_message(page)
    assert error["code"] == "bad_message" and "NUL" in error["message"]
    await still_works(page)


async def test_a_flood_over_the_message_budget_records_its_refusal_once(page, settings):
    # Every refused message gets its error frame, but the event log gets one row per
    # window, not one per message (400 writes would be the flood's real cost).
    settings.WS_MESSAGES_PER_10S = 5
    for _ in range(400):
        await page.send_to(text_data="junk")
    codes = [(await next_message(page))["code"] for _ in range(400)]
    assert codes == ["bad_json"] * 5 + ["message_rate_limit"] * 395
    assert await page.receive_nothing(timeout=0.2)
    limits = SessionEvent.objects.filter(session_id=page.session["id"], kind="limit")
    assert [e.data["code"] async for e in limits] == ["message_rate_limit"]


async def test_each_rates_flood_is_recorded_once_a_window(page, settings):
    """Issue 15: a flood wrote an event row per refused message. Each rate's window
    records its first refusal only; every refusal still gets its error frame."""
    settings.CHAT_MESSAGES_PER_MINUTE = 1
    settings.COMMANDS_PER_MINUTE = 1
    for i in range(4):
        await page.send_json_to({"type": "chat", "text": f"message {i}"})
        await page.send_json_to({"type": "interrupt"})
    codes = []
    while not await page.receive_nothing(timeout=0.3):
        message = await next_message(page)
        if message["type"] == "error":
            codes.append(message["code"])
    assert sorted(codes) == ["chat_rate_limit"] * 3 + ["command_rate_limit"] * 3
    limits = SessionEvent.objects.filter(session_id=page.session["id"], kind="limit")
    assert sorted([e.data["code"] async for e in limits]) == [
        "chat_rate_limit",
        "command_rate_limit",
    ]


DEEP = 5000


@pytest.mark.parametrize(
    ("payload", "codes"),
    [
        # Deeper than the JSON parser goes: it raises RecursionError, not a ValueError.
        ("[" * DEEP + "]" * DEEP, {"bad_json"}),
        ("[" * DEEP, {"bad_json"}),
        # Shallow enough to parse, deep enough that walking it may not be: still refused.
        *(
            ('{"type": "chat", "text": ' + "[" * n + "]" * n + "}", {"bad_json", "bad_message"})
            for n in (995, 990, 980, 950, 900)
        ),
    ],
    ids=["deep", "deep-unclosed", "995", "990", "980", "950", "900"],
)
async def test_a_deeply_nested_frame_is_refused_as_bad_input(page, caplog, payload, codes):
    await page.send_to(text_data=payload)
    error = await next_message(page)
    assert error["type"] == "error" and error["code"] in codes, error
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
    await still_works(page)
