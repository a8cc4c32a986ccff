"""Guardrails for the operator's LLM (issue 16): a preset's declined topics never reach the
avatar (the fake LLM answers with one: no frame to the avatar and no transcript line carries
it, the decline line does), the system prompt lists them, and a moderation endpoint rules a
question out before the LLM is asked, failing closed unless told otherwise."""

from __future__ import annotations

import json

import pytest

from sessions.llm import guardrails
from sessions.llm.guardrails import ModerationConfig, ModerationError, TopicGuard
from sessions.models import AvatarPreset, SessionEvent, TranscriptEntry
from sessions.services.answers import moderation_config
from tests.support.fakes.llm_server import FakeLlm, serving
from tests.support.wsutil import Conversation, create_session, open_page, open_sandbox

SAFE = "The museum opens at nine. "
TOUCHY = "Many visitors ask about the Election, and I think the left party will win. "
LATER = "Tickets cost twelve euros."
ANSWER = SAFE + TOUCHY + LATER
ENGLISH_DECLINE = guardrails.DECLINE_LINES["en"]


# --- the rule, as the operator writes topics ---------------------------------------------


def test_a_topic_matches_whole_words_and_phrases_whatever_the_case():
    guard = TopicGuard(guardrails.parse_topics("Election\n\n  climate   change \npolitic*\n"))
    assert guard.touches("Who wins the ELECTION?") == "Election"
    assert guard.touches("Climate-change is real.") == "climate change"
    assert guard.touches("That is political, isn't it?") == "politic*"
    # Not inside another word, and not half a phrase.
    assert guard.touches("The electioneering poster is red.") is None
    assert guard.touches("The climate is mild. Change trains here.") is None
    assert guard.touches("The apolitical museum opens at nine.") is None


def test_a_topic_in_a_script_without_spaces_matches_anywhere():
    guard = TopicGuard(guardrails.parse_topics("政治"))
    assert guard.touches("日本の政治について話しましょう。") == "政治"
    assert guard.touches("美術館は九時に開きます。") is None


def test_blank_lines_repeats_and_lone_stars_are_not_topics():
    assert guardrails.parse_topics("a b\n\nA  B\n*\n \nweather") == ("a b", "weather")
    assert TopicGuard(()).touches("anything at all") is None


def test_the_system_prompt_states_the_topics_and_the_decline_line():
    prompt = guardrails.system_prompt("You are a guide.", ("Election", "politic*"), "de")
    assert prompt.startswith("You are a guide.")
    assert "Election; politic." in prompt
    assert guardrails.DECLINE_LINES["de"] in prompt
    assert guardrails.system_prompt("You are a guide.", (), "de") == "You are a guide."


def test_the_decline_line_is_in_the_sessions_language_else_english():
    assert guardrails.decline_line("de-AT") == guardrails.DECLINE_LINES["de"]
    assert guardrails.decline_line("it") == ENGLISH_DECLINE
    assert guardrails.decline_line("") == ENGLISH_DECLINE


# --- the moderation endpoint --------------------------------------------------------------


@pytest.mark.asyncio
async def test_moderation_reads_the_verdict_and_reports_a_missing_one():
    with FakeLlm() as fake:
        config = ModerationConfig(fake.base_url, api_key="mod-key", timeout=1.0)
        fake.flagged = ("bomb",)
        assert await guardrails.moderate(config, "How do I build a BOMB?") is True
        assert await guardrails.moderate(config, "When do you open?") is False
        assert fake.moderations[0] == ({"input": "How do I build a BOMB?"}, "Bearer mod-key")
        fake.moderation_status = 503
        with pytest.raises(ModerationError) as refused:
            await guardrails.moderate(config, "Hello")
        fake.moderation_status, fake.moderation_delay = 200, 1.0
        with pytest.raises(ModerationError) as slow:
            await guardrails.moderate(ModerationConfig(fake.base_url, timeout=0.1), "Hello")
    assert (refused.value.code, slow.value.code) == ("moderation_refused", "moderation_timeout")


def test_the_llm_key_goes_only_to_a_moderation_endpoint_on_the_llms_own_host(settings):
    settings.LLM_BASE_URL = "https://llm.example.com/v1"
    settings.LLM_API_KEY = "llm-key-for-this-test-only-7f3a"
    settings.LLM_MODERATION_KEY = ""
    settings.LLM_MODERATION_URL = ""
    assert moderation_config() is None
    settings.LLM_MODERATION_URL = "https://LLM.example.com/v1"
    assert moderation_config().api_key == "llm-key-for-this-test-only-7f3a"
    settings.LLM_MODERATION_URL = "https://moderation.example.net/v1"
    assert moderation_config().api_key == ""
    settings.LLM_MODERATION_KEY = "mod-key"
    assert moderation_config().api_key == "mod-key"
    assert "mod-key" not in repr(moderation_config())


# --- in a session: what reaches the avatar and the page ---------------------------------


@pytest.fixture
def llm(settings):
    with serving(settings, ANSWER, retries=0) as server:
        settings.LLM_MODERATION_URL = ""
        yield server


@pytest.fixture
def guide(world):
    return AvatarPreset.objects.create(
        slug="guide",
        name="Guide",
        avatar_id="sandbox_ada",
        use_llm=True,
        system_prompt="You are the museum's guide.",
        declined_topics="election\npolitic*",
    )


def spoken(talk: Conversation) -> list[str]:
    """Each chat message sent to the avatar, whole, in order."""
    texts: dict[str, str] = {}
    for frame in talk.sent_frames:
        message = json.loads(frame)
        if message["type"] == "chat":
            texts[message["mid"]] = texts.get(message["mid"], "") + message["pld"]["text"]
    return list(texts.values())


async def ask(world, question: str, **body) -> tuple[Conversation, dict]:
    session = await create_session(world.alice_token, preset="guide", **body)
    page = await open_page(session, world.alice_token)
    assert json.loads(await page.receive_from())["type"] == "session"
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": question})
        await talk.wait_for(
            lambda m: m["type"] == "transcript" and m["role"] == "avatar" and m["final"]
        )
    await page.disconnect()
    await avatar.disconnect()
    return talk, session


def shown(talk: Conversation) -> str:
    return "".join(m["text"] for m in talk.of_type("transcript") if m["role"] == "avatar")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_declined_topic_never_reaches_the_avatar_nor_the_page(world, guide, llm):
    talk, session = await ask(world, "What do visitors talk about?")

    # The safe sentence is said; the one touching a topic and all after it never are.
    assert spoken(talk) == [SAFE, ENGLISH_DECLINE]
    everything_sent = " ".join(talk.sent_frames).casefold()
    assert "election" not in everything_sent and "tickets" not in everything_sent
    assert shown(talk) == SAFE + ENGLISH_DECLINE
    line = await TranscriptEntry.objects.aget(role="avatar")
    assert (line.text, line.cut) == (SAFE + ENGLISH_DECLINE, False)
    event = await SessionEvent.objects.aget(session_id=session["id"], kind="limit")
    assert event.data == {"where": "answer", "topic": "election"}
    assert "election" not in event.message.casefold()
    assert llm.wait_idle(2.0)  # the rest of the answer was not waited for
    # The system prompt sent to the LLM states the topics and the line to decline with.
    system = llm.requests[0]["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are the museum's guide.")
    assert "election; politic." in system["content"]
    assert ENGLISH_DECLINE in system["content"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_flagged_question_is_declined_in_the_sessions_language_without_the_llm(
    world, guide, llm, settings
):
    settings.LLM_MODERATION_URL = llm.base_url
    llm.flagged = ("bomb",)
    talk, session = await ask(world, "Wie baue ich eine Bomb?", language="de")

    assert spoken(talk) == [guardrails.DECLINE_LINES["de"]]
    assert llm.requests == []  # the LLM was never asked
    body, authorization = llm.moderations[0]
    assert body == {"input": "Wie baue ich eine Bomb?"}
    assert authorization == f"Bearer {llm.api_key}"  # the LLM's own host: its key
    event = await SessionEvent.objects.aget(session_id=session["id"], kind="limit")
    assert event.data == {"where": "question", "reason": "flagged"}


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fail_closed", [True, False])
async def test_moderation_down_follows_the_setting(
    world, guide, llm, settings, caplog, fail_closed
):
    settings.LLM_MODERATION_URL = llm.base_url
    settings.LLM_MODERATION_FAIL_CLOSED = fail_closed
    llm.answer = "The museum opens at nine."
    llm.moderation_status = 503
    talk, _ = await ask(world, "When do you open?")

    events = [e.data async for e in SessionEvent.objects.filter(kind="limit")]
    if fail_closed:
        assert spoken(talk) == [ENGLISH_DECLINE] and llm.requests == []
        assert events == [{"where": "question", "reason": "moderation_refused"}]
    else:
        assert spoken(talk) == ["The museum opens at nine."] and len(llm.requests) == 1
        assert events == []
    assert "no moderation verdict (moderation_refused)" in caplog.text
    assert llm.api_key not in caplog.text + json.dumps(talk.received)


@pytest.mark.django_db
def test_the_preset_form_explains_how_topics_match(world):
    from tests.staff.helpers import superuser_client

    page = superuser_client(world).get("/admin/avatar_sessions/avatarpreset/add/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "one per line" in text and "politic*" in text and "climate change" in text
