"""F4: a preset that answers with our LLM and has guardrails (declined topics, or the
moderation endpoint) cannot be switched to the avatar's own dialogue mode, where nothing
of ours checks the answers: not at create (400 mode_not_allowed), not mid-session
(set_params: an error frame, the socket stays open). The presets API says which modes
each preset allows, so the page offers only those."""

from __future__ import annotations

import json

import pytest

from sessions.models import AvatarSession
from tests.conftest import assert_error
from tests.support.wsutil import create_session, open_page

pytestmark = pytest.mark.django_db(transaction=True)

LLM = "http://llm.invalid/v1"  # never called: no chat is sent


@pytest.fixture
def guarded(world, settings):
    """Lex: answers with our LLM and declines politics."""
    settings.LLM_BASE_URL = LLM
    world.preset.use_llm = True
    world.preset.declined_topics = "politics"
    world.preset.save()
    return world.preset


def modes_of(api) -> dict[str, list[int]]:
    response = api.get("/presets")
    assert response.status_code == 200
    return {a["slug"]: a["modes"] for a in response.json()["avatars"]}


def test_create_in_dialogue_mode_is_refused_for_a_guarded_preset(world, alice_api, guarded):
    response = alice_api.post("/sessions", {"preset": "ada", "mode": 2})

    error = assert_error(response, 400, "mode_not_allowed")
    assert "dialogue" in error["message"]
    assert not AvatarSession.objects.exists()
    # Its own mode (or asking for retelling) starts, answered by our LLM.
    started = alice_api.post("/sessions", {"preset": "ada"})
    assert started.status_code == 201, started.content
    assert started.json()["mode"] == 1


def test_moderation_alone_guards_too(world, alice_api, settings):
    settings.LLM_BASE_URL = LLM
    settings.LLM_MODERATION_URL = "http://moderation.invalid/v1"
    world.preset.use_llm = True
    world.preset.save()

    assert_error(alice_api.post("/sessions", {"preset": "ada", "mode": 2}), 400, "mode_not_allowed")


def test_unguarded_presets_keep_both_modes(world, alice_api, settings):
    settings.LLM_BASE_URL = LLM
    world.preset.use_llm = True  # our LLM, but nothing to check: dialogue stays possible
    world.preset.save()

    assert modes_of(alice_api) == {"ada": [1, 2], "cleo": [1, 2]}
    assert alice_api.post("/sessions", {"preset": "ada", "mode": 2}).status_code == 201


def test_the_presets_api_lists_only_the_allowed_modes(world, alice_api, guarded):
    assert modes_of(alice_api) == {"ada": [1], "cleo": [1, 2]}


@pytest.mark.asyncio
async def test_switching_to_dialogue_mid_session_is_refused(world, guarded):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    assert json.loads(await page.receive_from(timeout=3))["type"] == "session"

    await page.send_json_to({"type": "set_params", "params": {"mode": 2}})

    error = json.loads(await page.receive_from(timeout=3))
    assert error["type"] == "error" and error["code"] == "mode_not_allowed"
    # The socket stays open and the session stays in retelling mode.
    await page.send_json_to({"type": "set_params", "params": {"language": "en"}})
    assert json.loads(await page.receive_from(timeout=3))["type"] == "rtc_send"
    row = await AvatarSession.objects.aget(pk=session["id"])
    assert row.mode == 1 and row.use_llm
    await page.disconnect()


def test_the_rule_is_read_when_asked(world, alice_api, guarded):
    """Topics removed from the preset: dialogue is allowed again (no stale rule)."""
    guarded.declined_topics = ""
    guarded.save()
    assert modes_of(alice_api)["ada"] == [1, 2]
