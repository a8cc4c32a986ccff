"""The sandbox avatar's ears: `sandbox-hear` (a sandbox-only command, DESIGN.md's "The
sandbox transport") makes it send a text as the user's recognised speech, the way AKool
sends it: `chat` pieces with `from: "user"`, a few words each, one `mid`, numbered by
`idx`, the last with `fin: true` (the command's own frame, at most 1 KB, bounds the
text). The page feeds it from the browser's own speech recognition; tests send it
directly."""

from __future__ import annotations

import re
from typing import Any

from sessions.stream.chunker import split_text
from sessions.stream.codec import encoded_size, new_mid, user_chat_frame

#: Words per recognised piece (AKool's recogniser sends an utterance in a few pieces).
WORDS_PER_PIECE = 3

_WORD = re.compile(r"\s*\S+\s*|\s+")


def heard_frames(data: dict[str, Any], frame_limit: int) -> tuple[list[str], str]:
    """(the frames that carry `data["text"]` as the user's speech, ""), or ([], why it
    is refused)."""
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        return [], "sandbox-hear needs a non-empty text"
    mid = new_mid()
    room = frame_limit - encoded_size(user_chat_frame("", mid, 10**6, False))
    words = _WORD.findall(text.strip())
    parts = [
        part
        for i in range(0, len(words), WORDS_PER_PIECE)
        for part in split_text("".join(words[i : i + WORDS_PER_PIECE]), room)
    ]
    last = len(parts) - 1
    return [user_chat_frame(part, mid, idx, idx == last) for idx, part in enumerate(parts)], ""
