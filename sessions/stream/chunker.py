"""Splitting text into chat frames that fill a byte budget to the byte.

The chunker counts exactly what the encoder (codec.encode) produces: each character's cost
inside a JSON string, plus the envelope of the frame around it.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re

from sessions.stream.codec import MAX_FRAME_BYTES, chat_dict, encode, new_mid

#: The default chunk budget: AKool's guide uses 950, which leaves headroom under 1,024.
DEFAULT_BUDGET = 950

# A high surrogate directly followed by a low one: two code points in a Python str, but
# any JSON decoder fuses their escapes into one astral character.
_SURROGATE_PAIR = re.compile("[\ud800-\udbff](?=[\udc00-\udfff])")

# Bytes each ASCII character costs inside a JSON string, taken from json itself so the
# table cannot drift from what encode() produces (quote and backslash cost 2, \n and
# friends 2, other control characters 6 as \u00XX).
_ASCII_COST = [len(json.dumps(chr(c), ensure_ascii=False)) - 2 for c in range(128)]
_COST_CACHE: dict[str, int] = {chr(c): n for c, n in enumerate(_ASCII_COST)}


def _char_cost(ch: str) -> int:
    o = ord(ch)
    if o < 0x80:
        return _ASCII_COST[o]
    if o < 0x800:
        return 2
    if 0xD800 <= o <= 0xDFFF:
        return 6  # escaped by encode()
    if o < 0x10000:
        return 3
    return 4


def char_costs(text: str) -> list[int]:
    """Encoded size in bytes of each code point of ``text`` inside a JSON string."""
    get = _COST_CACHE.get
    costs = []
    append = costs.append
    for ch in text:
        n = get(ch)
        if n is None:
            n = _char_cost(ch)
            if len(_COST_CACHE) < 65536:  # bounded: a hostile text cannot grow it forever
                _COST_CACHE[ch] = n
        append(n)
    return costs


class _Splitter:
    """Greedy code-point splitting of one text against per-piece byte capacities.

    Precomputes prefix sums of character costs once, so each piece costs O(log n) and
    the whole split is O(n).
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.prefix = list(itertools.accumulate(char_costs(text), initial=0))
        # Positions p where text[p] and text[p + 1] are a high and a low surrogate. Both in
        # one piece would decode as one astral character and reassembly would not be exact,
        # so a piece is always ended between them.
        self.pairs = [m.start() for m in _SURROGATE_PAIR.finditer(text)] if text else []

    def rest_bytes(self, start: int) -> int:
        return self.prefix[-1] - self.prefix[start]

    def has_pair(self, start: int, end: int) -> bool:
        """True if a fused-surrogate pair lies entirely inside text[start:end]."""
        i = bisect.bisect_left(self.pairs, start)
        return i < len(self.pairs) and self.pairs[i] + 1 < end

    def end(self, start: int, capacity: int) -> int:
        """Largest end such that text[start:end] costs at most ``capacity`` bytes."""
        end = bisect.bisect_right(self.prefix, self.prefix[start] + capacity) - 1
        i = bisect.bisect_left(self.pairs, start)
        if i < len(self.pairs) and self.pairs[i] + 1 < end:
            end = self.pairs[i] + 1
        return end


def split_text(text: str, max_bytes: int) -> list[str]:
    """Split ``text`` greedily into pieces whose JSON-string content is <= ``max_bytes``.

    Never splits a code point; ``"".join(pieces) == text``. For callers that build their
    own frames around the pieces (the sandbox avatar's speech). Empty text gives ``[]``.
    """
    sp = _Splitter(text)
    pieces = []
    start = 0
    while start < len(text):
        end = sp.end(start, max_bytes)
        if end <= start:
            raise ValueError(f"max_bytes {max_bytes} is too small for one character")
        pieces.append(text[start:end])
        start = end
    return pieces


def chat_frames(text: str, *, mid: str | None = None, budget: int = DEFAULT_BUDGET) -> list[str]:
    """Encode ``text`` as chat frames sharing one ``mid``, each at most ``budget`` bytes.

    Frames are filled greedily by code point, so a frame other than the last one has less
    free room than the size of the character that opens the next frame: at most 3 bytes
    of slack for plain text, 5 when the next character is a 6-byte escape (a control
    character such as ``\\u0001``, or a lone surrogate). The one exception: a high
    surrogate directly followed by a low one (two code points in a Python str) is never put
    in one frame, since JSON decoding would fuse them and reassembly would not be exact.

    Joining ``pld.text`` of the frames in ``idx`` order gives back ``text`` exactly. Empty
    text gives one frame with ``""``. Raises ValueError if ``budget`` exceeds 1,024 or a
    frame cannot carry even its next character.
    """
    if budget > MAX_FRAME_BYTES:
        raise ValueError(f"budget {budget} exceeds Agora's {MAX_FRAME_BYTES}-byte limit")
    if mid is None:
        mid = new_mid()

    # The envelope's size depends only on idx's digit count and fin; measure each variant
    # once by encoding it with empty text.
    overheads: dict[tuple[int, bool], int] = {}

    def overhead(idx: int, fin: bool) -> int:
        key = (len(str(idx)), fin)
        if key not in overheads:
            overheads[key] = len(encode(chat_dict(mid, idx, fin, {"text": ""})).encode())
        return overheads[key]

    sp = _Splitter(text)
    frames: list[str] = []
    start, idx, n = 0, 0, len(text)
    while True:
        last_capacity = budget - overhead(idx, True)
        if sp.rest_bytes(start) <= last_capacity and not sp.has_pair(start, n):
            frames.append(encode(chat_dict(mid, idx, True, {"text": text[start:]})))
            return frames
        # Not the last frame: "false" is one byte longer than "true". If everything left
        # fitted a fin=true frame it was sent above, so this frame never takes it all.
        end = sp.end(start, budget - overhead(idx, False))
        if end <= start:
            raise ValueError(f"budget {budget} is too small for one character (idx {idx})")
        frames.append(encode(chat_dict(mid, idx, False, {"text": text[start:end]})))
        start = end
        idx += 1
