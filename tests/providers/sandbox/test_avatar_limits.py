"""The sandbox avatar keeps AKool's limits (1,024-byte frames, 6,000 bytes a second, garbage
ignored) and answers its commands (set-params, interrupt, unknown ones)."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.providers.sandbox.avatar import SandboxAvatar
from sessions.stream.codec import (
    command_frame,
    encode,
    encoded_size,
    event_frame,
    interrupt_frame,
    set_params_frame,
)
from sessions.stream.parser import EventMessage
from tests.providers.sandbox.helpers import FAST, Client, ends, make, say

# -- limits -----------------------------------------------------------------------------


def violation(reason: str) -> str:
    return event_frame("sandbox_violation", reason=reason)


def padded_chat(size: int, mid: str = "p") -> str:
    """A one-frame chat of exactly ``size`` bytes."""

    def frame_of(text: str) -> str:
        chat = {"v": 2, "type": "chat", "mid": mid, "idx": 0, "fin": True, "pld": {"text": text}}
        return encode(chat)

    frame = frame_of("a" * (size - encoded_size(frame_of(""))))
    assert encoded_size(frame) == size
    return frame


@pytest.mark.asyncio
async def test_it_drops_a_frame_over_1024_bytes():
    client = Client()
    avatar = make(client, mode=1)
    await avatar.receive(padded_chat(1025))
    await asyncio.sleep(0.01)
    assert client.frames == [violation("frame_too_large")]
    # Counted in bytes of UTF-8, not characters.
    client.frames.clear()
    wide = padded_chat(1000).replace("a", "é", 30)  # 1,000 characters, 1,030 bytes
    assert len(wide) == 1000
    await avatar.receive(wide)
    await asyncio.sleep(0.01)
    assert client.frames == [violation("frame_too_large")]


@pytest.mark.asyncio
async def test_a_frame_of_exactly_1024_bytes_is_accepted():
    client = Client()
    avatar = make(client, mode=1)
    await avatar.receive(padded_chat(1024))
    await client.until(ends(client, 1))
    assert violation("frame_too_large") not in client.frames


@pytest.mark.asyncio
async def test_it_drops_frames_over_6000_bytes_in_a_second():
    client = Client()
    avatar = make(client)
    empty = encoded_size(command_frame("noop", {"pad": ""}, mid="n"))
    filler = command_frame("noop", {"pad": "x" * (1000 - empty)}, mid="n")
    assert encoded_size(filler) == 1000  # six fit in 6,000 bytes, a seventh does not

    for _ in range(6):
        await avatar.receive(filler)
    assert violation("rate_exceeded") not in client.frames
    await avatar.receive(filler)
    assert client.frames[-1] == violation("rate_exceeded")

    client.now = 0.999  # still the same second
    await avatar.receive(filler)
    assert client.frames[-1] == violation("rate_exceeded")
    client.now = 1.0  # the first six left the window; dropped frames never counted
    client.frames.clear()
    for _ in range(6):
        await avatar.receive(filler)
    assert violation("rate_exceeded") not in client.frames


@pytest.mark.asyncio
async def test_garbage_is_ignored_quietly():
    client = Client()
    avatar = make(client)
    for raw in ["", "not json", "[]", '{"v":1,"type":"chat","mid":"m","pld":{"text":"x"}}',
                b"\xff\xfe", '{"v":2,"type":"event","pld":{"event":"audio_start"}}']:  # fmt: skip
        await avatar.receive(raw)
    await asyncio.sleep(0.01)
    assert client.frames == []


@given(st.lists(st.one_of(st.text(max_size=1200), st.binary(max_size=1200)), max_size=10))
@settings(max_examples=100, deadline=None)
def test_receive_never_raises(raws):
    async def run():
        client = Client()
        avatar = make(client)
        for raw in raws:
            await avatar.receive(raw)
        await avatar.aclose()

    asyncio.run(run())


@pytest.mark.asyncio
async def test_receive_survives_a_failing_send():
    async def broken(frame):
        raise ConnectionError("socket gone")

    avatar = SandboxAvatar(broken, words_per_second=FAST)
    await avatar.receive("x" * 2000)
    await avatar.receive(interrupt_frame())
    await say(avatar, "hello")
    await asyncio.sleep(0.01)
    await avatar.aclose()


# -- commands ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_set_params_is_acknowledged_and_applied():
    client = Client()
    avatar = make(client)
    frame = set_params_frame(
        voice_id="v1",
        language="fr",
        mode=1,
        background_url="https://example.com/bg.jpg",
        voice_params={"speed": 1.2},
        mid="sp1",
    )
    await avatar.receive(frame)
    assert json.loads(client.frames[-1]) == {
        "v": 2,
        "type": "command",
        "mid": "sp1",
        "pld": {"cmd": "set-params", "code": 1000, "msg": "ok"},
    }
    assert avatar.mode == 1
    assert avatar.params["lang"] == "fr" and avatar.params["vparams"] == {"speed": 1.2, "vid": "v1"}

    await say(avatar, "now I am repeated")  # mode 1 from here on
    await client.until(ends(client, 1))
    assert client.answers() == ["now I am repeated"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({"mode": 3}, "mode"),
        ({"mode": True}, "mode"),
        ({"mode": "1"}, "mode"),
        ({"vid": "v" * 201}, "vid"),
        ({"lang": 5}, "lang"),
        ({"bgurl": "ftp://example.com/a.png"}, "bgurl"),
        ({"bgurl": "javascript:alert(1)"}, "bgurl"),
        ({"bgurl": "https://example.com/" + "a" * 2048}, "bgurl"),
        ({"vparams": ["speed"]}, "vparams"),
    ],
)
async def test_invalid_set_params_are_refused_with_a_reason(data, complaint):
    client = Client()
    # Bigger frames than Agora's, so that an over-long URL reaches the validation.
    avatar = make(client, mode=2, frame_limit=4096, rate_limit=10_000)
    await avatar.receive(command_frame("set-params", data, mid="bad"))
    (ack,) = client.acks()
    assert (ack.mid, ack.cmd, ack.code) == ("bad", "set-params", 1001)
    assert complaint in ack.msg
    assert avatar.mode == 2 and avatar.params == {}


@pytest.mark.asyncio
async def test_an_unknown_command_gets_code_1002():
    client = Client()
    avatar = make(client)
    await avatar.receive(command_frame("dance", mid="u1"))
    (ack,) = client.acks()
    assert (ack.mid, ack.cmd, ack.code) == ("u1", "dance", 1002)
    assert ack.msg


@pytest.mark.asyncio
async def test_an_ack_never_exceeds_1024_bytes():
    client = Client()
    avatar = make(client)
    huge_mid = "m" * 950
    frame = command_frame("set-params", {}, mid=huge_mid)
    assert encoded_size(frame) <= 1024
    await avatar.receive(frame)
    await avatar.receive(command_frame("x" * 900, mid="m" * 50))
    assert all(encoded_size(f) <= 1024 for f in client.frames)


@pytest.mark.asyncio
async def test_interrupt_cuts_the_answer_short_and_drops_the_queue():
    client = Client()
    avatar = make(client, mode=1, words_per_second=100)
    long_text = " ".join(f"w{i}" for i in range(200))  # 2 s of speech, 50 pieces
    await say(avatar, long_text)
    await say(avatar, "queued, never spoken")
    await client.until(lambda: len(client.bot_pieces()) >= 2)

    await avatar.receive(interrupt_frame(mid="int1"))
    pieces_at_interrupt = len(client.bot_pieces())
    await asyncio.sleep(0.1)

    pieces = client.bot_pieces()
    assert 2 <= len(pieces) == pieces_at_interrupt < 50
    assert not any(p.fin for p in pieces)  # an interrupted answer never finishes
    assert long_text.startswith("".join(p.text for p in pieces))
    assert client.events() == ["audio_start", "audio_end"]
    # audio_end is out before the ack, so the page is idle when it learns it worked.
    last_two = client.messages[-2:]
    assert isinstance(last_two[0], EventMessage) and last_two[0].event == "audio_end"
    assert (last_two[1].cmd, last_two[1].mid, last_two[1].code) == ("interrupt", "int1", 1000)

    await say(avatar, "after")  # the avatar keeps working after an interrupt
    await client.until(ends(client, 2))
    assert client.answers()[-1] == "after"


@pytest.mark.asyncio
async def test_interrupt_while_silent_is_just_acknowledged():
    client = Client()
    avatar = make(client)
    await avatar.receive(interrupt_frame(mid="i"))
    assert [(a.cmd, a.code) for a in client.acks()] == [("interrupt", 1000)]
    assert client.events() == []


@pytest.mark.asyncio
async def test_aclose_stops_speech_without_further_sends():
    client = Client()
    avatar = make(client, mode=1, words_per_second=50)
    await say(avatar, "a b c d e f g h i j k l m n o p")
    await client.until(lambda: len(client.bot_pieces()) >= 1)
    await avatar.aclose()
    sent = len(client.frames)
    await asyncio.sleep(0.05)
    await avatar.receive(interrupt_frame())
    assert len(client.frames) == sent
    assert "audio_end" not in client.events()
