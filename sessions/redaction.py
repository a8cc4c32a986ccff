"""The one home of redaction: hiding our credentials in text an upstream sent back.

Upstreams echo a key they were sent (a wrong key in an error message, a model repeating its
prompt). Whatever of their text reaches a person or a log goes through here first, whole:
redact, then cut, so a key across the cut cannot leave its prefix behind. A key is found
even when whitespace or line breaks split it, and streamed text is redacted across its
pieces (`StreamRedactor` holds back a tail that could be the start of a key).

Plain Python (no Django): the AKool provider and the LLM client use it with the secrets
they were configured with.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[redacted]"
# Shorter values would match ordinary text (tests configure "k" as a placeholder key).
MIN_SECRET_LENGTH = 8


def _usable(secrets: Iterable[str | None]) -> list[str]:
    found = {s.strip() for s in secrets if s and len(s.strip()) >= MIN_SECRET_LENGTH}
    return sorted(found, key=len, reverse=True)  # longest first: a key inside another


def _pattern(secret: str) -> str:
    # Each character of the key, with any whitespace between them.
    return r"\s*".join(re.escape(char) for char in secret)


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """`text` with every secret replaced, even one broken by whitespace."""
    usable = _usable(secrets)
    if not text or not usable:
        return text
    return re.sub("|".join(_pattern(s) for s in usable), REDACTED, text)


def redact_and_cut(text: str, secrets: Iterable[str | None], limit: int) -> str:
    """Redacted, then cut to `limit` characters (an ellipsis marks the cut)."""
    text = redact(text, secrets)
    return text if len(text) <= limit else text[:limit] + "…"


class StreamRedactor:
    """Redacts text that arrives in pieces: a key split across two pieces is still caught.

    `feed` returns what is safe to pass on now; it holds back the shortest tail that could
    still grow into a secret (usually nothing). `flush` returns the rest at the end.
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self._secrets = _usable(secrets)
        self._held = ""

    def feed(self, piece: str) -> str:
        if not self._secrets:
            return piece
        text = redact(self._held + piece, self._secrets)
        cut = self._unsafe_tail_start(text)
        self._held = text[cut:]
        return text[:cut]

    def flush(self) -> str:
        rest, self._held = self._held, ""
        return redact(rest, self._secrets)

    def _unsafe_tail_start(self, text: str) -> int:
        """Where the earliest tail that reads (whitespace aside) as a secret's start begins."""
        window = 3 * len(self._secrets[0])  # a key padded with some whitespace
        for start in range(max(0, len(text) - window), len(text)):
            if text[start].isspace():
                continue
            squeezed = "".join(text[start:].split())
            if any(secret.startswith(squeezed) for secret in self._secrets):
                return start
        return len(text)
