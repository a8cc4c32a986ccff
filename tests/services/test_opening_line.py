"""The knowledge base's opening line in own-LLM sessions (mode 1, "Own assistant"):
AKool's knowledge base greets in dialogue only, so our server has the avatar say it, as a
retelling chat, recorded in the transcript, once a session (services/answers.py,
Answerer.greet). The sandbox, standing in for AKool, does not greet such a session itself."""

from __future__ import annotations

import asyncio
import json

import pytest

from sessions.knowledge_models import KnowledgeBase
from sessions.models import AvatarPreset, TranscriptEntry
from tests.support.fakes.llm_server import serving
from tests.support.wsutil import Conversation, create_session, open_page, open_sandbox

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

OPENING = "Welcome to the museum! What would you like to see first?"
ANSWER = "The museum opens at nine."


@pytest.fixture
def llm(settings):
    with serving(settings, lambda messages: ANSWER, retries=0) as server:
        yield server


@pytest.fixture
def guide(world):
    base = KnowledgeBase.objects.create(name="Museum", knowledge_id="sbx_kb_1", prologue=OPENING)
    return AvatarPreset.objects.create(
        slug="guide", name="Guide", avatar_id="sandbox_ada", use_llm=True, knowledge=base
    )


def avatar_line(m) -> bool:
    return m["type"] == "transcript" and m["role"] == "avatar" and m["final"]


async def test_the_opening_line_is_said_and_recorded_once_a_session(world, guide, llm):
    session = await create_session(world.alice_token, preset="guide")
    assert session["mode"] == 1
    page = await open_page(session, world.alice_token)
    assert json.loads(await page.receive_from())["type"] == "session"
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        greeting = await talk.wait_for(avatar_line)
        await talk.wait_for(lambda m: m["type"] == "avatar" and not m["speaking"])
        # Sent as a retelling chat, said once (the sandbox does not greet on its own).
        assert list(talk.avatar_text().values()) == [OPENING]
        await page.send_json_to({"type": "chat", "text": "When do you open?"})
        await talk.wait_for(lambda m: avatar_line(m) and m["mid"] != greeting["mid"])
    await page.disconnect()
    assert llm.requests[0]["messages"][1:] == [  # the LLM knows it greeted; no tokens for it
        {"role": "assistant", "content": OPENING},
        {"role": "user", "content": "When do you open?"},
    ]
    # A page that comes back is not greeted again.
    again = await open_page(session, world.alice_token)
    await asyncio.sleep(0.3)
    await again.disconnect()
    await avatar.disconnect()
    lines = [(e.role, e.text) async for e in TranscriptEntry.objects.order_by("created_at")]
    assert lines == [("avatar", OPENING), ("user", "When do you open?"), ("avatar", ANSWER)]


async def test_without_an_opening_line_the_avatar_waits_to_be_spoken_to(world, guide, llm):
    await KnowledgeBase.objects.filter(pk=guide.knowledge_id).aupdate(prologue="")
    session = await create_session(world.alice_token, preset="guide")
    page = await open_page(session, world.alice_token)
    assert json.loads(await page.receive_from())["type"] == "session"
    assert await page.receive_nothing(timeout=0.3)
    await page.disconnect()
    assert not await TranscriptEntry.objects.aexists()
