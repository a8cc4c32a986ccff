"""The sandbox avatar's lines are written once a line, not once a piece (issue 22): at the
line's end, where it is cut short (an interrupt, the socket gone, the session closed), and
while a long line goes on every WRITE_BEHIND_SECONDS. Each piece is still shown live at
once, and a page that connects mid-line (its replay lagging what was said) ends up showing
the whole line, once."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from django.db.backends.utils import CursorWrapper
from django.test import AsyncClient

from sessions.models import TranscriptEntry
from sessions.providers.sandbox.session_side import SessionSide
from sessions.stream.chunker import chat_frames
from sessions.stream.codec import command_frame
from tests.support.wsutil import create_session, open_page, open_sandbox

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

WRITE = re.compile(r'(INSERT INTO|UPDATE) "\w*transcript', re.IGNORECASE)
TWENTY_WORDS = " ".join(f"word{i}" for i in range(20))  # five pieces of four words


@pytest.fixture
def line_writes(monkeypatch) -> list[str]:
    """Every INSERT or UPDATE of a transcript line (or piece) the database is sent."""
    writes: list[str] = []
    execute = CursorWrapper.execute

    def counted(self, sql, params=None):
        if WRITE.match(sql.lstrip()):
            writes.append(sql)
        return execute(self, sql, params)

    monkeypatch.setattr(CursorWrapper, "execute", counted)
    return writes


async def until_row(session_id, mid: str, check=lambda row: True, timeout: float = 3.0):
    async def poll():
        while True:
            row = await TranscriptEntry.objects.filter(session_id=session_id, mid=mid).afirst()
            if row is not None and check(row):
                return row
            await asyncio.sleep(0.01)

    return await asyncio.wait_for(poll(), timeout)


async def avatar_pieces_until(avatar, count: int) -> list[dict]:
    """The avatar's bot pieces, read off its socket, until `count` of them (or its fin)."""
    pieces: list[dict] = []
    while len(pieces) < count:
        message = json.loads(await avatar.receive_from(timeout=5))
        if message["type"] == "chat" and message["pld"].get("from") == "bot":
            pieces.append(message)
            if message.get("fin"):
                break
    return pieces


async def test_a_five_piece_line_is_one_database_write(world, settings, line_writes):
    settings.SANDBOX_WORDS_PER_SECOND = 1000
    settings.WRITE_BEHIND_SECONDS = 60  # no timer: only the line's end writes
    session = await create_session(world.alice_token, preset="cleo")  # says it as given
    avatar = await open_sandbox(session)
    for frame in chat_frames(TWENTY_WORDS, mid="c1"):
        await avatar.send_to(text_data=frame)
    pieces = await avatar_pieces_until(avatar, 5)
    while json.loads(await avatar.receive_from(timeout=5)).get("pld", {}).get("event") != (
        "audio_end"
    ):
        pass
    await avatar.disconnect()

    assert len(pieces) == 5 and pieces[-1]["fin"]
    assert len(line_writes) == 1 and "INSERT" in line_writes[0].upper()
    (line,) = [e async for e in TranscriptEntry.objects.filter(session_id=session["id"])]
    assert (line.text, line.final, line.cut) == (TWENTY_WORDS, True, False)


async def test_a_long_line_is_in_the_database_before_its_end(world, settings):
    settings.WRITE_BEHIND_SECONDS = 0.05
    session = await create_session(world.alice_token)
    side = await SessionSide.of_channel(session["rtc"]["channel"])
    await side.said(2, "long", 0, "Once upon ", False)
    row = await until_row(session["id"], "long")
    assert (row.text, row.final) == ("Once upon ", False)
    await side.said(2, "long", 1, "a time ", False)
    row = await until_row(session["id"], "long", lambda r: r.text == "Once upon a time ")
    assert row.final is False
    await side.said(2, "long", 2, "there was.", True)
    row = await until_row(session["id"], "long", lambda r: r.final)
    assert (row.text, row.cut) == ("Once upon a time there was.", False)
    # One row, placed by when its first piece was said.
    assert await TranscriptEntry.objects.filter(session_id=session["id"]).acount() == 1
    await side.close()


async def test_an_interrupt_mid_line_leaves_it_cut_with_what_was_said(world, settings):
    settings.SANDBOX_WORDS_PER_SECOND = 40  # a piece every 0.1 s
    settings.WRITE_BEHIND_SECONDS = 60  # nothing written before the interrupt
    session = await create_session(world.alice_token, preset="cleo")
    avatar = await open_sandbox(session)
    for frame in chat_frames(TWENTY_WORDS, mid="c1"):
        await avatar.send_to(text_data=frame)
    pieces = await avatar_pieces_until(avatar, 2)
    await avatar.send_to(text_data=command_frame("interrupt", mid="stop"))
    while True:
        message = json.loads(await avatar.receive_from(timeout=5))
        if message["type"] == "chat" and message["pld"].get("from") == "bot":
            pieces.append(message)
        if message.get("pld", {}).get("event") == "audio_end":
            break
    await avatar.disconnect()

    said = "".join(p["pld"]["text"] for p in pieces)
    assert 0 < len(pieces) < 5
    (line,) = [e async for e in TranscriptEntry.objects.filter(session_id=session["id"])]
    assert (line.mid, line.text, line.final, line.cut) == (pieces[0]["mid"], said, True, True)


@pytest.mark.parametrize("leaves", ["socket closes", "session closed"])
async def test_the_line_being_said_is_written_when_the_avatar_leaves(world, settings, leaves):
    settings.SANDBOX_WORDS_PER_SECOND = 40
    settings.WRITE_BEHIND_SECONDS = 60
    session = await create_session(world.alice_token, preset="cleo")
    avatar = await open_sandbox(session)
    for frame in chat_frames(TWENTY_WORDS, mid="c1"):
        await avatar.send_to(text_data=frame)
    pieces = await avatar_pieces_until(avatar, 2)
    if leaves == "socket closes":
        await avatar.disconnect()
    else:
        closed = await AsyncClient().post(
            f"/api/v1/sessions/{session['id']}/close",
            {},
            content_type="application/json",
            headers={"Authorization": f"Bearer {world.alice_token}"},
        )
        assert closed.status_code == 200
        while (await avatar.receive_output(timeout=5))["type"] != "websocket.close":
            pass
    line = await until_row(session["id"], pieces[0]["mid"], lambda r: r.final)
    assert line.cut is True and line.text.startswith("".join(p["pld"]["text"] for p in pieces))
    assert TWENTY_WORDS.startswith(line.text) and line.text != TWENTY_WORDS


def page_view(frames: list[dict]) -> dict[str, str]:
    """The page's transcript (static/js/transcript.js): a replayed frame puts its line in
    place, a live one appends."""
    lines: dict[str, str] = {}
    for frame in frames:
        if frame["type"] == "transcript":
            before = "" if frame.get("replay") else lines.get(frame["mid"], "")
            lines[frame["mid"]] = before + frame["text"]
    return lines


async def frames_until(page, done) -> list[dict]:
    seen = []
    while not seen or not done(seen[-1]):
        seen.append(json.loads(await page.receive_from(timeout=3)))
    return seen


@pytest.mark.parametrize("written", ["nothing", "its first piece"])
async def test_a_page_connecting_mid_line_shows_the_whole_line_once(world, settings, written):
    session = await create_session(world.alice_token)
    side = await SessionSide.of_channel(session["rtc"]["channel"])
    settings.WRITE_BEHIND_SECONDS = 0.01 if written == "its first piece" else 60
    await side.said(2, "l1", 0, "One, ", False)
    if written == "its first piece":
        await until_row(session["id"], "l1")
        settings.WRITE_BEHIND_SECONDS = 60  # the next piece stays in memory
    await side.said(2, "l1", 1, "two, ", False)
    page = await open_page(session, world.alice_token)  # its replay lags the line
    seen = []
    while not await page.receive_nothing(timeout=0.3):  # the replay, sent as it connects
        seen.append(json.loads(await page.receive_from()))
    await side.said(2, "l1", 2, "three, ", False)
    await side.said(2, "l1", 3, "four.", True)
    seen += await frames_until(page, lambda f: f["type"] == "transcript" and f["final"])
    assert await page.receive_nothing(timeout=0.2)
    await page.disconnect()
    await side.close()

    shown = [f for f in seen if f["type"] == "transcript"]
    assert page_view(shown) == {"l1": "One, two, three, four."}
    # What the replay had, then the lag filled in place once, then the pieces after it.
    replayed = [("One, ", True)] if written == "its first piece" else []
    assert [(f["text"], f.get("replay", False)) for f in shown] == [
        *replayed,
        ("One, two, ", True),
        ("three, ", False),
        ("four.", False),
    ]
