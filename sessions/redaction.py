"""The one home of redaction: hiding our credentials in text an upstream sent back.

Upstreams echo a key they were sent (a wrong key in an error message, a model repeating its
prompt). Whatever of their text reaches a person or a log goes through here first, whole:
redact, then cut, so a key across the cut cannot leave its prefix behind. A key is found
even when whitespace, line breaks or invisible characters (zero-width spaces, soft
hyphens) split it, in any case, and streamed text is redacted across its pieces
(`StreamRedactor` holds back a tail that could be the start of a key, however spread out).

Plain Python (no Django): the AKool provider and the LLM client use it with the secrets
they were configured with.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

REDACTED = "[redacted]"
# Shorter values would match ordinary text (tests configure "k" as a placeholder key).
MIN_SECRET_LENGTH = 8


def _usable(secrets: Iterable[str | None]) -> list[str]:
    found = {s.strip() for s in secrets if s and len(s.strip()) >= MIN_SECRET_LENGTH}
    return sorted(found, key=len, reverse=True)  # longest first: a key inside another


def _hidden(char: str) -> bool:
    """A character that shows as nothing between a key's characters: whitespace, controls,
    format characters (zero-width space, soft hyphen, joiners) and combining marks."""
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Mn", "Me")


def _fold(char: str) -> str:
    """One character as compared: lower case, compatibility forms (full-width letters)
    read as plain ones; kept as it is when that would not stay one character."""
    folded = unicodedata.normalize("NFKC", char).lower()
    return folded if len(folded) == 1 else char


def _squeezed(text: str) -> tuple[str, list[int]]:
    """`text` as compared (hidden characters left out, the rest folded), and where in
    `text` each of its characters stands."""
    where = [i for i, char in enumerate(text) if not _hidden(char)]
    return "".join(_fold(text[i]) for i in where), where


def _folded(secrets: list[str]) -> list[str]:
    return ["".join(_fold(c) for c in s if not _hidden(c)) for s in secrets]


def _redact(text: str, secrets: list[str]) -> str:
    if not text or not secrets:
        return text
    squeezed, where = _squeezed(text)
    found = re.finditer("|".join(re.escape(s) for s in _folded(secrets)), squeezed)
    parts, done = [], 0
    for match in found:
        start, end = where[match.start()], where[match.end() - 1] + 1
        parts += [text[done:start], REDACTED]
        done = end
    return "".join(parts) + text[done:] if parts else text


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced, even one spread out by whitespace or invisible
    characters, or in another case."""
    return _redact(text, _usable(secrets))


def redact_and_cut(text: str, secrets: Iterable[str | None], limit: int) -> str:
    """Redacted, then cut to `limit` characters (an ellipsis marks the cut)."""
    text = redact(text, secrets)
    return text if len(text) <= limit else text[:limit] + "…"


class StreamRedactor:
    """Redacts text that arrives in pieces: a key split across pieces is still caught,
    however many hidden characters spread it out.

    `feed` returns what is safe to pass on now; it holds back the tail from the earliest
    character that could still grow into a secret (usually nothing). `flush` returns the
    rest at the end.
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self._secrets = _usable(secrets)
        self._folded = _folded(self._secrets)
        self._held = ""

    def feed(self, piece: str) -> str:
        if not self._secrets:
            return piece
        text = _redact(self._held + piece, self._secrets)
        cut = self._unsafe_tail_start(text)
        self._held = text[cut:]
        return text[:cut]

    def flush(self) -> str:
        rest, self._held = self._held, ""
        return _redact(rest, self._secrets)

    def _unsafe_tail_start(self, text: str) -> int:
        """Where the earliest tail that reads (hidden characters aside) as the start of
        a secret begins; len(text) if none does. Counted in visible characters, not in
        text: no gap between a key's characters is too wide."""
        squeezed, where = _squeezed(text)
        longest = max(map(len, self._folded))
        for start in range(max(0, len(squeezed) - longest + 1), len(squeezed)):
            tail = squeezed[start:]
            if any(secret.startswith(tail) for secret in self._folded):
                return where[start]
        return len(text)
