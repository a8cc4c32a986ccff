"""The transcript marks the unspoken rest (issue 19): an own-LLM answer interrupted (typed
Interrupt or spoken barge-in) while the avatar speaks keeps, as its line, the sentences
the avatar began, and the rest that went out apart, marked unspoken: on the page's
frames, on a replay, in the API's transcript and in History."""

from __future__ import annotations

import asyncio
import json

import pytest
from django.test import AsyncClient

from sessions.models import AvatarPreset, TranscriptEntry
from sessions.stream.codec import command_frame
from tests.support.fakes.llm_server import serving
from tests.support.wsutil import Conversation, create_session, open_page, open_sandbox

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

FIRST = "The museum opens at nine. "
REST = (
    "Tickets cost twelve euros, and children go free. "
    "The café on the top floor has the best view of the river. "
    "Guided tours start every hour from the main hall. Enjoy your visit!"
)
SECOND = "Tickets cost twelve euros."


@pytest.fixture
def llm(settings):
    settings.SANDBOX_WORDS_PER_SECOND = 4.0  # the avatar speaks for seconds: time to cut in
    answers = lambda m: SECOND if "ticket" in m[-1]["content"].lower() else FIRST + REST  # noqa: E731
    with serving(settings, answers, retries=0) as server:
        yield server


@pytest.fixture
def guide(world):
    return AvatarPreset.objects.create(
        slug="guide", name="Guide", avatar_id="sandbox_ada", use_llm=True, hear_quiet_ms=150
    )


def unspoken_frame(m) -> bool:
    return m["type"] == "transcript" and bool(m.get("unspoken"))


async def cut_while_the_avatar_speaks(world, cut_in) -> tuple[dict, dict, dict]:
    """A typed question answered whole; while the avatar says its first sentence, `cut_in`
    (given the page and the avatar). Returns (the session, the first answer's final frame,
    the frame that marked its unspoken rest)."""
    session = await create_session(world.alice_token, preset="guide")
    page = await open_page(session, world.alice_token)
    assert json.loads(await page.receive_from())["type"] == "session"
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Tell me about the museum"})
        answer = await talk.wait_for(
            lambda m: m["type"] == "transcript" and m["role"] == "avatar" and m["final"]
        )
        # All of it went out, and is shown; the avatar has said only its first words.
        assert "".join(
            m["text"] for m in talk.of_type("transcript") if m.get("mid") == answer["mid"]
        ) == (FIRST + REST)
        await talk.wait_for(lambda m: m["type"] == "avatar" and m["speaking"])
        await asyncio.sleep(0.15)  # its first words came back to the server
        await cut_in(page, avatar)
        marked = await talk.wait_for(unspoken_frame)
    await page.disconnect()
    await avatar.disconnect()
    return session, answer, marked


async def assert_marked_everywhere(world, session, answer, marked) -> None:
    assert marked["mid"] == answer["mid"]
    assert (marked["text"], marked["unspoken"]) == (FIRST, REST)
    assert marked["final"] and marked["cut"]
    line = await TranscriptEntry.objects.aget(mid=answer["mid"])
    assert (line.text, line.unspoken, line.cut) == (FIRST, REST, True)
    # A page that comes back is shown the same.
    page = await open_page(session, world.alice_token)
    replayed = []
    while not await page.receive_nothing(timeout=0.2):
        replayed.append(json.loads(await page.receive_from()))
    await page.disconnect()
    (again,) = [m for m in replayed if m.get("mid") == answer["mid"]]
    assert (again["text"], again["unspoken"], again["cut"]) == (FIRST, REST, True)
    # And the API's transcript.
    response = await AsyncClient().get(
        f"/api/v1/sessions/{session['id']}/transcript",
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    (said,) = [m for m in response.json()["messages"] if m["mid"] == answer["mid"]]
    assert (said["text"], said["unspoken"], said["cut"]) == (FIRST, REST, True)


async def test_a_typed_interrupt_keeps_the_unspoken_rest_apart(world, guide, llm):
    async def interrupt(page, avatar):
        await page.send_json_to({"type": "interrupt"})

    session, answer, marked = await cut_while_the_avatar_speaks(world, interrupt)
    await assert_marked_everywhere(world, session, answer, marked)


async def test_a_spoken_barge_in_keeps_the_unspoken_rest_apart(world, guide, llm):
    async def barge_in(page, avatar):
        text = "And what about tickets?"
        await avatar.send_to(text_data=command_frame("sandbox-hear", {"text": text}))

    session, answer, marked = await cut_while_the_avatar_speaks(world, barge_in)
    await assert_marked_everywhere(world, session, answer, marked)
