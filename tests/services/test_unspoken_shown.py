"""Where the unspoken rest of a cut answer is shown besides the live page: History (struck
through, named "Not said:" for screen readers), the user's export (a line of which
nothing was said still lists its rest), and the replay of a long line."""

from __future__ import annotations

import pytest

from sessions.models import TranscriptEntry
from sessions.realtime import frames
from tests.test_own_data import browser, make_session

SAID, REST = "The museum opens at nine. ", "Tickets cost twelve euros. Enjoy!"


@pytest.fixture
def cut_session(world):
    session = make_session(world, world.alice)
    TranscriptEntry.objects.create(
        session=session, role="avatar", mid="a1", text=SAID, unspoken=REST, final=True, cut=True
    )
    # Interrupted before the avatar began it: nothing said, all of it unsaid.
    TranscriptEntry.objects.create(
        session=session, role="avatar", mid="a2", text="", unspoken="Hello!", final=True, cut=True
    )
    return session


@pytest.mark.django_db
def test_history_shows_the_unspoken_rest_struck_through_and_named(world, cut_session):
    page = browser(world.alice).get(f"/history/{cut_session.pk}/").content.decode()
    assert SAID in page
    assert f'<span class="visually-hidden">Not said:</span><s>{REST}</s>' in page
    assert "<s>Hello!</s>" in page


@pytest.mark.django_db
def test_the_export_keeps_the_rest_apart_and_lists_a_line_of_nothing_said(world, cut_session):
    exported = browser(world.alice).get("/history/export/").json()
    (session,) = exported["sessions"]
    lines = {line["mid"]: line for line in session["transcript"]}
    assert (lines["a1"]["text"], lines["a1"]["unspoken"]) == (SAID, REST)
    assert (lines["a2"]["text"], lines["a2"]["unspoken"]) == ("", "Hello!")
    assert lines["u1"]["unspoken"] == ""


def test_a_long_cut_lines_replay_carries_its_rest_on_its_last_frame():
    said = "word " * (frames.REPLAY_PIECE_CHARS // 4)
    sent = frames.replayed_line("avatar", "a1", said, final=True, cut=True, unspoken=REST)
    assert "".join(f["text"] for f in sent) == said
    assert [f.get("unspoken") for f in sent] == [None] * (len(sent) - 1) + [REST]
    assert sent[-1]["final"] and sent[-1]["cut"]
    # A short one in one frame, the rest beside it.
    (one,) = frames.replayed_line("avatar", "a1", SAID, final=True, cut=True, unspoken=REST)
    assert (one["text"], one["unspoken"], one["replay"]) == (SAID, REST, True)
