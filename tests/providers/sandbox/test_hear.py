"""The sandbox hears: `sandbox-hear` makes its avatar send the text as the user's
recognised speech, as AKool does (`chat` pieces, `from: "user"`, idx/fin)."""

from __future__ import annotations

import asyncio
import json

import pytest

from sessions.stream.codec import MAX_FRAME_BYTES, command_frame, encoded_size
from tests.providers.sandbox.helpers import Client, ends, make

pytestmark = pytest.mark.asyncio

QUESTION = "When does the museum open on Sundays and is there a guided tour for children?"


async def test_heard_text_comes_back_as_the_users_speech_in_numbered_pieces():
    client = Client()
    avatar = make(client, mode=1)  # retelling: the avatar answers nothing it hears
    await avatar.receive(command_frame("sandbox-hear", {"text": QUESTION}, mid="h1"))
    sent = [json.loads(f) for f in client.frames]
    chats, ack = sent[:-1], sent[-1]
    assert len(chats) > 1
    assert {c["pld"]["from"] for c in chats} == {"user"}
    assert len({c["mid"] for c in chats}) == 1
    assert [c["idx"] for c in chats] == list(range(len(chats)))
    assert [c["fin"] for c in chats] == [False] * (len(chats) - 1) + [True]
    assert "".join(c["pld"]["text"] for c in chats) == QUESTION
    assert all(encoded_size(f) <= MAX_FRAME_BYTES for f in client.frames)
    assert ack["pld"] == {"cmd": "sandbox-hear", "code": 1000, "msg": "ok"}
    assert ack["mid"] == "h1"
    assert client.events() == []  # hearing is not speaking: no audio_start


@pytest.mark.parametrize("data", [{}, {"text": ""}, {"text": "   "}, {"text": 5}, {"text": ["a"]}])
async def test_bad_heard_text_is_refused_with_a_reason(data):
    client = Client()
    avatar = make(client)
    await avatar.receive(command_frame("sandbox-hear", data, mid="h2"))
    (ack,) = [json.loads(f) for f in client.frames]
    assert ack["pld"]["cmd"] == "sandbox-hear"
    assert ack["pld"]["code"] == 1001 and "sandbox-hear" in ack["pld"]["msg"]


async def test_in_dialogue_what_the_avatar_hears_is_answered_by_its_own_assistant():
    # As AKool's dialogue answers what its speech recognition heard: the chat's path,
    # its limits (admit) included.
    client = Client()
    admitted = []

    async def admit(mode, text):
        admitted.append((mode, text))

    async def answer(question):
        return f"You asked: {question}"

    avatar = make(client, mode=2, answer=answer, admit=admit)
    await avatar.receive(command_frame("sandbox-hear", {"text": f"  {QUESTION} "}, mid="h3"))
    await client.until(ends(client, 1))
    assert admitted == [(2, QUESTION)]
    bot = [m for m in client.bot_pieces() if m.sender == "bot"]
    assert "".join(m.text for m in bot) == f"You asked: {QUESTION}"
    # The user's speech went out before the answer began.
    senders = [m.sender for m in client.bot_pieces()]
    assert senders.index("bot") > max(i for i, s in enumerate(senders) if s == "user")


async def test_in_retelling_what_the_avatar_hears_is_not_answered():
    client = Client()
    asked = []

    async def answer(question):
        asked.append(question)
        return "An answer."

    avatar = make(client, mode=1, answer=answer)
    await avatar.receive(command_frame("sandbox-hear", {"text": QUESTION}, mid="h4"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert asked == [] and client.events() == []
    assert avatar.speaking is False
