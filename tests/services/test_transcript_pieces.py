"""The avatar's speech is recorded piece by piece, each piece in its place by `idx`.

Pieces reach the server as the page forwards them (`rtc_message`); after a reconnect or
with two tabs they may arrive late, twice, or through two processes. Two processes are in
tests/processes/test_scaleout.py; here one socket (or two) sends the pieces in a chosen
order.
"""

from __future__ import annotations

import json

import pytest

from sessions.models import TranscriptEntry, TranscriptPiece
from sessions.stream.codec import bot_chat_frame
from tests.support.wsutil import create_session, open_page, page_is_witness  # noqa: F401

# The page forwards the avatar's pieces itself, as with AKool.
pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("page_is_witness"),
]

MID = "answer-1"


async def _forward(page, idx: int, text: str, *, fin: bool = False) -> None:
    frame = bot_chat_frame(text, mid=MID, idx=idx, fin=fin)
    await page.send_json_to({"type": "rtc_message", "data": frame})


async def _transcript_frames(page, count: int) -> list[dict]:
    frames = []
    while len(frames) < count:
        message = json.loads(await page.receive_from(timeout=5))
        if message["type"] == "transcript" and message["mid"] == MID:
            frames.append(message)
    return frames


async def _line(session) -> tuple[str, bool]:
    entry = await TranscriptEntry.objects.aget(session_id=session["id"], role="avatar", mid=MID)
    return entry.text, entry.final


async def _open(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    assert json.loads(await page.receive_from())["type"] == "session"
    return session, page


async def test_a_late_piece_takes_its_place_and_the_page_gets_the_whole_line(world):
    session, page = await _open(world)
    await _forward(page, 0, "One, ")
    await _forward(page, 2, "three.", fin=True)
    await _forward(page, 1, "two, ")
    frames = await _transcript_frames(page, 3)
    await page.disconnect()

    assert await _line(session) == ("One, two, three.", True)
    # In order: the pieces themselves; late into a finished line: the whole line, final
    # (which the page puts in place of what it has).
    assert [(f["text"], f["final"]) for f in frames] == [
        ("One, ", False),
        ("three.", True),
        ("One, two, three.", True),
    ]


async def test_a_piece_forwarded_twice_counts_once(world):
    session, page = await _open(world)
    other_tab = await open_page(session, world.alice_token)
    await other_tab.receive_from()
    for socket in (page, other_tab):
        await _forward(socket, 0, "Hello ")
    await _forward(page, 1, "there.", fin=True)
    frames = await _transcript_frames(page, 2)
    await other_tab.disconnect()
    await page.disconnect()

    assert await _line(session) == ("Hello there.", True)
    assert [f["text"] for f in frames] == ["Hello ", "there."]
    assert await TranscriptPiece.objects.filter(session_id=session["id"]).acount() == 2


async def test_a_finished_line_is_not_reopened_by_a_piece_after_its_end(world):
    session, page = await _open(world)
    await _forward(page, 0, "Done.", fin=True)
    await _forward(page, 1, " More.")
    frames = await _transcript_frames(page, 2)
    await page.disconnect()

    assert await _line(session) == ("Done. More.", True)
    assert [(f["text"], f["final"]) for f in frames] == [("Done.", True), ("Done. More.", True)]


async def test_a_process_that_read_fewer_pieces_does_not_shorten_the_line(world):
    session, page = await _open(world)
    # As left by another process that recorded pieces 0 to 2 and assembled the line,
    # while this one's read of the pieces (made before piece 2 committed) holds 0 and 1.
    await TranscriptEntry.objects.acreate(
        session_id=session["id"], role="avatar", mid=MID, text="a b c", final=False
    )
    await TranscriptPiece.objects.acreate(
        session_id=session["id"], role="avatar", mid=MID, idx=0, text="a "
    )
    await _forward(page, 1, "b ")
    await _transcript_frames(page, 1)

    assert await _line(session) == ("a b c", False)
    await page.disconnect()


async def test_a_piece_number_no_avatar_sends_is_ignored(world):
    session, page = await _open(world)
    await _forward(page, 10**12, "huge")
    await _forward(page, 0, "Fine.", fin=True)
    frames = await _transcript_frames(page, 1)
    await page.disconnect()

    assert frames[0]["text"] == "Fine."
    assert await _line(session) == ("Fine.", True)


async def test_a_line_created_meanwhile_by_another_process_still_gets_the_longer_text(
    world, monkeypatch
):
    session, page = await _open(world)
    # Piece 0 was recorded by another process, which is about to create the line.
    await TranscriptPiece.objects.acreate(
        session_id=session["id"], role="avatar", mid=MID, idx=0, text="a "
    )
    real_create = TranscriptEntry.objects.acreate

    async def create_after_the_other_process(**fields):
        if not await TranscriptEntry.objects.filter(mid=MID).aexists():
            await real_create(**{**fields, "text": "a ", "final": False})  # theirs, first
        return await real_create(**fields)  # ours: the line exists now

    monkeypatch.setattr(TranscriptEntry.objects, "acreate", create_after_the_other_process)
    await _forward(page, 1, "b", fin=True)
    await _transcript_frames(page, 1)
    await page.disconnect()

    assert await _line(session) == ("a b", True)


async def test_a_stream_message_over_agoras_limit_is_not_recorded(world):
    session, page = await _open(world)
    await _forward(page, 0, "x" * 1100, fin=True)  # no avatar message is over 1 KB
    await _forward(page, 1, "ok")
    frames = await _transcript_frames(page, 1)
    await page.disconnect()

    assert frames[0]["text"] == "ok"
    assert await TranscriptPiece.objects.filter(session_id=session["id"]).acount() == 1
