"""Issue 15, item 7: a transcript line over 64 KB made every later connect to its
session fail (daphne refuses a frame over 64 KiB; the page reconnected forever). Long
lines are replayed, and shown, in pieces under the limit."""

from __future__ import annotations

import json

import pytest

from sessions.models import AvatarSession, TranscriptEntry
from sessions.realtime import frames
from sessions.services.transcript import Shown
from tests.support.wsutil import create_session, open_page

pytestmark = pytest.mark.django_db(transaction=True)

# What `manage.py serve` lets daphne carry (--websocket-max-message-size).
WS_FRAME_LIMIT = 65536


class PageTranscript:
    """The page's transcript model (static/js/transcript.js), for one line."""

    def __init__(self) -> None:
        self.lines: dict[str, dict] = {}

    def apply(self, f: dict) -> None:
        line = self.lines.get(f["mid"])
        if line is None:
            self.lines[f["mid"]] = {"text": f["text"], "final": f["final"], "cut": f.get("cut")}
            return
        if f.get("replay"):
            line["text"], line["final"] = f["text"], f["final"]
        elif f["final"]:
            whole = line["final"] or (line["text"] and f["text"].startswith(line["text"]))
            line["text"] = f["text"] if whole else line["text"] + f["text"]
            line["final"] = True
        else:
            line["text"] += f["text"]
            line["final"] = False
        if f.get("cut"):
            line["cut"] = True


def size(frame: dict) -> int:
    return len(frames.encode(frame).encode("utf-8"))


# Characters that take the most bytes on the wire: a control character is written as
# six (\u0001), an emoji as four.
HEAVY = "a😀\x01é"


@pytest.mark.asyncio
@pytest.mark.parametrize("final", [True, False], ids=["over", "still-spoken"])
async def test_a_200_kb_line_is_replayed_whole_in_frames_under_the_limit(world, final):
    session = await create_session(world.alice_token)
    text = (HEAVY * 60_000)[:200_000]
    await TranscriptEntry.objects.acreate(
        session_id=session["id"], role="avatar", mid="long", text=text, final=final, cut=final
    )
    page = await open_page(session, world.alice_token)
    received = []
    while not await page.receive_nothing(timeout=0.3):
        raw = await page.receive_from()
        assert len(raw.encode("utf-8")) < WS_FRAME_LIMIT
        received.append(json.loads(raw))
    await page.disconnect()

    assert received[0]["type"] == "session" and received[0]["status"] == "active"
    model = PageTranscript()
    for frame in received[1:]:
        model.apply(frame)
    assert model.lines["long"] == {"text": text, "final": final, "cut": final}
    assert len(received) > 10  # in pieces
    row = await AvatarSession.objects.aget(pk=session["id"])
    assert row.status == "active"


def test_a_surrogate_pair_is_never_split_between_pieces():
    pair = "\ud83d\ude00"  # as two code points, should a text ever hold them so
    text = "x" * (frames.REPLAY_PIECE_CHARS - 1) + pair + "y" * 10
    pieces = [f["text"] for f in frames.replayed_line("avatar", "m", text, final=True, cut=False)]
    assert "".join(pieces) == text
    assert all(not p or not ("\ud800" <= p[-1] <= "\udbff") for p in pieces)
    assert pieces[1].startswith(pair)


def test_a_whole_line_shown_live_goes_in_pieces_under_the_limit():
    """A late piece brings its whole line to the page: a long one in pieces too."""
    text = HEAVY * 5000
    model = PageTranscript()
    model.apply(frames.transcript("avatar", "m", "first part", final=False))
    out = frames.shown(Shown("avatar", "m", text, True))
    assert len(out) > 1 and all(size(f) < WS_FRAME_LIMIT for f in out)
    for frame in out:
        model.apply(frame)
    assert model.lines["m"]["text"] == text and model.lines["m"]["final"]


def test_a_short_line_is_one_frame_as_before():
    [frame] = frames.replayed_line("user", "m", "hello", final=True, cut=False)
    assert frame == {
        "type": "transcript",
        "role": "user",
        "mid": "m",
        "text": "hello",
        "final": True,
        "cut": False,
        "replay": True,
    }
