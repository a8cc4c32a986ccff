"""The sandbox avatar judges a chat's joined text, not each piece: AKool's own client cuts
by UTF-16 code units, so a piece can end with the first half of an emoji and the next
begin with the second (tests/support/akool_cut.py cuts the same way)."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.stream.codec import has_lone_surrogate
from sessions.stream.parser import parse
from tests.providers.sandbox.helpers import Client, make
from tests.support.akool_cut import (
    MID,
    akool_chunks,
    akool_frames,
    chat_frames_of,
    cut_at,
    utf16_len,
)

GRIN = "\U0001f600"  # two UTF-16 units
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # a ZWJ sequence of three emoji
THUMB = "\U0001f44d\U0001f3fd"  # an emoji and its skin tone


async def heard(frames: list[str], *, mode: int = 2) -> tuple[list[str], Client]:
    """What the avatar understood from these frames: the questions its answer function
    was asked (mode 2) or, in mode 1, what it spoke. A chat sent after them (answered in
    order) says when every earlier one was dealt with."""
    client = Client()
    questions: list[str] = []

    async def answer(question: str) -> str:
        questions.append(question)
        return "ok"

    avatar = make(client, mode=mode, answer=answer)
    for frame in [*frames, *chat_frames_of(["(end)"], mid="last")]:
        await avatar.receive(frame)
        client.now += 1.0  # well inside 6,000 bytes a second
    if mode == 1:
        await client.until(lambda: client.answers()[-1:] == ["(end)"])
    else:
        await client.until(lambda: questions[-1:] == ["(end)"])
    await avatar.aclose()
    return questions[:-1], client


def _lone_halves(frames: list[str]) -> int:
    return sum(has_lone_surrogate(parse(frame).text) for frame in frames)


@pytest.mark.asyncio
async def test_the_smallest_case_217_ascii_characters_then_an_emoji():
    text = "a" * 217 + GRIN
    frames = akool_frames(text)
    # Cut after 218 units: the first half ends the first frame, escaped in its JSON.
    assert akool_chunks(text) == ["a" * 217 + "\ud83d", "\ude00"]
    assert frames[0].endswith('\\ud83d"}}') and '"text":"\\ude00"' in frames[1]

    questions, client = await heard(frames)
    assert questions == [text]
    assert "sandbox_violation" not in client.events()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "text",
    [
        "\u2764" + GRIN * 600,  # emoji only, one unit then pairs: an emoji across every edge
        GRIN * 600,  # emoji only, pairs only: every edge falls between two emoji
        (FAMILY + THUMB) * 120,
        "\u2764" + (GRIN + "\U0001f389" + FAMILY) * 100,
    ],
    ids=["odd", "even", "sequences", "mixed"],
)
async def test_a_text_of_emoji_only_is_heard_exactly(text):
    frames = akool_frames(text)
    assert len(frames) > 3
    questions, _ = await heard(frames)
    assert questions == [text]


@pytest.mark.asyncio
async def test_an_emoji_across_every_edge_is_heard_exactly_in_any_order():
    text = "x" + GRIN * 700
    frames = akool_frames(text)
    # Every frame but the last ends with a first half, every one but the first opens
    # with a second half.
    assert _lone_halves(frames) == len(frames) > 5
    random.Random(14).shuffle(frames)
    questions, _ = await heard(frames)
    assert questions == [text]


@pytest.mark.asyncio
async def test_in_retelling_mode_it_speaks_the_joined_text():
    text = "Hi " * 72 + "a" + GRIN + " and " + THUMB * 100
    _, client = await heard(akool_frames(text), mode=1)
    assert client.answers() == [text, "(end)"]
    assert not any(has_lone_surrogate(piece.text) for piece in client.bot_pieces())


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "pieces",
    [
        ["a\ud83d", "b"],  # a first half with no second
        ["a", "\ude00b"],  # a second half with no first
        ["a\ud83d", "\ud83db"],  # two first halves
        ["a\ud83dz", "b"],  # a half inside a piece: no neighbour can complete it
        ["a\ud83d"],  # a first half at the very end
    ],
)
async def test_a_text_still_invalid_once_joined_is_ignored(pieces):
    questions, client = await heard(chat_frames_of(pieces))
    assert questions == []
    assert client.answers() == ["ok"]  # the next chat is answered as usual


@pytest.mark.asyncio
async def test_the_halves_of_two_chats_are_never_mixed():
    first = chat_frames_of(["a\ud83d", "\ude00b"], mid="one")
    second = chat_frames_of(["c\ud83d", "\ude02d"], mid="two")
    questions, _ = await heard([first[0], second[0], second[1], first[1]])
    assert questions == ["c\U0001f602d", "a" + GRIN + "b"]


# -- any cut, any order -------------------------------------------------------------------

characters = st.one_of(
    st.sampled_from([GRIN, "\U0001f389", "\u2764", FAMILY, THUMB, "\U0010ffff", "語", "é"]),
    st.characters(codec="utf-8"),
)
texts = st.lists(characters, min_size=1, max_size=40).map("".join)


@st.composite
def cut_texts(draw) -> tuple[str, list[str]]:
    text = draw(texts)
    units = utf16_len(text)
    offsets = draw(st.sets(st.integers(1, units - 1), max_size=20)) if units > 1 else set()
    return text, cut_at(text, offsets)


@given(cut_texts(), st.randoms(use_true_random=False))
@settings(max_examples=150, deadline=None)
def test_any_cut_in_utf16_units_in_any_order_is_heard_exactly(cut, rnd):
    text, pieces = cut
    assert "".join(pieces).encode("utf-16-le", "surrogatepass") == text.encode("utf-16-le")
    frames = chat_frames_of(pieces, mid=MID)
    rnd.shuffle(frames)
    questions, _ = asyncio.run(heard(frames))
    assert questions == [text]


@given(st.lists(characters, min_size=200, max_size=900).map("".join))
@settings(max_examples=40, deadline=None)
def test_any_text_cut_as_akools_client_cuts_it_is_heard_exactly(text):
    questions, _ = asyncio.run(heard(akool_frames(text)))
    assert questions == [text]
