"""Halves of characters cut at piece edges (as AKool's client cuts, by UTF-16 code units),
through the real sockets: the page forwards the avatar's pieces (`rtc_message`) and is
shown the exact line, never half a character; the sandbox avatar's socket hears the
exact text. The service on its own: test_split_surrogates.py."""

from __future__ import annotations

import json

import pytest

from sessions.models import TranscriptEntry, TranscriptPiece
from sessions.stream.codec import bot_chat_frame, has_lone_surrogate
from tests.support.akool_cut import akool_chunks, akool_frames
from tests.support.wsutil import create_session, open_page, open_sandbox, page_is_witness  # noqa: F401

# The page forwards the avatar's pieces itself, as with AKool.
pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("page_is_witness"),
]

MID = "answer-1"
GRIN = "\U0001f600"


async def _open(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    assert json.loads(await page.receive_from())["type"] == "session"
    return session, page


async def _forward(page, pieces: list[str], order: list[int]) -> None:
    for idx in order:
        frame = bot_chat_frame(pieces[idx], mid=MID, idx=idx, fin=idx == len(pieces) - 1)
        await page.send_json_to({"type": "rtc_message", "data": frame})


async def _transcript_until_final(page) -> list[tuple[str, dict]]:
    """(raw JSON, frame) of each transcript frame for MID, up to the first final one."""
    frames = []
    while not frames or not frames[-1][1]["final"]:
        raw = await page.receive_from(timeout=5)
        message = json.loads(raw)
        if message["type"] == "transcript" and message["mid"] == MID:
            frames.append((raw, message))
    return frames


def _page_text(frames: list[tuple[str, dict]]) -> str:
    """The line as the page's transcript model assembles it (static/js/transcript.js)."""
    text = ""
    for _, frame in frames:
        replaces = frame["final"] and text and frame["text"].startswith(text)
        text = frame["text"] if replaces else text + frame["text"]
    return text


@pytest.mark.parametrize(
    "text",
    ["a" * 217 + GRIN, "\u2764" + GRIN * 600, "Hello " + ("a" + GRIN) * 300],
    ids=["smallest", "emoji-only", "every-edge"],
)
async def test_the_page_is_shown_the_exact_line_and_never_half_a_character(world, text):
    session, page = await _open(world)
    pieces = akool_chunks(text)
    assert has_lone_surrogate(pieces[0])

    await _forward(page, pieces, list(range(len(pieces))))
    frames = await _transcript_until_final(page)
    await page.disconnect()

    # Not even escaped on the wire: the page is never sent half a character.
    assert not any("\\ud8" in raw or "\\ude" in raw for raw, _ in frames)
    assert _page_text(frames) == text
    entry = await TranscriptEntry.objects.aget(session_id=session["id"], mid=MID)
    assert (entry.text, entry.final) == (text, True)
    # Each half waited escaped beside its piece's text, the text itself whole.
    rows = TranscriptPiece.objects.filter(session_id=session["id"]).order_by("idx")
    stored = [row async for row in rows.values_list("opening_half", "text", "closing_half")]
    assert stored[0][2] == "\\ud83d" and stored[1][0] == "\\ude00"
    assert not any(has_lone_surrogate(part) for row in stored for part in row)


async def test_a_late_piece_brings_the_whole_line_with_its_emoji(world):
    session, page = await _open(world)
    text = "x" + GRIN * 400
    pieces = akool_chunks(text)
    order = [0, *range(2, len(pieces)), 1]  # piece 1, holding both halves' partners, last

    await _forward(page, pieces, order)
    frames = await _transcript_until_final(page)  # the final piece, in order
    frames += await _transcript_until_final(page)  # the late piece: the whole line
    await page.disconnect()

    assert frames[-1][1]["text"] == text
    assert not any(has_lone_surrogate(frame["text"]) for _, frame in frames)
    entry = await TranscriptEntry.objects.aget(session_id=session["id"], mid=MID)
    assert entry.text == text


async def test_a_lone_half_in_an_unnumbered_piece_is_still_ignored(world):
    session, page = await _open(world)
    for text in ("a\ud83d", "b"):  # no idx: nothing to join it with
        frame = json.dumps(
            {"v": 2, "type": "chat", "mid": MID, "pld": {"from": "bot", "text": text}}
        )
        await page.send_json_to({"type": "rtc_message", "data": frame})
    frames = await _transcript_until_final(page)
    await page.disconnect()

    assert [frame["text"] for _, frame in frames] == ["b"]


async def test_the_sandbox_socket_hears_the_exact_text(world):
    session = await create_session(world.alice_token, preset="cleo")  # retelling: says it back
    avatar = await open_sandbox(session)
    text = "a" * 217 + GRIN + " then " + ("\u2764" + GRIN * 3) * 150
    frames = akool_frames(text)
    assert 4 <= len(frames) <= 6  # at most 960 bytes each: six fit in one second
    for frame in frames:
        await avatar.send_to(text_data=frame)

    spoken = ""
    while True:
        message = json.loads(await avatar.receive_from(timeout=5))
        assert message["pld"].get("event") != "sandbox_violation", message
        if message["type"] == "chat":
            spoken += message["pld"]["text"]
            if message["fin"]:
                break
    await avatar.disconnect()

    assert spoken == text
