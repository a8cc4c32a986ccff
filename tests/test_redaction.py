"""sessions.redaction, the one home of hiding our credentials in upstream text: a key is
found whole, split by whitespace, across the cut and across streamed pieces."""

from __future__ import annotations

from sessions.redaction import REDACTED, StreamRedactor, redact, redact_and_cut
from tools.secret_scan.scanner import leak_pattern

KEY = "sk-test-DO-NOT-LEAK-0123456789"
OTHER = "akool-DO-NOT-LEAK-abcdef"


def leaks(text: str) -> bool:
    return any(leak_pattern(s).search(text) for s in (KEY, OTHER))


def test_a_key_is_redacted_whole_and_split_by_whitespace_or_line_breaks():
    split = f"{KEY[:7]} {KEY[7:15]}\n{KEY[15:]}"
    text = redact(f"bad key {KEY}; again: {split}; other {OTHER}.", [KEY, OTHER])
    assert text == f"bad key {REDACTED}; again: {REDACTED}; other {REDACTED}."


def test_tiny_or_missing_secrets_redact_nothing():
    assert redact("a k in a sentence", ["k", "", None]) == "a k in a sentence"


def test_redaction_comes_before_the_cut_so_no_prefix_is_left():
    # The key starts 10 characters before the cut: cutting first left those 10 behind
    # (and up to the whole key but its end).
    for before in (290, 280, 275, 300 - len(KEY) + 1):
        text = redact_and_cut("x" * before + KEY + " and more", [KEY], 300)
        assert not leaks(text) and KEY[:8] not in text
        assert REDACTED in text


def test_a_stream_split_anywhere_never_passes_a_key_on():
    answer = f"My key is {KEY} and also {KEY[:10]}  {KEY[10:]}, bye. s"
    for size in (1, 2, 3, 4, 7, 13):
        redactor = StreamRedactor([KEY, OTHER])
        pieces = [answer[i : i + size] for i in range(0, len(answer), size)]
        out = [redactor.feed(p) for p in pieces] + [redactor.flush()]
        joined = "".join(out)
        assert joined == f"My key is {REDACTED} and also {REDACTED}, bye. s"
        # And no piece on its own carried a readable start of the key either.
        assert not any(KEY[:6] in piece for piece in out)


def test_a_stream_without_secrets_passes_pieces_on_at_once():
    redactor = StreamRedactor(["", None])
    assert redactor.feed("sk-") == "sk-"
    redactor = StreamRedactor([KEY])
    assert redactor.feed("Hello ") == "Hello "
