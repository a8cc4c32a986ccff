"""How long a chat takes to hand over to the transport, with our chunker and with the one in
AKool's guide and demo. Run: ``python bench/chunking.py``.

For texts of 300, 2,000 and 10,000 characters in ASCII, CJK and emoji it prints:
- frames and hand-over time (release of the last frame) for our chunker, paced by
  ``release_times`` as the server paces: at most 6,000 B in any sliding window of 1 s plus
  the jitter allowance (``STREAM_JITTER_ALLOWANCE``'s default, 0.15 s), and beside it the
  hand-over with no allowance (a window of exactly 1 s), what the allowance costs;
- the same for the guide's chunker, reimplemented here only (see ``demo_chunks``);
- the physical limit: the text's own bytes at 6,000 B/s, envelopes not counted. A sliding
  window lets the first 6,000 bytes go at once, so the hand-over can beat this figure;
- the cost of one call of each chunker in CPython (the demo's is a faithful Python port
  that simulates JavaScript's UTF-16 string slicing, so it only says "same order").
"""

from __future__ import annotations

import functools
import math
import random
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sessions.stream.chunker import chat_frames  # noqa: E402
from sessions.stream.codec import encode, encoded_size, new_mid  # noqa: E402
from sessions.stream.pacer import JITTER_ALLOWANCE, release_times  # noqa: E402

BUDGET = 950
RATE = 6000
LENGTHS = (300, 2_000, 10_000)


def sample(kind: str, length: int) -> str:
    rng = random.Random(f"{kind}{length}")
    if kind == "ascii":
        words = "the avatar speaks a long answer about pacing frames and budgets".split()
        text = ""
        while len(text) < length:
            text += rng.choice(words) + rng.choice("  ,.")
        return text[:length]
    if kind == "cjk":
        return "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(length))
    return "".join(chr(rng.randint(0x1F600, 0x1F64F)) for _ in range(length))


def demo_frame(mid: str, units: list[str], idx: int, fin: bool) -> str:
    """JSON.stringify + TextEncoder of the demo's message for a slice of UTF-16 units.

    Rejoining the units re-forms valid pairs; a pair cut by the slice stays a lone surrogate,
    which JSON.stringify escapes as \\udXXX, exactly as our encode() does.
    """
    text = "".join(units).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return encode(
        {"v": 2, "type": "chat", "mid": mid, "idx": idx, "fin": fin, "pld": {"text": text}}
    )


def utf16_units(text: str) -> list[str]:
    units = []
    for ch in text:
        if ord(ch) > 0xFFFF:
            o = ord(ch) - 0x10000
            units += [chr(0xD800 + (o >> 10)), chr(0xDC00 + (o & 0x3FF))]
        else:
            units.append(ch)
    return units


def demo_chunks(text: str, mid: str) -> list[str]:
    """The guide's sendMessageToAvatar, step by step: slices of floor((950 - empty frame) / 4)
    UTF-16 units (JavaScript string length), halved until the frame fits 950 bytes."""
    base = encoded_size(demo_frame(mid, [], 0, False))
    max_len = (BUDGET - base) // 4
    units = utf16_units(text)
    chunks: list[list[str]] = []
    pos = 0
    while pos < len(units):
        chunk = units[pos : pos + max_len]
        while encoded_size(demo_frame(mid, chunk, len(chunks), False)) > BUDGET and len(chunk) > 1:
            chunk = chunk[: math.ceil(len(chunk) / 2)]
        chunks.append(chunk)
        pos += len(chunk)
    return [demo_frame(mid, c, i, i == len(chunks) - 1) for i, c in enumerate(chunks)]


def demo_hand_over(frames: list[str]) -> float:
    """The demo sends a chunk, then waits ceil(1000 * bytes / 6000) ms, except after the last."""
    return sum(math.ceil(1000 * encoded_size(f) / RATE) for f in frames[:-1]) / 1000


def micros(call) -> float:
    """Best of three runs of about 50 ms each, in µs per call."""
    timer = timeit.Timer(call)
    once = timer.timeit(1)
    number = max(1, int(0.05 / max(once, 1e-7)))
    return min(timer.repeat(3, number)) / number * 1e6


def main() -> None:
    mid = new_mid()
    header = (
        f"{'text':<14} {'bytes':>7} | {'ours':>5} {'hand-over':>9} {'(1 s)':>6} {'µs/call':>8} | "
        f"{'demo':>5} {'hand-over':>9} {'µs/call':>8} | {'bytes/6000':>10}"
    )
    print(f"ours: paced over 1 s + {JITTER_ALLOWANCE:.2f} s allowance, (1 s) with none")
    print(header)
    print("-" * len(header))
    for kind in ("ascii", "cjk", "emoji"):
        for length in LENGTHS:
            text = sample(kind, length)
            raw = len(text.encode("utf-8"))
            ours = chat_frames(text, mid=mid, budget=BUDGET)
            sizes = [encoded_size(f) for f in ours]
            ours_t = release_times(sizes, limit=RATE)[-1]
            bare_t = release_times(sizes, limit=RATE, allowance=0)[-1]
            ours_us = micros(functools.partial(chat_frames, text, mid=mid))
            demo = demo_chunks(text, mid)
            demo_us = micros(functools.partial(demo_chunks, text, mid))
            print(
                f"{kind + ' ' + format(length, ','):<14} {raw:>7,} | "
                f"{len(ours):>5} {ours_t:>8.2f}s {bare_t:>5.2f}s {ours_us:>8.0f} | "
                f"{len(demo):>5} {demo_hand_over(demo):>8.2f}s {demo_us:>8.0f} | "
                f"{raw / RATE:>9.2f}s"
            )


if __name__ == "__main__":
    main()
