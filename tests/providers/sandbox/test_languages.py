"""The sandbox speaks every language its catalog offers (issue 17): its built-in responder
answers in the session's language, and the page is offered exactly those languages."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from sessions.providers.sandbox import phrases, responder
from sessions.providers.sandbox.provider import SANDBOX_LANGUAGES
from sessions.services import catalog
from sessions.stream.codec import set_params_frame
from tests.providers.sandbox.helpers import Client, ends, make, say

CATALOG_CODES = [lang.code for lang in SANDBOX_LANGUAGES]
# The responder's replies are plain functions (sessions/providers/sandbox/responder.py):
# the same on either pass of make test.
responder_only = pytest.mark.first_pass
# Said to each language's responder: a greeting, a question, a statement, thanks, nothing.
SAID = ["Bonjour, comment ça va ?", "How do volcanoes work?", "I love volcanoes", "merci", ""]


@responder_only
def test_every_catalog_language_is_spoken_by_the_responder():
    assert set(CATALOG_CODES) <= responder.SPOKEN
    for code in CATALOG_CODES:
        # Every kind of reply exists in every language (none falls back to English).
        assert set(responder.phrases_for(code)) == set(phrases.KINDS), code


@responder_only
@pytest.mark.parametrize("code", [c for c in CATALOG_CODES if c != "en"])
def test_each_catalog_language_is_answered_in_that_language(code):
    own = {t for kind in responder.phrases_for(code).values() for t in kind}
    english = {t for kind in responder.ENGLISH.values() for t in kind}
    for text in SAID:
        answer = responder.reply(text, turn=1, language=code)
        assert answer != responder.reply(text, turn=1, language="en")
        # The answer is built from this language's templates, not English's.
        assert any(_matches(answer, t) for t in own), (code, text, answer)
        assert not any(_matches(answer, t) for t in english - {""}), (code, text, answer)


def _matches(answer: str, template: str) -> bool:
    head = template.split("{")[0]
    return bool(head.strip()) and answer.startswith(head) or answer == template


@responder_only
def test_french_greeting_is_answered_in_french():
    answer = responder.reply("Bonjour, comment ça va ?", turn=1, language="fr")
    assert answer in phrases.FRENCH["greeting"]


@responder_only
def test_a_regional_tag_is_its_language_and_an_unknown_one_is_english():
    assert responder.reply("Hello", turn=2, language="fr-CA") == responder.reply(
        "Hello", turn=2, language="fr"
    )
    assert responder.reply("Hello", turn=2, language="it") == responder.reply("Hello", turn=2)


@responder_only
@given(text=st.text(), turn=st.integers(0, 10**6), code=st.sampled_from(CATALOG_CODES))
@settings(max_examples=300, deadline=None)
def test_replies_are_short_sentences_in_every_language(text, turn, code):
    answer = responder.reply(text, turn=turn, language=code)
    assert answer.strip() and len(answer) <= 200
    ends_ = sum(answer.count(c) for c in ".!?。！？") - 2 * answer.count("...")
    assert 1 <= ends_ <= 3


def test_the_page_is_offered_the_sandbox_catalog_languages():
    with override_settings(AVATAR_PROVIDER="sandbox"):
        assert [lang["code"] for lang in catalog.languages()] == CATALOG_CODES
        assert catalog.languages()[1] == {"code": "fr", "name": "French"}
    with override_settings(AVATAR_PROVIDER="akool"):
        # AKool keeps its known list (its catalog needs a network call).
        assert [lang["code"] for lang in catalog.languages()] == list(catalog.KNOWN_LANGUAGES)


def test_presets_api_lists_the_sandbox_languages(alice_api):
    with override_settings(AVATAR_PROVIDER="sandbox"):
        languages = alice_api.get("/presets").json()["languages"]
    assert [lang["code"] for lang in languages] == CATALOG_CODES


@pytest.mark.asyncio
async def test_the_avatar_answers_in_the_session_language_then_the_one_set_params_chose():
    client = Client()
    avatar = make(client, language="fr")  # the session's language, from its creation
    await say(avatar, "Bonjour, comment ça va ?")
    await client.until(ends(client, 1))
    assert client.answers()[-1] in phrases.FRENCH["greeting"]
    await avatar.receive(set_params_frame(language="de", mid="m1"))
    await say(avatar, "Hallo")
    await client.until(ends(client, 2))
    assert client.answers()[-1] in phrases.GERMAN["greeting"]
    await avatar.aclose()


# Issue 17, left over: the German responder echoed the English topic of an English message
# ("Gute Frage zu volcanoes."). A reply in a language is wholly in it.
ENGLISH_TOPICS = [
    "How do volcanoes work?",
    "I love volcanoes",
    "Tell me about the weather tomorrow",
    "What is the best football team?",
    "Chocolate cake recipes please",
    "My grandmother collected photographs of dinosaurs.",
    "Why is the ocean salty? " + "Seawater tastes strange. " * 30,  # a long message
]
_WORDS = re.compile(r"\w+")


@responder_only
@pytest.mark.parametrize("code", [c for c in CATALOG_CODES if c != "en"])
@pytest.mark.parametrize("text", ENGLISH_TOPICS)
def test_an_english_message_is_answered_with_no_english_word_in_it(code, text):
    asked = {w for w in _WORDS.findall(text.casefold()) if len(w) > 3}
    for turn in range(6):  # several templates of each kind
        answer = responder.reply(text, turn=turn, language=code)
        assert not asked & set(_WORDS.findall(answer.casefold())), (code, text, answer)


@pytest.mark.parametrize(
    ("code", "text", "topic"),
    [
        ("de", "Ich liebe Vulkane", "Vulkane"),
        ("fr", "J’aime beaucoup les volcans", "volcans"),
        ("es", "¿Cómo funcionan los volcanes de Chile?", "funcionan"),
        ("ja", "火山が好きです", "火山が好きです"),
    ],
)
@responder_only
def test_a_message_in_the_sessions_language_still_has_its_topic_quoted(code, text, topic):
    assert any(topic in responder.reply(text, turn=t, language=code) for t in range(6))


@responder_only
def test_an_english_session_still_quotes_its_topic():
    assert any("volcanoes" in responder.reply("I love volcanoes", turn=t) for t in range(6))


@pytest.mark.asyncio
async def test_the_german_avatar_answers_an_english_question_wholly_in_german():
    client = Client()
    avatar = make(client, language="de")
    await say(avatar, "How do volcanoes work?")
    await client.until(ends(client, 1))
    answer = client.answers()[-1]
    await avatar.aclose()
    assert answer in phrases.GERMAN["generic_question"]
    assert "volcano" not in answer.casefold()
