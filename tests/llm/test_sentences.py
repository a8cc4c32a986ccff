"""Cutting a streamed answer into sentences (sessions/llm/sentences.py)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessions.llm.sentences import SentenceSplitter

# --- sentences ------------------------------------------------------------------------------


def split_all(text: str, max_chars: int = 300) -> list[str]:
    splitter = SentenceSplitter(max_chars)
    pieces = splitter.feed(text)
    rest = splitter.flush()
    return pieces + ([rest] if rest else [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello there. How are you? Fine!", ["Hello there. ", "How are you? ", "Fine!"]),
        ("Dr. Smith met Mr. Jones. Then", ["Dr. Smith met Mr. Jones. ", "Then"]),
        ("Use e.g. a map, i.e. paper. Done.", ["Use e.g. a map, i.e. paper. ", "Done."]),
        ("Pi is 3.14 today. Yes.", ["Pi is 3.14 today. ", "Yes."]),
        ("The U.S. Army. J. R. R. Tolkien.", ["The U.S. Army. ", "J. R. R. Tolkien."]),
        ("Well... maybe not. Or… Yes.", ["Well... maybe not. ", "Or… ", "Yes."]),
        ("东京很大。你去过吗？去过！", ["东京很大。", "你去过吗？", "去过！"]),
        ("「行こう。」と言った。", ["「行こう。」", "と言った。"]),
        ('He said "Stop." Then left.', ['He said "Stop." ', "Then left."]),
        ("Wow!! Really?! Yes.", ["Wow!! ", "Really?! ", "Yes."]),
        ("Steps:\n\n1. Open it.\n2. Close it.", ["Steps:\n\n", "1. Open it.\n", "2. Close it."]),
        ("A heading\n\nbody text", ["A heading\n\n", "body text"]),
        ("a wrapped\nline continues. Next", ["a wrapped\nline continues. ", "Next"]),
        ("In 2024. The end", ["In 2024. ", "The end"]),
        ("Trailing space after the end.  ", ["Trailing space after the end.  "]),
    ],
)
def test_sentences_end_where_a_reader_would_pause(text, expected):
    assert split_all(text) == expected


def test_a_sentence_is_released_as_soon_as_the_next_word_starts():
    splitter = SentenceSplitter()
    assert splitter.feed("It is 3.") == []  # 3.14? the next character decides
    assert splitter.feed("14 now.") == []
    assert splitter.feed(" ") == []  # "now. " may still be "now. but"
    assert splitter.feed("Next") == ["It is 3.14 now. "]
    assert splitter.feed(" one") == []
    assert splitter.flush() == "Next one"
    assert splitter.flush() is None


def test_a_long_sentence_is_cut_at_its_last_space():
    words = " ".join(["word"] * 200)  # 999 characters without a sentence end
    pieces = split_all(words, max_chars=300)
    assert "".join(pieces) == words
    assert all(len(p) <= 300 for p in pieces)
    assert all(p.endswith(" ") for p in pieces[:-1])
    assert len(pieces[0]) > 250


def test_text_without_spaces_is_cut_after_a_comma_or_anywhere():
    cjk = "很长的句子，" * 80
    pieces = split_all(cjk, max_chars=50)
    assert "".join(pieces) == cjk
    assert all(p.endswith("，") for p in pieces[:-1])
    blob = "x" * 120
    assert split_all(blob, max_chars=50) == ["x" * 50, "x" * 50, "x" * 20]


SENTENCEY = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("ab Dr.e.g!?…。！？」\"')\n\t 31")),
        st.characters(codec="utf-8"),
    ),
    max_size=200,
)


@given(SENTENCEY, st.lists(st.integers(0, 200), max_size=10), st.integers(2, 60))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_sentences_reassemble_exactly_whatever_the_token_boundaries(text, cuts, max_chars):
    bounds = sorted({min(c, len(text)) for c in cuts})
    chunks = [text[a:b] for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True)]
    splitter = SentenceSplitter(max_chars)
    pieces = [p for chunk in chunks for p in splitter.feed(chunk)]
    rest = splitter.flush()
    if rest is not None:
        pieces.append(rest)
    assert "".join(pieces) == text
    assert all(pieces) and all(len(p) <= max_chars for p in pieces)
    # Decisions depend only on the text, never on how it was cut into tokens.
    assert pieces == split_all(text, max_chars)
