"""Cutting a streamed answer into sentences, so the avatar can speak each one as soon as
it is complete instead of waiting for the whole answer."""

from __future__ import annotations

import re

_TERMINATORS = frozenset(".!?…。！？‼⁇⁈⁉")
# Full-width terminators end a sentence without a following space: CJK text has none.
_CJK_TERMINATORS = frozenset("。！？")
# May follow a terminator and still belong to the sentence: `"Stop." Then`, `**Note.**`.
_CLOSERS = frozenset("\"')]}»”’」』）】〕〉》*")
_OPENERS = "\"'([{«“‘¿¡*"
# Where a sentence too long to wait for may be cut when it has no space.
_SOFT_BREAKS = frozenset(",;:，、；：")
_LINE_BREAKS = frozenset("\n\u2028\u2029")
_ABBREVIATIONS = frozenset(
    """mr mrs ms mx dr prof sr jr st vs fig figs approx dept est inc ltd co corp gen gov
    sen rep rev capt lt col sgt mt ft no nos vol pp ch cf al""".split()
)
# Letters separated by dots: "e.g", "i.e", "U.S", "a.m".
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")


class SentenceSplitter:
    """Cuts a streamed answer into sentences as soon as each is known to be complete.

    A sentence ends after a terminator (``. ! ? …`` followed by whitespace; the CJK
    ``。！？`` with or without it), with any closing quotes or brackets and the whitespace
    that follows, or at a line break. Whether it really ended is decided by the next
    non-space character, so "3." waits to see "3.14", and "Dr." / "e.g." / "J." /
    a list's "1." / an ellipsis or period followed by a lowercase word do not end one.
    A single line break before a lowercase word does not either (a wrapped line);
    a blank line always does.

    A sentence with no end in ``max_chars`` characters is cut at its last space (else
    after a comma-like mark, else anywhere): a long sentence still starts speaking. Every
    piece is at most ``max_chars`` long.

    Each decision depends only on the text up to the character that settles it, so the
    pieces do not depend on how the text was cut into tokens, and ``"".join(pieces) +
    (flush() or "")`` is exactly the text fed.
    """

    def __init__(self, max_chars: int = 300) -> None:
        if max_chars < 2:
            raise ValueError("max_chars must be at least 2")
        self.max_chars = max_chars
        self._buf = ""
        self._scan = 1  # next index of _buf to examine; a boundary needs text before it

    def feed(self, text: str) -> list[str]:
        """The sentences that ``text`` completes, in order (possibly none)."""
        if not text:
            return []
        buf = self._buf + text
        start = 0
        out: list[str] = []
        i = max(self._scan, 1)
        while i < len(buf):
            end = None
            if not buf[i].isspace() and self._ends_before(buf, start, i):
                end = i
            elif i - start >= self.max_chars:
                end = self._cut(buf, start, i)
            if end is None:
                i += 1
                continue
            out.append(buf[start:end])
            start = end
            i = start + 1
        self._buf = buf[start:]
        self._scan = i - start
        return out

    def flush(self) -> str | None:
        """The rest of the text (the last sentence and its trailing space), if any; the
        splitter is then empty and can be reused."""
        rest, self._buf, self._scan = self._buf, "", 1
        return rest or None

    def _ends_before(self, buf: str, start: int, i: int) -> bool:
        """Whether a sentence ends just before ``buf[i]``, a non-space character."""
        j = i
        newlines = 0
        while j > start and buf[j - 1].isspace():
            j -= 1
            newlines += buf[j] in _LINE_BREAKS
        k = j
        while k > start and buf[k - 1] in _CLOSERS:
            k -= 1
        t = k
        while t > start and buf[t - 1] in _TERMINATORS:
            t -= 1
        if (
            t < k
            and self._terminates(buf, start, t, k, j < i, buf[i])
            and t > start
            and not buf[start:t].isspace()  # a sentence needs words, not just "?! "
        ):
            return True
        if newlines and j > start and not buf[start:j].isspace():
            return newlines > 1 or not buf[i].islower()
        return False

    def _terminates(self, buf: str, start: int, t: int, k: int, spaced: bool, nxt: str) -> bool:
        cluster = buf[t:k]
        if any(ch in _CJK_TERMINATORS for ch in cluster):
            # Unspaced, the sentence goes on while closers and terminators do: "。」".
            return spaced or not (nxt in _CLOSERS or nxt in _TERMINATORS)
        if not spaced:
            return False  # "3.14", "a.b", "Hi!!!" still arriving
        if any(ch in "!?‼⁇⁈⁉" for ch in cluster):
            return True
        # Periods and ellipses: a lowercase word after them continues the sentence
        # ("e.g. this", "Well… maybe").
        if nxt.islower():
            return False
        if cluster != ".":
            return True
        s = t
        while s > start and not buf[s - 1].isspace():
            s -= 1
        word = buf[s:t].lstrip(_OPENERS)
        if word.casefold() in _ABBREVIATIONS or _DOTTED.fullmatch(word):
            return False
        if len(word) == 1 and word.isupper():
            return False  # an initial: "J. Smith"
        if word.isdigit() and len(word) <= 3:
            # "1. First": a list number at the start of a line is not a sentence.
            before = buf[start:s].rstrip(" \t")
            return not (before == "" or before[-1] in _LINE_BREAKS)
        return True

    def _cut(self, buf: str, start: int, i: int) -> int:
        """Where to cut ``buf[start:i]`` (max_chars long, no sentence end in it)."""
        first = start
        while first < i and buf[first].isspace():
            first += 1
        for marks in (None, _SOFT_BREAKS):
            for p in range(i - 1, first, -1):
                if buf[p].isspace() if marks is None else buf[p] in marks:
                    return p + 1
        end = i
        # Never between the halves of a surrogate pair held as two code points.
        if end - 1 > start and "\ud800" <= buf[end - 1] <= "\udbff":
            end -= 1
        return end
