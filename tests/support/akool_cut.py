"""Text cut as AKool's official browser client cuts it (its demo's `sendMessageToAvatar`;
../shared/akool-api.md, "The data stream"), for tests that feed such pieces to the sandbox
avatar or to the transcript.

The client measures in UTF-16 code units, as JavaScript strings do: a chunk is at most
`(budget - empty frame) // 4` units (218 for an ASCII text with a 20-character mid at its
960-byte budget), halved (`slice(0, ceil(length / 2))`) until its JSON fits the budget.
So a chunk may end with the first half of a character outside the BMP (an emoji) and the
next begin with the second: each piece then holds a lone surrogate, escaped `\\ud83d` in
its JSON (JSON.stringify's well-formed output, which `codec.encode` matches), and only the
joined pieces are valid text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from sessions.stream.codec import chat_dict, encode

#: AKool's current demo: at most 960 bytes of JSON a frame.
DEMO_BUDGET = 960
#: A mid as `codec.new_mid` makes them (20 characters): 218 ASCII characters a chunk.
MID = "msg-0123456789abcdef"


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (JavaScript's `text.length`)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def utf16_slice(text: str, start: int, stop: int) -> str:
    """`text.slice(start, stop)` in JavaScript: a pair of halves inside stays one
    character, a half at either edge is a lone surrogate."""
    units = text.encode("utf-16-le", "surrogatepass")
    return units[2 * start : 2 * stop].decode("utf-16-le", "surrogatepass")


def cut_at(text: str, offsets: Iterable[int]) -> list[str]:
    """The text cut at these UTF-16 offsets (each strictly inside the text)."""
    edges = [0, *sorted(set(offsets)), utf16_len(text)]
    return [utf16_slice(text, a, b) for a, b in zip(edges, edges[1:], strict=False)]


def _frame(text: str, mid: str, idx: int, fin: bool) -> str:
    return encode(chat_dict(mid, idx, fin, {"text": text}))


def _size(text: str, mid: str, idx: int) -> int:
    return len(_frame(text, mid, idx, False).encode("utf-8"))  # TextEncoder's length


def akool_chunks(text: str, mid: str = MID, budget: int = DEMO_BUDGET) -> list[str]:
    """The chunk texts AKool's client sends for `text`, in idx order."""
    max_units = (budget - _size("", mid, 0)) // 4
    total, start, chunks = utf16_len(text), 0, []
    while start < total:
        length = min(max_units, total - start)
        chunk = utf16_slice(text, start, start + length)
        while _size(chunk, mid, len(chunks)) > budget and length > 1:
            length = math.ceil(length / 2)
            chunk = utf16_slice(text, start, start + length)
        if _size(chunk, mid, len(chunks)) > budget:
            raise ValueError("content too large for chunking")
        chunks.append(chunk)
        start += length
    return chunks


def chat_frames_of(pieces: list[str], mid: str = MID) -> list[str]:
    """The chat frames carrying these pieces in idx order, `fin` on the last only."""
    return [_frame(piece, mid, i, i == len(pieces) - 1) for i, piece in enumerate(pieces)]


def akool_frames(text: str, mid: str = MID, budget: int = DEMO_BUDGET) -> list[str]:
    """The chat frames AKool's client sends for `text`."""
    return chat_frames_of(akool_chunks(text, mid, budget), mid)
