"""The transcript keeps a character cut in half at the edge of two pieces (AKool's client
cuts text by UTF-16 code units; its servers may cut the avatar's answers the same way):
each half waits, escaped, in its piece's row, the line is rebuilt with the pair as one
character, and neither the line nor what the page is shown ever holds half of one.
tests/support/akool_cut.py cuts as AKool's client does. Through the real socket:
test_split_surrogates_socket.py."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessions.models import AvatarSession, TranscriptEntry, TranscriptPiece
from sessions.services import transcript
from sessions.services.transcript import Shown
from sessions.stream.codec import has_lone_surrogate
from tests.support.akool_cut import akool_chunks, cut_at, utf16_len

pytestmark = [pytest.mark.django_db(transaction=True)]

MID = "bot-1"
GRIN = "\U0001f600"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
_mids = itertools.count()


@pytest.fixture
def session(world):
    return AvatarSession.objects.create(
        owner=world.alice, principal="user:1", provider="sandbox", avatar_id="x", duration=60
    )


async def piece(session, idx, text, *, fin=False, mid=MID) -> Shown | None:
    return await transcript.record_piece(
        session.pk, role="avatar", mid=mid, idx=idx, text=text, fin=fin, received_at=timezone.now(),
        by_page=True,
    )


async def record(session, pieces: list[str], order=None, mid=MID) -> list[Shown]:
    """Record the pieces (in `order`, a list of indexes, else in idx order); the updates."""
    order = range(len(pieces)) if order is None else order
    last = len(pieces) - 1
    shown = [await piece(session, i, pieces[i], fin=i == last, mid=mid) for i in order]
    return [update for update in shown if update is not None]


async def line(session, mid=MID) -> tuple[str, bool]:
    found = await TranscriptEntry.objects.aget(session=session, mid=mid)
    return found.text, found.final


def whole_halves(updates: list[Shown]) -> bool:
    return not any(has_lone_surrogate(update.text) for update in updates)


@pytest.mark.asyncio
async def test_the_smallest_case_217_ascii_characters_then_an_emoji(session):
    text = "a" * 217 + GRIN
    pieces = akool_chunks(text)
    assert pieces == ["a" * 217 + "\ud83d", "\ude00"]

    shown = await record(session, pieces)

    # The first half is held back until its partner comes; then the emoji is shown whole.
    assert shown == [Shown("avatar", MID, "a" * 217, False), Shown("avatar", MID, GRIN, True)]
    assert await line(session) == (text, True)
    rows = TranscriptPiece.objects.filter(session=session).order_by("idx")
    stored = [row async for row in rows.values_list("opening_half", "text", "closing_half")]
    assert stored == [("", "a" * 217, "\\ud83d"), ("\\ude00", "", "")]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "text",
    ["\u2764" + GRIN * 600, GRIN * 600, "x" + (FAMILY + "\U0001f44d\U0001f3fd") * 100],
    ids=["odd", "even", "sequences"],
)
async def test_a_text_of_emoji_only_is_stored_and_shown_exactly(session, text):
    pieces = akool_chunks(text)
    assert len(pieces) > 3

    shown = await record(session, pieces)

    assert whole_halves(shown)
    assert "".join(update.text for update in shown) == text
    assert await line(session) == (text, True)


@pytest.mark.asyncio
async def test_an_emoji_across_every_edge_arriving_backwards(session):
    text = "\u2764" + GRIN * 500
    pieces = akool_chunks(text)
    assert all(has_lone_surrogate(p) for p in pieces)

    shown = await record(session, pieces, order=reversed(range(len(pieces))))

    assert whole_halves(shown)
    # The final piece came first; every later one is late into a final line, so the
    # page is sent the whole line, which ends exact.
    assert shown[-1] == Shown("avatar", MID, text, True)
    assert await line(session) == (text, True)


@pytest.mark.asyncio
async def test_a_half_waits_for_its_partner_even_after_the_line_ended(session):
    assert await piece(session, 0, "a\ud83d") == Shown("avatar", MID, "a", False)
    assert await piece(session, 2, "c", fin=True) == Shown("avatar", MID, "c", True)
    assert await line(session) == ("ac", True)

    late = await piece(session, 1, "\ude00b")

    assert late == Shown("avatar", MID, "a" + GRIN + "bc", True)
    assert await line(session) == ("a" + GRIN + "bc", True)


@pytest.mark.asyncio
async def test_two_processes_recording_the_pieces_at_once_leave_the_exact_line(session):
    text = "Smile " + ("a" + GRIN + "\u2764") * 400
    pieces = akool_chunks(text)
    last = len(pieces) - 1
    records = [piece(session, i, p, fin=i == last) for i, p in enumerate(pieces)]
    random.Random(14).shuffle(records)

    shown = await asyncio.gather(*records)

    assert whole_halves([update for update in shown if update is not None])
    assert await line(session) == (text, True)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("pieces", "kept"),
    [
        (["a\ud83d", "b"], "ab"),  # a first half with no second
        (["a", "\ude00b"], "ab"),  # a second half with no first
        (["a\ud83d", "\ude00\ud83d", "b"], "a" + GRIN + "b"),  # one first half too many
        (["a\ud83d"], "a"),  # a first half at the very end
    ],
)
async def test_a_half_that_can_never_be_whole_is_dropped(session, pieces, kept):
    shown = await record(session, pieces)

    assert whole_halves(shown)
    assert "".join(update.text for update in shown) == kept
    assert await line(session) == (kept, True)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "text", ["a\ud83db", "\ude00x\ud83d\ud83d", "nul\x00"], ids=["inside", "before", "nul"]
)
async def test_a_piece_with_a_half_inside_is_refused(session, text):
    # A half inside a piece has neighbours of its own: no other piece can complete it.
    assert await piece(session, 0, text) is None
    assert await piece(session, None, "\ud83d", mid="unnumbered") is None  # no edges to join
    assert not await TranscriptPiece.objects.filter(session=session).aexists()
    assert not await TranscriptEntry.objects.filter(session=session).aexists()


@pytest.mark.asyncio
async def test_the_replay_carries_the_exact_line(session):
    text = "x" + GRIN * 300
    await record(session, akool_chunks(text))
    assert [entry.text async for entry in transcript.lines(session.pk)] == [text]


# -- any cut, any order -------------------------------------------------------------------

characters = st.one_of(
    st.sampled_from([GRIN, "\u2764", FAMILY, "\U0010ffff", "語", "é", " "]),
    st.characters(codec="utf-8", exclude_characters="\x00"),  # no avatar sends a NUL
)


@st.composite
def cut_texts(draw) -> tuple[str, list[str], list[int]]:
    text = draw(st.lists(characters, min_size=1, max_size=80).map("".join))
    units = utf16_len(text)
    offsets = draw(st.sets(st.integers(1, units - 1), max_size=25)) if units > 1 else set()
    pieces = cut_at(text, offsets)
    return text, pieces, draw(st.permutations(range(len(pieces))))


@given(cut_texts())
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_cut_in_any_order_is_stored_and_shown_exactly(session, cut):
    text, pieces, order = cut
    mid = f"bot-{next(_mids)}"

    async def run() -> tuple[list[Shown], list[Shown]]:
        in_order = await record(session, pieces, mid=mid + "-in-order")
        any_order = await record(session, pieces, order=order, mid=mid)
        return in_order, any_order

    # Thread-sensitive ORM calls run on this thread, on the test's own connection.
    in_order, any_order = async_to_sync(run)()

    assert whole_halves(in_order) and whole_halves(any_order)
    assert "".join(update.text for update in in_order) == text
    for name in (mid, mid + "-in-order"):
        assert TranscriptEntry.objects.get(session=session, mid=name).text == text
