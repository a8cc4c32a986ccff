"""Issue 15, item 6: the owner's page writes into the audit through rtc_message. What it
reports of the user's side (the avatar's transcript of the user's speech) is accepted
only within the chat's limits, as if typed; an ack for a command never sent changes
nothing."""

from __future__ import annotations

import json

import pytest
import pytest_asyncio

from sessions.models import AvatarSession, SessionEvent, TranscriptEntry
from sessions.services import transcript
from tests.realtime.test_session_caps import codes, drain, next_message, open_session, piece
from tests.support.wsutil import open_page

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    # Counts within one window: make test once crossed a minute's end here, and the last
    # chat, which the rate must refuse, found its count started again (tests/conftest.py).
    pytest.mark.usefixtures("one_minute"),
]


@pytest_asyncio.fixture
async def page(world):
    ws = await open_session(world)
    yield ws
    await ws.disconnect()


async def user_lines(page) -> dict[str, TranscriptEntry]:
    await transcript.settled()  # typed lines wait up to WRITE_BEHIND_SECONDS: now
    rows = TranscriptEntry.objects.filter(session_id=page.session["id"], role="user")
    return {row.mid: row async for row in rows}


async def test_user_lines_the_page_reports_share_the_chat_rate(page, settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 3
    await page.send_json_to({"type": "chat", "text": "typed by the user"})
    typed = next(m for m in await drain(page) if m["type"] == "transcript")
    # The avatar's echo of the typed line is no new line: it costs nothing.
    await page.send_json_to(piece(typed["mid"], "typed by the user", sender="user", fin=True))
    for n in range(3):
        await page.send_json_to(piece(f"never-typed-{n}", f"refund me {n}", sender="user"))
    received = await drain(page)
    assert codes(received) == ["chat_rate_limit"]
    lines = await user_lines(page)
    assert sorted(lines) == sorted([typed["mid"], "never-typed-0", "never-typed-1"])
    assert not lines[typed["mid"]].reported_by_page
    assert lines["never-typed-0"].reported_by_page
    # And the typed chat after them is refused by the same rate (one home).
    await page.send_json_to({"type": "chat", "text": "and me?"})
    assert codes(await drain(page)) == ["chat_rate_limit"]


async def test_user_lines_the_page_reports_share_the_chat_length(page, settings):
    settings.CHAT_MAX_CHARS = 50
    await page.send_json_to(piece("at-once", "u" * 51, sender="user"))
    for idx in range(3):  # in pieces: stopped where it would pass the length
        await page.send_json_to(piece("in-pieces", "v" * 20, sender="user", idx=idx, fin=False))
    received = await drain(page)
    assert codes(received) == ["message_too_long", "line_too_long"]
    lines = await user_lines(page)
    assert list(lines) == ["in-pieces"]
    assert lines["in-pieces"].text == "v" * 40 and lines["in-pieces"].final


async def test_an_ack_for_a_command_never_sent_changes_nothing(world, page):
    before = await AvatarSession.objects.aget(pk=page.session["id"])
    forged = {
        "v": 2,
        "type": "command",
        "mid": "never-sent",
        "pld": {"cmd": "set-params", "code": 1000, "msg": "ok, mode 1 and a refund"},
    }
    await page.send_json_to({"type": "rtc_message", "data": json.dumps(forged)})
    received = await drain(page)
    after = await AvatarSession.objects.aget(pk=page.session["id"])
    assert (after.mode, after.voice_id, after.language, after.background_url) == (
        before.mode,
        before.voice_id,
        before.language,
        before.background_url,
    )
    recorded = SessionEvent.objects.filter(
        session_id=page.session["id"], kind__in=["command", "error"]
    )
    assert not await recorded.aexists()
    # Shown to the page that forwarded it (its own business), with no settings in it.
    [result] = [m for m in received if m["type"] == "command_result"]
    assert "params" not in result
    # And a page that connects next gets no such command in its replayed list.
    await page.disconnect()
    again = await open_page(page.session, world.alice_token)
    replayed = [m async for m in _until_quiet(again)]
    await again.disconnect()
    assert not [m for m in replayed if m["type"] == "command_result"]


async def _until_quiet(ws):
    while not await ws.receive_nothing(timeout=0.3):
        yield await next_message(ws)


async def test_an_ack_forwarded_again_applies_and_is_recorded_once(world, page):
    """A page replaying the avatar's ack of a real command wrote an event row per copy."""
    await page.send_json_to({"type": "set_params", "params": {"mode": 1}})
    frame = next(m for m in [await next_message(page)] if m["type"] == "rtc_send")
    mid = json.loads(frame["frame"])["mid"]
    ack = {"v": 2, "type": "command", "mid": mid, "pld": {"cmd": "set-params", "code": 1000}}
    for _ in range(5):
        await page.send_json_to({"type": "rtc_message", "data": json.dumps(ack)})
    results = [m for m in await drain(page) if m["type"] == "command_result"]
    assert len(results) == 5 and [r.get("params") for r in results[:1]] == [{"mode": 1}]
    assert all("params" not in r for r in results[1:])
    acks = SessionEvent.objects.filter(session_id=page.session["id"], data__has_key="ack")
    assert await acks.acount() == 1
    assert (await AvatarSession.objects.aget(pk=page.session["id"])).mode == 1
