"""The simulated avatar behind the sandbox transport (sessions/sandbox_avatar.py)."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.providers.sandbox import responder
from sessions.providers.sandbox.avatar import MAX_CHAT_CHARS, MAX_PENDING_CHATS, SandboxAvatar
from sessions.stream.chunker import chat_frames
from sessions.stream.codec import (
    command_frame,
    encode,
    encoded_size,
    event_frame,
    interrupt_frame,
    set_params_frame,
)
from sessions.stream.parser import ChatMessage, CommandMessage, EventMessage, parse

FAST = 1e6  # words per second: speech without waiting


class Client:
    """The page's side of the sandbox socket: collects what the avatar sends."""

    def __init__(self) -> None:
        self.frames: list[str] = []
        self.now = 0.0

    async def send(self, frame: str) -> None:
        self.frames.append(frame)

    def clock(self) -> float:
        return self.now

    @property
    def messages(self):
        return [parse(f) for f in self.frames]

    def events(self) -> list[str]:
        return [m.event for m in self.messages if isinstance(m, EventMessage)]

    def acks(self) -> list[CommandMessage]:
        return [m for m in self.messages if isinstance(m, CommandMessage)]

    def bot_pieces(self) -> list[ChatMessage]:
        return [m for m in self.messages if isinstance(m, ChatMessage)]

    def answers(self) -> list[str]:
        """Complete bot answers, in order, joined by mid."""
        texts: dict[str, list[str]] = {}
        for m in self.bot_pieces():
            texts.setdefault(m.mid, []).append(m.text)
        return ["".join(parts) for parts in texts.values()]

    async def until(self, predicate, timeout: float = 2.0) -> None:
        async def poll():
            while not predicate():
                await asyncio.sleep(0.001)

        await asyncio.wait_for(poll(), timeout)


def make(client: Client, **kwargs) -> SandboxAvatar:
    kwargs.setdefault("words_per_second", FAST)
    return SandboxAvatar(client.send, clock=client.clock, **kwargs)


async def say(avatar: SandboxAvatar, text: str, **kwargs) -> None:
    for frame in chat_frames(text, **kwargs):
        await avatar.receive(frame)


def ends(client: Client, n: int):
    return lambda: client.events().count("audio_end") >= n


# -- conversation -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_in_dialogue_mode_it_answers_with_the_responder():
    client = Client()
    avatar = make(client)
    await say(avatar, "What is photosynthesis?")
    await client.until(ends(client, 1))
    await say(avatar, "hello")
    await client.until(ends(client, 2))

    assert client.answers() == [
        responder.reply("What is photosynthesis?", turn=1),
        responder.reply("hello", turn=2),
    ]
    assert client.events() == ["audio_start", "audio_end"] * 2
    # audio_start before the first piece, audio_end after the last.
    kinds = [type(m).__name__ for m in client.messages]
    assert kinds[0] == "EventMessage" and kinds[-1] == "EventMessage"
    await avatar.aclose()


@pytest.mark.asyncio
async def test_answer_pieces_share_a_mid_count_up_and_finish_once():
    client = Client()
    avatar = make(client, mode=1)
    text = " ".join(f"word{i}" for i in range(30)) + "."
    await say(avatar, text)
    await client.until(ends(client, 1))

    pieces = client.bot_pieces()
    assert len({p.mid for p in pieces}) == 1
    assert [p.idx for p in pieces] == list(range(len(pieces)))
    assert [p.fin for p in pieces] == [False] * (len(pieces) - 1) + [True]
    assert all(p.sender == "bot" for p in pieces)
    assert 1 < len(pieces) <= 10  # "a few words" each
    assert client.answers() == [text]
    # idx/fin travel at top level, as the protocol says.
    raw = json.loads(client.frames[1])
    assert raw["idx"] == 0 and "fin" in raw and raw["pld"]["from"] == "bot"


@pytest.mark.asyncio
async def test_in_retelling_mode_it_speaks_the_text_as_given():
    client = Client()
    avatar = make(client, mode=1)
    await say(avatar, "  Say exactly this, with   spacing.\n")
    await client.until(ends(client, 1))
    assert client.answers() == ["  Say exactly this, with   spacing.\n"]


@pytest.mark.asyncio
async def test_it_uses_a_custom_answer_function():
    client = Client()

    async def answer(text: str) -> str:
        return f"You said {len(text)} characters."

    avatar = make(client, answer=answer)
    await say(avatar, "abc")
    await client.until(ends(client, 1))
    assert client.answers() == ["You said 3 characters."]


@pytest.mark.asyncio
async def test_it_does_not_echo_the_users_chat():
    client = Client()
    avatar = make(client, mode=1)
    await say(avatar, "hello")
    await client.until(ends(client, 1))
    assert all(p.sender == "bot" for p in client.bot_pieces())


@pytest.mark.asyncio
async def test_a_chat_arriving_while_speaking_is_answered_afterwards():
    client = Client()
    avatar = make(client, mode=1, words_per_second=200)
    await say(avatar, "first " * 20)
    await say(avatar, "second")
    await client.until(ends(client, 2))
    assert client.answers() == ["first " * 20, "second"]
    assert client.events() == ["audio_start", "audio_end", "audio_start", "audio_end"]


@pytest.mark.asyncio
async def test_an_empty_chat_in_retelling_mode_says_nothing():
    client = Client()
    avatar = make(client, mode=1)
    await say(avatar, "   ")
    await asyncio.sleep(0.01)
    assert client.frames == []


# -- reassembly -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_it_reassembles_chunks_out_of_order_and_interleaved():
    client = Client()
    avatar = make(client, mode=1)
    first = "Émile 说: " + "one two three " * 60
    second = "😀 second message " * 30
    frames = chat_frames(first, mid="a", budget=120)
    frames += chat_frames(second, mid="b", budget=150)
    assert len(frames) > 10
    random.Random(7).shuffle(frames)
    for frame in frames:
        await avatar.receive(frame)
    await client.until(ends(client, 2))
    assert sorted(client.answers()) == sorted([first, second])


@pytest.mark.asyncio
async def test_a_duplicate_chunk_does_not_change_the_text():
    client = Client()
    avatar = make(client, mode=1)
    f0, f1 = chat_frames("abc" * 100, mid="d", budget=250)
    await avatar.receive(f0)
    await avatar.receive(f0.replace('"abc', '"XYZ'))  # same idx again: ignored
    await avatar.receive(f1)
    await client.until(ends(client, 1))
    assert client.answers() == ["abc" * 100]


@pytest.mark.asyncio
async def test_it_forgets_the_oldest_unfinished_chat_beyond_the_bound():
    client = Client()
    avatar = make(client, mode=1)
    heads = {}
    for i in range(MAX_PENDING_CHATS + 1):
        f0, f1 = chat_frames(f"message {i} " * 20, mid=f"m{i}", budget=150)[:2]
        heads[i] = f1
        await avatar.receive(f0)
    await avatar.receive(heads[0])  # m0 was evicted: its tail starts a new, incomplete chat
    await avatar.receive(heads[MAX_PENDING_CHATS])
    await asyncio.sleep(0.01)
    assert client.frames == []


@pytest.mark.asyncio
async def test_it_drops_a_chat_longer_than_the_bound():
    client = Client()
    avatar = make(client, mode=1)
    text = "z" * (MAX_CHAT_CHARS + 1)
    for n, frame in enumerate(chat_frames(text, mid="long")):
        client.now = n // 6  # stay under the rate limit
        await avatar.receive(frame)
    await asyncio.sleep(0.01)
    assert client.frames == []


@pytest.mark.asyncio
async def test_it_speaks_a_long_unspaced_text_in_frames_within_1kb():
    client = Client()
    avatar = make(client, mode=1)
    text = "中" * 5000 + '\x01"\\' * 500
    for n, frame in enumerate(chat_frames(text)):
        client.now = n // 6
        await avatar.receive(frame)
    await client.until(ends(client, 1))
    assert client.answers() == [text]
    assert all(len(f.encode()) <= 1024 for f in client.frames)


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
    assert avatar.params["lang"] == "fr" and avatar.params["vparams"] == {"speed": 1.2}

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


# -- the built-in responder -------------------------------------------------------------


def test_responder_is_deterministic_and_varies_with_the_turn():
    assert responder.reply("Tell me about volcanoes", turn=3) == responder.reply(
        "Tell me about volcanoes", turn=3
    )
    replies = {responder.reply("Tell me about volcanoes", turn=t) for t in range(1, 20)}
    assert len(replies) >= 3


def test_responder_reflects_the_topic_of_a_question():
    assert "photosynthesis" in responder.reply("How does photosynthesis work?", turn=1)
    assert "volcanoes" in responder.reply("I really like volcanoes", turn=1).lower()


def test_responder_handles_greetings_empty_and_long_input():
    assert responder.reply("Hello!", turn=1) in responder._GREETING_REPLIES
    assert responder.reply("   ", turn=1) in responder._EMPTY
    long = responder.reply("blah " * 5000, turn=1)
    assert len(long) < 200


@given(text=st.text(), turn=st.integers(0, 10**6))
@settings(max_examples=200, deadline=None)
def test_responder_replies_are_short_sentences(text, turn):
    answer = responder.reply(text, turn=turn)
    assert answer.strip() and len(answer) <= 200
    terminators = sum(answer.count(c) for c in ".!?") - 2 * answer.count("...")
    assert 1 <= terminators <= 3
