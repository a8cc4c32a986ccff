"""A knowledge base in the sandbox: its opening line is the avatar's greeting (once a
session, over the sandbox socket, into the transcript), and its instructions steer the
built-in responder."""

from __future__ import annotations

import asyncio
import json

import pytest

from sessions.knowledge_models import KnowledgeBase
from sessions.models import AvatarPreset, TranscriptEntry
from sessions.providers.sandbox import responder
from sessions.providers.sandbox.avatar import SandboxAvatar
from tests.providers.sandbox.helpers import Client, ends, make, say
from tests.support.fakes.llm_server import serving
from tests.support.wsutil import Conversation, create_session, open_page, open_sandbox

OPENING = "Welcome to the museum! What would you like to see first?"
INSTRUCTIONS = "Talk about the museum's paintings.\nNever talk about prices."


async def greeting_of(avatar) -> str:
    """The first line the avatar says on its socket, joined from its pieces."""
    pieces = []
    while True:
        frame = json.loads(await avatar.receive_from(timeout=5))
        if frame.get("type") == "chat":
            pieces.append(frame["pld"]["text"])
            if frame.get("fin"):
                return "".join(pieces)


async def with_knowledge(world) -> None:
    base = await KnowledgeBase.objects.acreate(
        name="Museum", knowledge_id="sbx_kb_1", prologue=OPENING, prompt=INSTRUCTIONS
    )
    await AvatarPreset.objects.filter(pk=world.preset.pk).aupdate(knowledge=base)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_opening_line_is_the_greeting_once_a_session(world):
    await with_knowledge(world)
    session = await create_session(world.alice_token)

    avatar = await open_sandbox(session)
    assert await greeting_of(avatar) == OPENING
    # Recorded as the avatar's line (the record of the last piece follows its frame).
    for _ in range(200):
        entry = await TranscriptEntry.objects.filter(session_id=session["id"]).afirst()
        if entry is not None and entry.text == OPENING:
            break
        await asyncio.sleep(0.01)
    assert (entry.role, entry.text) == ("avatar", OPENING)
    await avatar.disconnect()

    # A page that reconnects is not greeted again.
    again = await open_sandbox(session)
    assert await again.receive_nothing(timeout=0.3)
    await again.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_without_a_knowledge_base_the_avatar_waits_to_be_spoken_to(world):
    session = await create_session(world.alice_token)
    avatar = await open_sandbox(session)
    assert await avatar.receive_nothing(timeout=0.3)
    await avatar.disconnect()


@pytest.mark.asyncio
async def test_the_greeting_is_said_as_it_is_in_dialogue_mode():
    client = Client()
    avatar: SandboxAvatar = make(client, mode=2)
    avatar.greet(OPENING)
    await client.until(ends(client, 1))
    assert client.answers() == [OPENING]  # not answered as if it were a question
    await avatar.aclose()


@pytest.mark.asyncio
async def test_the_instructions_steer_the_built_in_answers():
    client = Client()
    avatar = make(client, instructions=INSTRUCTIONS)
    await say(avatar, "hello")
    await client.until(ends(client, 1))
    (answer,) = client.answers()
    assert answer.startswith(responder.reply("hello", turn=1))
    assert answer.endswith('I follow my instructions: "Talk about the museum\'s paintings."')
    await avatar.aclose()


def test_only_replies_without_a_topic_of_their_own_are_steered():
    question = "What is photosynthesis?"
    assert responder.reply(question, turn=1, instructions=INSTRUCTIONS) == responder.reply(
        question, turn=1
    )
    for text in ("hello", "What?", "ok"):
        assert "I follow my instructions" in responder.reply(
            text, turn=1, instructions=INSTRUCTIONS
        )


def test_long_instructions_are_quoted_short_and_other_languages_stay_whole():
    long = "Talk about " + "very " * 40 + "old paintings."
    said = responder.reply("hello", turn=1, instructions=long)
    quoted = said.split('"')[1]
    assert len(quoted) <= responder.MAX_FOCUS + 1 and quoted.endswith("…")
    french = responder.reply("bonjour", turn=1, language="fr", instructions=INSTRUCTIONS)
    assert french == responder.reply("bonjour", turn=1, language="fr")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_in_own_llm_sessions_the_instructions_follow_the_system_prompt(world, settings):
    await AvatarPreset.objects.acreate(
        slug="guide",
        name="Guide",
        avatar_id="sandbox_ada",
        use_llm=True,
        system_prompt="You are the museum's guide.",
        knowledge=await KnowledgeBase.objects.acreate(name="Museum", prompt=INSTRUCTIONS),
    )
    with serving(settings, "The museum opens at nine.", retries=0) as llm:
        settings.LLM_MODERATION_URL = ""
        session = await create_session(world.alice_token, preset="guide")
        page = await open_page(session, world.alice_token)
        avatar = await open_sandbox(session)
        async with Conversation(page, avatar) as talk:
            await page.send_json_to({"type": "chat", "text": "When do you open?"})
            await talk.wait_for(lambda m: m["type"] == "transcript" and m["role"] == "avatar")
        await page.disconnect()
        await avatar.disconnect()
        system = llm.requests[0]["messages"][0]

    assert system["role"] == "system"
    assert system["content"] == f"You are the museum's guide.\n\n{INSTRUCTIONS}"
