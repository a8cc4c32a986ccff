"""Encoding stream messages and building frames (sessions/stream/codec.py)."""

from __future__ import annotations

import json

import pytest

from sessions.stream.codec import encode, interrupt_frame, new_mid, set_params_frame
from sessions.stream.parser import parse

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


def test_new_mid_is_short_and_unique():
    mids = {new_mid() for _ in range(1000)}
    assert len(mids) == 1000
    assert all(m.startswith("msg-") and len(m) == 20 for m in mids)


# -- builders ---------------------------------------------------------------------------


def test_set_params_leaves_out_empty_values():
    frame = set_params_frame(voice_id="v1", language="", mode=1, mid="c1")
    assert json.loads(frame) == {
        "v": 2,
        "type": "command",
        "mid": "c1",
        "pld": {"cmd": "set-params", "data": {"vid": "v1", "mode": 1}},
    }


def test_set_params_maps_every_key():
    frame = set_params_frame(
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
        set_params_frame(mode=3)


def test_interrupt_frame():
    assert json.loads(interrupt_frame(mid="i1")) == {
        "v": 2,
        "type": "command",
        "mid": "i1",
        "pld": {"cmd": "interrupt"},
    }
