"""The sandbox avatar's built-in responder (sessions/providers/sandbox/responder.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.providers.sandbox import responder


def test_responder_is_deterministic_and_varies_with_the_turn():
    assert responder.reply("Tell me about volcanoes", turn=3) == responder.reply(
        "Tell me about volcanoes", turn=3
    )
    replies = {responder.reply("Tell me about volcanoes", turn=t) for t in range(1, 20)}
    assert len(replies) >= 3


def test_responder_reflects_the_topic_of_a_question():
    assert "photosynthesis" in responder.reply("How does photosynthesis work?", turn=1)
    assert "volcanoes" in responder.reply("I really like volcanoes", turn=1).lower()


def test_responder_handles_greetings_empty_and_long_input():
    assert responder.reply("Hello!", turn=1) in responder._GREETING_REPLIES
    assert responder.reply("   ", turn=1) in responder._EMPTY
    long = responder.reply("blah " * 5000, turn=1)
    assert len(long) < 200


@given(text=st.text(), turn=st.integers(0, 10**6))
@settings(max_examples=200, deadline=None)
def test_responder_replies_are_short_sentences(text, turn):
    answer = responder.reply(text, turn=turn)
    assert answer.strip() and len(answer) <= 200
    terminators = sum(answer.count(c) for c in ".!?") - 2 * answer.count("...")
    assert 1 <= terminators <= 3
