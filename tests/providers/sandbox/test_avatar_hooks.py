"""The sandbox avatar's hooks into its session: `admit` and `answer` may refuse a chat (it
answers nothing, says why in an event), `said` hears every piece it sends, and what it sent
is recorded even when an interrupt lands meanwhile."""

from __future__ import annotations

import asyncio

import pytest

from sessions.providers.sandbox.avatar import Refused
from sessions.stream.codec import event_frame
from tests.providers.sandbox.helpers import Client, ends, make, say

pytestmark = pytest.mark.asyncio


async def refuse(mode: int, text: str) -> None:
    raise Refused("chat_rate_limit")


async def test_a_refused_chat_is_not_answered_and_the_page_is_told_in_an_event():
    client = Client()
    asked = []

    async def answer(text: str) -> str:
        asked.append(text)
        return "never"

    avatar = make(client, answer=answer, admit=refuse)
    await say(avatar, "Hello there")
    await asyncio.sleep(0.01)
    assert client.frames == [event_frame("sandbox_refused", reason="chat_rate_limit")]
    assert asked == []


async def test_mode_1_text_costs_no_answer_and_is_admitted_knowing_its_mode():
    client = Client()
    admitted = []

    async def admit(mode: int, text: str) -> None:
        admitted.append((mode, text))

    async def answer(text: str) -> str:
        raise AssertionError("mode 1 text is not answered")

    avatar = make(client, mode=1, admit=admit, answer=answer)
    await say(avatar, "Spoken as given")
    await client.until(ends(client, 1))
    assert client.answers() == ["Spoken as given"]
    assert admitted == [(1, "Spoken as given")]


async def test_mode_1_text_refused_is_not_said():
    client = Client()
    avatar = make(client, mode=1, admit=refuse)
    await say(avatar, "Spoken as given")
    await client.until(lambda: client.frames)
    assert client.frames == [event_frame("sandbox_refused", reason="chat_rate_limit")]


async def test_an_answer_refused_says_nothing():
    client = Client()

    async def answer(text: str) -> str:
        raise Refused("llm_daily_tokens")

    avatar = make(client, answer=answer)
    await say(avatar, "Hello there")
    await client.until(lambda: client.frames)
    assert client.frames == [event_frame("sandbox_refused", reason="llm_daily_tokens")]
    assert client.bot_pieces() == []


async def test_said_hears_every_piece_sent_in_order():
    client = Client()
    heard = []

    async def said(mode, mid, idx, text, fin):
        heard.append((mode, mid, idx, text, fin))

    avatar = make(client, mode=1, said=said)
    await say(avatar, "one two three four five six seven eight nine")
    await client.until(ends(client, 1))
    sent = [(1, m.mid, m.idx, m.text, m.fin) for m in client.bot_pieces()]
    assert heard == sent and len(sent) > 1


async def test_a_piece_sent_is_recorded_even_when_an_interrupt_lands_meanwhile():
    client = Client()
    recording = asyncio.Event()
    release = asyncio.Event()
    recorded = []

    async def said(mode, mid, idx, text, fin):
        recording.set()
        await release.wait()  # a slow database
        recorded.append(text)

    avatar = make(client, mode=1, said=said)
    await say(avatar, "one two three four five six seven eight nine")
    await recording.wait()
    interrupt = asyncio.ensure_future(avatar.interrupt())
    await asyncio.sleep(0.01)
    assert not interrupt.done()  # it waits for the record of what was sent
    release.set()
    await interrupt
    assert recorded == [client.bot_pieces()[0].text]
    assert client.events() == ["audio_start", "audio_end"]


async def test_an_answer_cut_short_is_handed_to_cut_before_its_audio_end():
    client = Client()
    cuts = []

    async def cut(mode, mid):
        cuts.append((mid, client.events()[:]))

    avatar = make(client, mode=1, words_per_second=20.0, cut=cut)
    await say(avatar, " ".join(f"w{i}" for i in range(40)))
    await client.until(lambda: client.bot_pieces())
    await avatar.interrupt()
    ((mid, events_then),) = cuts
    assert mid == client.bot_pieces()[0].mid
    assert events_then == ["audio_start"] and client.events() == ["audio_start", "audio_end"]


async def test_an_answer_said_to_its_end_is_not_cut():
    client = Client()
    cuts = []

    async def cut(mode, mid):
        cuts.append(mid)

    avatar = make(client, mode=1, cut=cut)
    await say(avatar, "one two three four five six")
    await client.until(ends(client, 1))
    assert cuts == []
