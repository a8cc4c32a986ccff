"""The simulated avatar behind the sandbox transport (sessions/providers/sandbox/avatar.py):
the conversation, and how it reassembles the chat it is sent."""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from sessions.providers.sandbox import responder
from sessions.providers.sandbox.avatar import MAX_CHAT_CHARS, MAX_PENDING_CHATS
from sessions.stream.chunker import chat_frames
from tests.providers.sandbox.helpers import Client, ends, make, say

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
