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
    frame = set_params_frame(voice_id="", language="", mode=1, voice_params={}, mid="c1")
    assert json.loads(frame) == {
        "v": 2,
        "type": "command",
        "mid": "c1",
        "pld": {"cmd": "set-params", "data": {"mode": 1}},
    }


def test_a_voice_goes_in_vparams_vid_and_in_vid_beside_it():
    # vparams.vid is AKool's documented place; vid is deprecated but still read (and
    # still sent by AKool's demo).
    assert parse(set_params_frame(voice_id="v1")).data == {"vid": "v1", "vparams": {"vid": "v1"}}


def test_voice_params_travel_in_vparams_with_the_voice():
    voice_params = {
        "speed": 1.2,
        "pron_map": {"akool": "ai ku er"},
        "stt_type": "openai_realtime",
        "turn_detection": {
            "type": "server_vad",
            "threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 500,
        },
    }
    frame = set_params_frame(voice_id="v1", voice_params=voice_params, mid="c2")
    data = parse(frame).data
    assert data == {"vid": "v1", "vparams": {**voice_params, "vid": "v1"}}
    assert list(json.loads(frame)["pld"]["data"]) == ["vid", "vparams"]
    assert voice_params.get("vid") is None  # the caller's dict is left alone


def test_voice_params_without_a_voice_have_no_vid():
    assert parse(set_params_frame(voice_params={"speed": 0.8})).data == {"vparams": {"speed": 0.8}}


def test_the_voice_named_wins_over_a_vid_in_the_voice_params():
    data = parse(set_params_frame(voice_id="new", voice_params={"vid": "old"})).data
    assert data == {"vid": "new", "vparams": {"vid": "new"}}


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
        "vparams": {"speed": 1.1, "vid": "v"},
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
