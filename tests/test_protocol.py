"""The stream protocol: encoding, chunking and parsing (sessions/protocol.py)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessions.stream import protocol
from sessions.stream.protocol import (
    ChatMessage,
    CommandMessage,
    EventMessage,
    chat_frames,
    encode,
    parse,
)

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Arbitrary unicode, deliberately heavy on the characters whose JSON size differs from their
# UTF-8 size: quotes, backslashes, control characters, lone surrogates, plus CJK and emoji.
TRICKY = st.sampled_from(
    ['"', "\\", "\n", "\t", "\x00", "\x01", "\x1f", "\x7f", "\u2028", "é", "中", "😀", "/"]
)
ALPHABET = st.one_of(
    st.characters(),  # all of unicode except surrogates
    st.characters(categories=["Cs"]),  # lone surrogates
    st.characters(max_codepoint=0x7F),
    TRICKY,
)
TEXTS = st.one_of(st.text(), st.text(ALPHABET, max_size=3000))


def size(frame: str) -> int:
    return len(frame.encode("utf-8"))


def envelope(mid: str, idx: int, fin: bool) -> int:
    """Size of a chat frame with empty text: what the chunker must leave room for."""
    return size(encode({"v": 2, "type": "chat", "mid": mid, "idx": idx, "fin": fin,
                        "pld": {"text": ""}}))  # fmt: skip


def cost(ch: str) -> int:
    return size(encode(ch)) - 2


def is_high(ch: str) -> bool:
    return "\ud800" <= ch <= "\udbff"


def is_low(ch: str) -> bool:
    return "\udc00" <= ch <= "\udfff"


# -- encoding ---------------------------------------------------------------------------


def test_it_encodes_compact_json_with_raw_unicode():
    assert encode({"a": [1, 2], "t": "é中😀"}) == '{"a":[1,2],"t":"é中😀"}'


def test_it_escapes_lone_surrogates_so_utf8_can_carry_them():
    frame = encode({"t": "a\udc80b"})
    assert frame == '{"t":"a\\udc80b"}'
    assert json.loads(frame)["t"] == "a\udc80b"


def test_it_refuses_nan():
    with pytest.raises(ValueError):
        encode({"x": float("nan")})


@given(st.one_of(st.characters(), st.characters(categories=["Cs"]), TRICKY))
@PROPERTY
def test_char_costs_match_what_encode_produces(ch):
    assert protocol.char_costs(ch) == [cost(ch)]


def test_new_mid_is_short_and_unique():
    mids = {protocol.new_mid() for _ in range(1000)}
    assert len(mids) == 1000
    assert all(m.startswith("msg-") and len(m) == 20 for m in mids)


# -- chunking ---------------------------------------------------------------------------


@given(
    text=TEXTS,
    budget=st.integers(64, 1024),
    mid=st.one_of(st.just("m"), st.just(protocol.new_mid()), st.text(max_size=12)),
)
@PROPERTY
def test_chat_frames_fit_reassemble_and_are_full(text, budget, mid):
    try:
        frames = chat_frames(text, mid=mid, budget=budget)
    except ValueError:
        # Only when a frame truly cannot hold a character: the worst case is a 6-byte escape
        # in a frame whose idx has as many digits as the text has characters.
        assert budget < envelope(mid, max(len(text) - 1, 0), False) + 6
        return

    assert frames
    messages = [parse(f) for f in frames]
    for i, (frame, msg) in enumerate(zip(frames, messages, strict=True)):
        assert size(frame) <= budget
        assert isinstance(msg, ChatMessage)
        assert (msg.mid, msg.idx, msg.fin, msg.sender) == (mid, i, i == len(frames) - 1, None)
        assert list(json.loads(frame)) == ["v", "type", "mid", "idx", "fin", "pld"]
    assert "".join(m.text for m in messages) == text

    # Full: greedy by code point, so the free room left in a frame is smaller than the
    # character that opens the next one (at most 3 bytes, or 5 before a 6-byte escape).
    # Exception: a high+low surrogate pair is kept apart, because JSON would fuse it.
    for i in range(len(frames) - 1):
        here, after = messages[i].text, messages[i + 1].text
        assert here and after
        if is_high(here[-1]) and is_low(after[0]):
            continue
        slack = budget - size(frames[i])
        assert slack < cost(after[0])
        assert slack <= 5
        assert slack <= 3 or cost(after[0]) == 6


@given(text=st.text(ALPHABET, min_size=1, max_size=400), budget=st.integers(90, 1024))
@PROPERTY
def test_split_text_pieces_fit_and_join_exactly(text, budget):
    pieces = protocol.split_text(text, budget - 80)
    assert "".join(pieces) == text
    for piece in pieces:
        assert sum(protocol.char_costs(piece)) <= budget - 80


def test_empty_text_gives_one_empty_final_frame():
    frames = chat_frames("", mid="m")
    assert frames == ['{"v":2,"type":"chat","mid":"m","idx":0,"fin":true,"pld":{"text":""}}']


def test_a_short_text_is_one_frame_with_a_fresh_mid():
    (frame,) = chat_frames("Hello!")
    msg = parse(frame)
    assert msg.text == "Hello!" and msg.fin is True and msg.mid.startswith("msg-")


def test_ascii_frames_use_the_whole_budget():
    frames = chat_frames("a" * 5000, mid="m", budget=950)
    assert [size(f) for f in frames[:-1]] == [950] * (len(frames) - 1)


def test_fin_true_saves_the_byte_that_lets_the_rest_fit():
    # With fin=true the envelope is one byte shorter: text that fills a fin=true frame
    # exactly must go as a single frame, not be split off by one character.
    room = 950 - envelope("m", 0, True)
    assert len(chat_frames("a" * room, mid="m")) == 1
    assert len(chat_frames("a" * (room + 1), mid="m")) == 2


def test_idx_digits_are_accounted_for():
    frames = chat_frames("x" * 20_000, mid="m", budget=100)
    assert len(frames) > 100
    assert all(size(f) <= 100 for f in frames)
    assert size(frames[5]) == 100 and size(frames[50]) == 100


def test_a_surrogate_pair_never_shares_a_frame():
    text = "\ud83d\ude00"
    frames = chat_frames(text, mid="m")
    assert [parse(f).text for f in frames] == ["\ud83d", "\ude00"]


def test_it_rejects_budgets_over_agoras_limit():
    with pytest.raises(ValueError):
        chat_frames("hi", budget=1025)


def test_it_rejects_a_budget_too_small_for_one_character():
    with pytest.raises(ValueError):
        chat_frames("hi", mid="m", budget=60)


@pytest.mark.parametrize("text", ["a" * 10_000, "中" * 10_000, "😀" * 10_000, "\x01" * 10_000])
def test_chunking_10k_characters_is_fast(text):
    started = time.perf_counter()
    frames = chat_frames(text)
    assert time.perf_counter() - started < 0.25
    assert "".join(parse(f).text for f in frames) == text


# -- builders ---------------------------------------------------------------------------


def test_set_params_leaves_out_empty_values():
    frame = protocol.set_params_frame(voice_id="v1", language="", mode=1, mid="c1")
    assert json.loads(frame) == {
        "v": 2,
        "type": "command",
        "mid": "c1",
        "pld": {"cmd": "set-params", "data": {"vid": "v1", "mode": 1}},
    }


def test_set_params_maps_every_key():
    frame = protocol.set_params_frame(
        voice_id="v",
        language="en",
        mode=2,
        background_url="https://x/bg.png",
        voice_params={"speed": 1.1},
        voice_url="https://x/v.mp3",
    )
    assert parse(frame).data == {
        "vid": "v",
        "vurl": "https://x/v.mp3",
        "lang": "en",
        "mode": 2,
        "bgurl": "https://x/bg.png",
        "vparams": {"speed": 1.1},
    }


def test_set_params_rejects_an_unknown_mode():
    with pytest.raises(ValueError):
        protocol.set_params_frame(mode=3)


def test_interrupt_frame():
    assert json.loads(protocol.interrupt_frame(mid="i1")) == {
        "v": 2,
        "type": "command",
        "mid": "i1",
        "pld": {"cmd": "interrupt"},
    }


# -- parsing ----------------------------------------------------------------------------


@given(
    text=st.text(ALPHABET, max_size=200),
    mid=st.text(max_size=20),
    idx=st.integers(0, 10**6),
    fin=st.booleans(),
)
@PROPERTY
def test_avatar_frames_roundtrip(text, mid, idx, fin):
    # Fusing an adjacent high+low surrogate pair is JSON's doing, not ours.
    expected = json.loads(json.dumps(text))
    assert parse(protocol.bot_chat_frame(text, mid, idx, fin)) == ChatMessage(
        mid, expected, "bot", idx, fin
    )
    assert parse(protocol.user_chat_frame(text, mid, idx, fin)) == ChatMessage(
        mid, expected, "user", idx, fin
    )


@given(
    cmd=st.text(min_size=1, max_size=20),
    mid=st.text(max_size=20),
    code=st.integers(-(10**6), 10**6),
    msg=st.text(max_size=50),
)
@PROPERTY
def test_acks_roundtrip(cmd, mid, code, msg):
    cmd, mid, msg = (json.loads(json.dumps(s)) for s in (cmd, mid, msg))
    assert parse(protocol.ack_frame(cmd, mid, code, msg)) == CommandMessage(mid, cmd, {}, code, msg)


def test_commands_roundtrip():
    assert parse(protocol.command_frame("set-params", {"mode": 1}, mid="a")) == CommandMessage(
        "a", "set-params", {"mode": 1}, None, ""
    )
    assert parse(protocol.interrupt_frame(mid="b")) == CommandMessage("b", "interrupt")


def test_events_roundtrip_with_their_extra_fields():
    assert parse(protocol.event_frame("audio_start")) == EventMessage("audio_start", {})
    frame = protocol.event_frame("sandbox_violation", reason="rate_exceeded")
    assert (
        frame
        == '{"v":2,"type":"event","pld":{"event":"sandbox_violation","reason":"rate_exceeded"}}'
    )
    assert parse(frame) == EventMessage("sandbox_violation", {"reason": "rate_exceeded"})


def test_it_reads_idx_and_fin_inside_pld_too():
    raw = '{"v":2,"type":"chat","mid":"m","pld":{"from":"bot","text":"hi","idx":3,"fin":true}}'
    assert parse(raw) == ChatMessage("m", "hi", "bot", 3, True)
    # The protocol's own place (top level) wins when both are present.
    raw = '{"v":2,"type":"chat","mid":"m","idx":1,"fin":false,"pld":{"text":"x","idx":9}}'
    assert parse(raw) == ChatMessage("m", "x", None, 1, False)


def test_it_decodes_bytes_as_utf8():
    assert parse('{"v":2,"type":"chat","mid":"m","pld":{"text":"é"}}'.encode()).text == "é"
    assert parse(b'{"v":2,"type":"chat","mid":"m","pld":{"text":"\xff"}}') is None


def test_a_chat_without_idx_or_fin_parses_with_none():
    assert parse('{"v":2,"type":"chat","mid":"m","pld":{"text":"t"}}') == ChatMessage(
        "m", "t", None, None, None
    )


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "null",
        "[]",
        '"v"',
        "{",
        '{"v":1,"type":"chat","mid":"m","pld":{"text":"t"}}',
        '{"v":"2","type":"chat","mid":"m","pld":{"text":"t"}}',
        '{"v":true,"type":"chat","mid":"m","pld":{"text":"t"}}',
        '{"v":2.0,"type":"chat","mid":"m","pld":{"text":"t"}}',
        '{"type":"chat","mid":"m","pld":{"text":"t"}}',
        '{"v":2,"type":"chatter","mid":"m","pld":{"text":"t"}}',
        '{"v":2,"type":"chat","mid":"m"}',
        '{"v":2,"type":"chat","mid":"m","pld":"t"}',
        '{"v":2,"type":"chat","mid":"m","pld":{}}',
        '{"v":2,"type":"chat","mid":"m","pld":{"text":5}}',
        '{"v":2,"type":"chat","mid":5,"pld":{"text":"t"}}',
        '{"v":2,"type":"chat","mid":"m","idx":true,"pld":{"text":"t"}}',
        '{"v":2,"type":"chat","mid":"m","idx":-1,"pld":{"text":"t"}}',
        '{"v":2,"type":"chat","mid":"m","idx":1.5,"pld":{"text":"t"}}',
        '{"v":2,"type":"chat","mid":"m","fin":1,"pld":{"text":"t"}}',
        '{"v":2,"type":"chat","mid":"m","pld":{"text":"t","from":"robot"}}',
        '{"v":2,"type":"command","mid":"m","pld":{}}',
        '{"v":2,"type":"command","mid":"m","pld":{"cmd":""}}',
        '{"v":2,"type":"command","mid":"m","pld":{"cmd":"x","data":[]}}',
        '{"v":2,"type":"command","mid":"m","pld":{"cmd":"x","code":"1000"}}',
        '{"v":2,"type":"command","mid":"m","pld":{"cmd":"x","msg":7}}',
        '{"v":2,"type":"event","pld":{}}',
        '{"v":2,"type":"event","pld":{"event":3}}',
        "[" * 100_000,
        '{"v":2,"n":' + "9" * 10_000 + "}",
    ],
)
def test_it_rejects_what_is_not_a_v2_message(raw):
    assert parse(raw) is None


JSON_KEYS = st.sampled_from(
    [
        "v",
        "type",
        "mid",
        "idx",
        "fin",
        "pld",
        "text",
        "from",
        "cmd",
        "data",
        "code",
        "msg",
        "event",
    ]  # fmt: skip
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.sampled_from([2, "chat", "command", "event", "bot", "user"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(JSON_KEYS, inner, max_size=6),
    max_leaves=20,
)


@given(st.one_of(st.binary(), st.text(), JSON_VALUES.map(json.dumps)))
@PROPERTY
def test_parse_never_raises(raw):
    result = parse(raw)
    assert result is None or isinstance(result, ChatMessage | CommandMessage | EventMessage)
