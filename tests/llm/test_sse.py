"""Decoding server-sent events (sessions/llm/sse.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.llm.sse import SseDecoder

# --- server-sent events ---------------------------------------------------------------------


def test_the_sse_decoder_follows_the_standard():
    stream = (
        b"\xef\xbb\xbf: comment\r\n"
        b'event: message\r\nid: 1\r\ndata: {"a":\r\ndata:1}\r\n\r\n'
        b"data:no-space\n\n"
        b"data: one\rdata: two\r\r"
        b"retry: 5\n\n"  # no data: no event
        b"data: tail-without-blank-line"
    )
    events = SseDecoder().feed(stream)
    assert events == ['{"a":\n1}', "no-space", "one\ntwo"]
    decoder = SseDecoder()
    split = [e for i in range(len(stream)) for e in decoder.feed(stream[i : i + 1])]
    assert split == events
    assert decoder.end() == "tail-without-blank-line"


@given(st.lists(st.text(max_size=20), max_size=5), st.data())
@settings(max_examples=100, deadline=None)
def test_sse_decoding_does_not_depend_on_read_boundaries(values, data):
    line_end = data.draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    stream = b"".join(
        b"data: " + v.replace("\r", "").replace("\n", "").encode() + line_end * 2 for v in values
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    decoder = SseDecoder()
    events = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        events += decoder.feed(stream[a:b])
    expected = [v.replace("\r", "").replace("\n", "") for v in values]
    assert events == expected
