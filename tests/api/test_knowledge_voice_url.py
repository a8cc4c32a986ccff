"""What a session create sends AKool from its preset (against the fake AKool): the
knowledge base's `knowledge_id`, a cloned voice's `voice_url` (the preset's own wins over
its default voice; a chosen voice by URL goes as its URL), and the voice params; an
Extend sends the cloned voice again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sessions.knowledge_models import KnowledgeBase
from sessions.models import VoicePreset
from tests.support.akool import use_akool
from tests.support.fakes.akool_server import FakeAkool

pytestmark = pytest.mark.django_db

CLONE = "https://example.org/voices/clone.wav"


@pytest.fixture
def fake(settings) -> Iterator[FakeAkool]:
    with FakeAkool() as server:
        use_akool(settings, server.base_url, server.api_key)
        yield server


def created(alice_api, fake, **body) -> dict:
    response = alice_api.post("/sessions", {"preset": "ada", **body})
    assert response.status_code == 201, response.content
    return fake.requests_to("create")[-1].json


def test_the_presets_knowledge_base_goes_as_knowledge_id(alice_api, fake, world):
    world.preset.knowledge = KnowledgeBase.objects.create(name="Guide", knowledge_id="kb_42")
    world.preset.save()

    assert created(alice_api, fake)["knowledge_id"] == "kb_42"


def test_no_knowledge_base_sends_no_knowledge_id(alice_api, fake, world):
    # One created here whose upstream create never happened has no id: nothing to send.
    world.preset.knowledge = KnowledgeBase.objects.create(name="Not upstream")
    world.preset.save()

    assert "knowledge_id" not in created(alice_api, fake)


def test_the_presets_cloned_voice_wins_over_its_default_voice(alice_api, fake, world):
    world.preset.voice_url = CLONE
    world.preset.save()

    body = created(alice_api, fake)

    assert body["voice_url"] == CLONE
    assert "voice_id" not in body  # the default voice is not sent beside it


def test_a_chosen_voice_by_url_is_sent_as_voice_url(alice_api, fake, world):
    VoicePreset.objects.create(slug="clone", name="Clone", voice_url=CLONE)

    body = created(alice_api, fake, voice="clone")

    assert (body["voice_url"], "voice_id" in body) == (CLONE, False)


def test_a_chosen_voice_by_id_wins_over_the_presets_cloned_voice(alice_api, fake, world):
    world.preset.voice_url = CLONE
    world.preset.save()

    body = created(alice_api, fake, voice="lyon")

    assert (body["voice_id"], "voice_url" in body) == ("sandbox_voice_lyon", False)


def test_a_default_voice_by_url_is_sent_as_voice_url(alice_api, fake, world):
    world.preset.default_voice = VoicePreset.objects.create(slug="c", name="C", voice_url=CLONE)
    world.preset.save()

    assert created(alice_api, fake)["voice_url"] == CLONE


def test_an_extend_sends_the_cloned_voice_again(alice_api, fake, world):
    world.preset.voice_url = CLONE
    world.preset.extend_allowed = True
    world.preset.save()
    session_id = alice_api.post("/sessions", {"preset": "ada"}).json()["id"]

    response = alice_api.post(f"/sessions/{session_id}/extend", {})

    assert response.status_code == 201, response.content
    assert [r.json.get("voice_url") for r in fake.requests_to("create")] == [CLONE, CLONE]
