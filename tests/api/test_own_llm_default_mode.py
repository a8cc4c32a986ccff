"""A preset that answers with our LLM starts its sessions in retelling mode (1), where our
LLM answers, whatever its own mode says (staff tick "answer with our LLM" and leave Mode
at Dialogue): the presets API reports that mode (the page starts there) and a create
without `mode` uses it. One home: sessions/services/modes.py, default_mode."""

from __future__ import annotations

import pytest

from sessions.models import AvatarSession

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_llm_in_dialogue(world, settings):
    settings.LLM_BASE_URL = "http://llm.invalid/v1"  # never called: no chat is sent
    world.preset.use_llm = True
    world.preset.mode = 2  # Dialogue, left as it was
    world.preset.save()
    return world.preset


def mode_of(api, slug: str) -> int:
    response = api.get("/presets")
    assert response.status_code == 200
    return {a["slug"]: a["mode"] for a in response.json()["avatars"]}[slug]


def test_the_presets_api_reports_retelling_for_an_own_llm_preset(alice_api, own_llm_in_dialogue):
    assert own_llm_in_dialogue.mode == 2
    assert mode_of(alice_api, "ada") == 1


def test_a_create_without_mode_starts_in_retelling_answered_by_our_llm(
    alice_api, own_llm_in_dialogue
):
    response = alice_api.post("/sessions", {"preset": "ada"})
    assert response.status_code == 201, response.content
    assert response.json()["mode"] == 1
    assert AvatarSession.objects.get().use_llm is True


def test_asking_for_dialogue_still_gets_the_avatars_own_assistant(alice_api, own_llm_in_dialogue):
    response = alice_api.post("/sessions", {"preset": "ada", "mode": 2})
    assert response.status_code == 201, response.content
    assert response.json()["mode"] == 2
    assert AvatarSession.objects.get().use_llm is False


def test_without_an_llm_configured_the_presets_own_mode_stands(alice_api, world, settings):
    settings.LLM_BASE_URL = ""
    world.preset.use_llm = True
    world.preset.save()
    assert mode_of(alice_api, "ada") == world.preset.mode == 2
    assert alice_api.post("/sessions", {"preset": "ada"}).json()["mode"] == 2


@pytest.mark.django_db
def test_the_preset_form_says_our_llm_starts_in_retelling(world):
    from tests.staff.helpers import superuser_client

    page = superuser_client(world).get(
        f"/admin/avatar_sessions/avatarpreset/{world.preset.pk}/change/"
    )
    assert page.status_code == 200
    assert "answers with our LLM starts its sessions in mode 1" in page.content.decode()
