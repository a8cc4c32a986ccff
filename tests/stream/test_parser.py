"""Parsing stream messages (sessions/stream/parser.py)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessions.stream.codec import (
    ack_frame,
    bot_chat_frame,
    command_frame,
    event_frame,
    interrupt_frame,
    user_chat_frame,
)
from sessions.stream.parser import ChatMessage, CommandMessage, EventMessage, parse
from tests.stream.strategies import ALPHABET, PROPERTY

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
    assert parse(bot_chat_frame(text, mid, idx, fin)) == ChatMessage(mid, expected, "bot", idx, fin)
    assert parse(user_chat_frame(text, mid, idx, fin)) == ChatMessage(
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
    assert parse(ack_frame(cmd, mid, code, msg)) == CommandMessage(mid, cmd, {}, code, msg)


def test_commands_roundtrip():
    assert parse(command_frame("set-params", {"mode": 1}, mid="a")) == CommandMessage(
        "a", "set-params", {"mode": 1}, None, ""
    )
    assert parse(interrupt_frame(mid="b")) == CommandMessage("b", "interrupt")


def test_events_roundtrip_with_their_extra_fields():
    assert parse(event_frame("audio_start")) == EventMessage("audio_start", {})
    frame = event_frame("sandbox_violation", reason="rate_exceeded")
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
