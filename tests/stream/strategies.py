"""Hypothesis strategies the stream tests share."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Arbitrary unicode, deliberately heavy on the characters whose JSON size differs from their
# UTF-8 size: quotes, backslashes, control characters, lone surrogates, plus CJK and emoji.
TRICKY = st.sampled_from(
    ['"', "\\", "\n", "\t", "\x00", "\x01", "\x1f", "\x7f", "\u2028", "é", "中", "😀", "/"]
)
ALPHABET = st.one_of(
    st.characters(),  # all of unicode except surrogates
    st.characters(categories=["Cs"]),  # lone surrogates
    st.characters(max_codepoint=0x7F),
    TRICKY,
)
TEXTS = st.one_of(st.text(), st.text(ALPHABET, max_size=3000))
