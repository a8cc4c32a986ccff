"""Attack finding 1 on issue 15: redaction ignores whatever can spread a key out unseen
(any run of whitespace, zero-width and format characters, soft hyphens) and its case, in
whole texts and across streamed pieces however wide the gap."""

from __future__ import annotations

import pytest

from sessions.redaction import REDACTED, StreamRedactor, redact
from tools.secret_scan.scanner import leak_pattern

# Plain functions: the same outcome on either pass of make test.
pytestmark = pytest.mark.first_pass

KEY = "sk-test-DO-NOT-LEAK-0123456789"
SPREADS = [
    " " * 4,
    " " * 200,  # wider than any fixed window over the key's length
    "\u200b",
    "\u00ad",
    "\u200d\u2060",
    "\ufeff",
    "\n \t",
]


def spread_keys() -> list[str]:
    keys = [gap.join(KEY) for gap in SPREADS]
    return keys + [KEY.upper(), KEY.lower(), "".join(chr(ord(c) + 0xFEE0) for c in KEY)]


@pytest.mark.parametrize("key", spread_keys())
def test_a_spread_key_is_redacted_in_a_whole_text(key):
    assert redact(f"Here: {key}. Done.", [KEY]) == f"Here: {REDACTED}. Done."


@pytest.mark.parametrize("key", spread_keys())
def test_a_spread_key_is_redacted_across_pieces_split_anywhere(key):
    answer = f"Here it is: {key} . Done."
    for size in (1, 3, 4, 17):
        redactor = StreamRedactor([KEY])
        pieces = [answer[i : i + size] for i in range(0, len(answer), size)]
        out = [redactor.feed(p) for p in pieces] + [redactor.flush()]
        assert "".join(out) == f"Here it is: {REDACTED} . Done."
        assert not any(leak_pattern(KEY).search(piece) for piece in out)


def test_text_that_only_looks_like_a_key_start_is_passed_on_in_the_end():
    redactor = StreamRedactor([KEY])
    said = redactor.feed("the sk-test" + " " * 300) + redactor.feed("results, all fine.")
    assert said + redactor.flush() == "the sk-test" + " " * 300 + "results, all fine."
