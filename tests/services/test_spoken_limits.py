"""Spoken questions obey every limit a typed one does (the security review of issue 19):
a line is asked at most once per session, however often the page sends it again and on
however many sockets; each question asked counts against the chat's rate (so the LLM and
the moderation endpoint are asked no more often than a typed chat allows); a barge-in is
an interrupt, within the command rate as the page's Interrupt is."""

from __future__ import annotations

import json

import pytest

from sessions.models import SessionEvent
from sessions.stream.codec import event_frame
from tests.support.fakes.llm_server import serving
from tests.support.wsutil import create_session, open_page

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("one_minute"),  # counts within one window (tests/conftest.py)
]


@pytest.fixture
def llm(settings):
    with serving(settings, "It is about the museum.", retries=0) as server:
        yield server


def spoken(mid: str, idx: int, text: str, fin: bool) -> dict:
    """A piece of the user's recognised speech, as the page forwards it."""
    chat = {"v": 2, "type": "chat", "mid": mid, "idx": idx, "fin": fin}
    return {
        "type": "rtc_message",
        "data": json.dumps(chat | {"pld": {"from": "user", "text": text}}),
    }


async def connect(world, session) -> object:
    page = await open_page(session, world.alice_token)
    assert json.loads(await page.receive_from(timeout=3))["type"] == "session"
    return page


async def drain(page, timeout: float = 0.4) -> list[dict]:
    """Every frame the socket sends until it goes quiet."""
    received = []
    while not await page.receive_nothing(timeout=timeout):
        received.append(json.loads(await page.receive_from(timeout=3)))
    return received


def codes(received: list[dict]) -> list[str]:
    return [m["code"] for m in received if m["type"] == "error"]


async def the_reviewers_sequence(world, questions: list[str]) -> list[dict]:
    """Five spoken lines, then six reconnects each sending all five again (new piece,
    `fin: true`): what the page received."""
    session = await create_session(world.alice_token, preset="guide")
    mids = [f"m{n}" for n in range(len(questions))]
    page = await connect(world, session)
    for mid, question in zip(mids, questions, strict=True):
        await page.send_json_to(spoken(mid, 0, question, fin=True))
    received = await drain(page)
    for reconnect in range(1, 7):
        await page.disconnect()
        page = await connect(world, session)
        for mid in mids:
            await page.send_json_to(spoken(mid, reconnect, "?", fin=True))
        received += await drain(page)
    await page.send_json_to({"type": "chat", "text": "And a typed question?"})
    received += await drain(page)
    await page.disconnect()
    return received


async def test_old_lines_sent_again_on_new_sockets_are_not_asked_again(world, guide, llm, settings):
    settings.CHAT_MESSAGES_PER_MINUTE = 3
    questions = [f"What is room {n} about?" for n in range(5)]
    received = await the_reviewers_sequence(world, questions)
    # Three questions within the chat's rate, each asked once; the other two refused in
    # words, and the typed chat after them too: spoken and typed share the one rate. (A
    # question that cuts the answer to the one before may reach the LLM in one request with
    # it, when that answer had not begun: at most three requests, never a refused question.)
    # (A request cut off mid-body, by the next question, reaches the fake without one.)
    assert 1 <= len(llm.requests) <= 3, llm.requests
    asked = [body["messages"][-1]["content"] for body in llm.requests if body]
    assert {q for text in asked for q in text.split("\n\n")} <= set(questions[:3]), asked
    assert codes(received) == ["chat_rate_limit"] * 3


async def test_moderation_is_asked_no_more_often_than_the_chat_rate_allows(
    world, guide, llm, settings
):
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    settings.LLM_MODERATION_URL = llm.base_url  # the LLM's own host: its key goes along
    llm.flagged = ("bomb",)  # flagged: the LLM is never asked, no token is spent
    received = await the_reviewers_sequence(world, [f"Bomb {n}?" for n in range(5)])
    assert [body["input"] for body, _ in llm.moderations] == ["Bomb 0?", "Bomb 1?"]
    assert llm.requests == []
    assert codes(received) == ["chat_rate_limit"] * 4


async def test_a_flood_of_barge_ins_is_held_to_the_command_rate(world, guide, llm, settings):
    settings.COMMANDS_PER_MINUTE = 2
    session = await create_session(world.alice_token, preset="guide")
    page = await connect(world, session)
    for n in range(5):
        # The avatar speaks (as the page reports it), and the user talks over it.
        await page.send_json_to({"type": "rtc_message", "data": event_frame("audio_start")})
        await page.send_json_to(spoken(f"b{n}", 0, "Wait, stop there", fin=False))
    received = await drain(page)
    await page.disconnect()
    sent = [m["frame"] for m in received if m["type"] == "rtc_send"]
    assert sum('"interrupt"' in frame for frame in sent) == 2
    assert codes(received) == ["command_rate_limit"] * 3
    interrupts = SessionEvent.objects.filter(kind=SessionEvent.Kind.COMMAND, message="interrupt")
    assert await interrupts.acount() == 2
    assert llm.requests == []  # none of it ended: nothing was asked
