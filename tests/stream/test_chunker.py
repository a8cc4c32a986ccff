"""Splitting text into frames within a byte budget (sessions/stream/chunker.py)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessions.stream.chunker import char_costs, chat_frames, split_text
from sessions.stream.codec import encode, new_mid
from sessions.stream.parser import ChatMessage, parse
from tests.stream.strategies import ALPHABET, PROPERTY, TEXTS, TRICKY


def size(frame: str) -> int:
    return len(frame.encode("utf-8"))


def envelope(mid: str, idx: int, fin: bool) -> int:
    """Size of a chat frame with empty text: what the chunker must leave room for."""
    return size(encode({"v": 2, "type": "chat", "mid": mid, "idx": idx, "fin": fin,
                        "pld": {"text": ""}}))  # fmt: skip


def cost(ch: str) -> int:
    return size(encode(ch)) - 2


def is_high(ch: str) -> bool:
    return "\ud800" <= ch <= "\udbff"


def is_low(ch: str) -> bool:
    return "\udc00" <= ch <= "\udfff"


# -- character costs --------------------------------------------------------------------


@given(st.one_of(st.characters(), st.characters(categories=["Cs"]), TRICKY))
@PROPERTY
def test_char_costs_match_what_encode_produces(ch):
    assert char_costs(ch) == [cost(ch)]


# -- chunking ---------------------------------------------------------------------------


@given(
    text=TEXTS,
    budget=st.integers(64, 1024),
    mid=st.one_of(st.just("m"), st.just(new_mid()), st.text(max_size=12)),
)
@PROPERTY
def test_chat_frames_fit_reassemble_and_are_full(text, budget, mid):
    try:
        frames = chat_frames(text, mid=mid, budget=budget)
    except ValueError:
        # Only when a frame truly cannot hold a character: the worst case is a 6-byte escape
        # in a frame whose idx has as many digits as the text has characters.
        assert budget < envelope(mid, max(len(text) - 1, 0), False) + 6
        return

    assert frames
    messages = [parse(f) for f in frames]
    for i, (frame, msg) in enumerate(zip(frames, messages, strict=True)):
        assert size(frame) <= budget
        assert isinstance(msg, ChatMessage)
        assert (msg.mid, msg.idx, msg.fin, msg.sender) == (mid, i, i == len(frames) - 1, None)
        assert list(json.loads(frame)) == ["v", "type", "mid", "idx", "fin", "pld"]
    assert "".join(m.text for m in messages) == text

    # Full: greedy by code point, so the free room left in a frame is smaller than the
    # character that opens the next one (at most 3 bytes, or 5 before a 6-byte escape).
    # Exception: a high+low surrogate pair is kept apart, because JSON would fuse it.
    for i in range(len(frames) - 1):
        here, after = messages[i].text, messages[i + 1].text
        assert here and after
        if is_high(here[-1]) and is_low(after[0]):
            continue
        slack = budget - size(frames[i])
        assert slack < cost(after[0])
        assert slack <= 5
        assert slack <= 3 or cost(after[0]) == 6


@given(text=st.text(ALPHABET, min_size=1, max_size=400), budget=st.integers(90, 1024))
@PROPERTY
def test_split_text_pieces_fit_and_join_exactly(text, budget):
    pieces = split_text(text, budget - 80)
    assert "".join(pieces) == text
    for piece in pieces:
        assert sum(char_costs(piece)) <= budget - 80


def test_empty_text_gives_one_empty_final_frame():
    frames = chat_frames("", mid="m")
    assert frames == ['{"v":2,"type":"chat","mid":"m","idx":0,"fin":true,"pld":{"text":""}}']


def test_a_short_text_is_one_frame_with_a_fresh_mid():
    (frame,) = chat_frames("Hello!")
    msg = parse(frame)
    assert msg.text == "Hello!" and msg.fin is True and msg.mid.startswith("msg-")


def test_ascii_frames_use_the_whole_budget():
    frames = chat_frames("a" * 5000, mid="m", budget=950)
    assert [size(f) for f in frames[:-1]] == [950] * (len(frames) - 1)


def test_fin_true_saves_the_byte_that_lets_the_rest_fit():
    # With fin=true the envelope is one byte shorter: text that fills a fin=true frame
    # exactly must go as a single frame, not be split off by one character.
    room = 950 - envelope("m", 0, True)
    assert len(chat_frames("a" * room, mid="m")) == 1
    assert len(chat_frames("a" * (room + 1), mid="m")) == 2


def test_idx_digits_are_accounted_for():
    frames = chat_frames("x" * 20_000, mid="m", budget=100)
    assert len(frames) > 100
    assert all(size(f) <= 100 for f in frames)
    assert size(frames[5]) == 100 and size(frames[50]) == 100


def test_a_surrogate_pair_never_shares_a_frame():
    text = "\ud83d\ude00"
    frames = chat_frames(text, mid="m")
    assert [parse(f).text for f in frames] == ["\ud83d", "\ude00"]


def test_it_rejects_budgets_over_agoras_limit():
    with pytest.raises(ValueError):
        chat_frames("hi", budget=1025)


def test_it_rejects_a_budget_too_small_for_one_character():
    with pytest.raises(ValueError):
        chat_frames("hi", mid="m", budget=60)


@pytest.mark.parametrize("text", ["a" * 10_000, "中" * 10_000, "😀" * 10_000, "\x01" * 10_000])
def test_chunking_10k_characters_is_fast(text):
    started = time.perf_counter()
    frames = chat_frames(text)
    assert time.perf_counter() - started < 0.25
    assert "".join(parse(f).text for f in frames) == text
