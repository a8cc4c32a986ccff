"""The recording notice and its tick (issue 16): what the page says before Start, and the
server's refusal of a create without the tick when the preset asks for one, so an API
client cannot skip what the page asks of a person."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from sessions.models import AvatarSession
from sessions.services.consent import recording_notice
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticked(world):
    world.preset.consent_required = True
    world.preset.save()
    return world.preset


def _page_config(user) -> dict:
    client = Client()
    client.force_login(user)
    html = client.get("/").content.decode()
    found = re.search(r'<script id="page-config" type="application/json">(.*?)</script>', html)
    assert found, "the page carries its config"
    return json.loads(found.group(1))


def test_a_create_without_the_tick_is_refused_with_400_and_nothing_is_started(alice_api, ticked):
    for body in ({"preset": "ada"}, {"preset": "ada", "consent": False}):
        error = assert_error(alice_api.post("/sessions", body), 400, "consent_required")
        assert "recording notice" in error["message"]
    assert not AvatarSession.objects.exists()


def test_a_create_with_the_tick_starts(alice_api, ticked):
    response = alice_api.post("/sessions", {"preset": "ada", "consent": True})
    assert response.status_code == 201, response.content


def test_consent_must_be_a_json_boolean(alice_api, ticked):
    # "yes" or 1 is not a person's tick: the schema refuses it, nothing starts.
    for value in ("yes", 1, "true"):
        assert alice_api.post("/sessions", {"preset": "ada", "consent": value}).status_code == 422
    assert not AvatarSession.objects.exists()


def test_a_preset_without_the_tick_needs_none(alice_api, world):
    assert alice_api.post("/sessions", {"preset": "ada"}).status_code == 201


def test_presets_say_which_need_the_tick_and_which_may_extend(alice_api, ticked, world):
    world.retell.extend_allowed = True
    world.retell.save()
    avatars = {a["slug"]: a for a in alice_api.get("/presets").json()["avatars"]}
    assert (avatars["ada"]["consent_required"], avatars["ada"]["extend_allowed"]) == (True, False)
    assert (avatars["cleo"]["consent_required"], avatars["cleo"]["extend_allowed"]) == (False, True)


def test_the_default_notice_says_recorded_how_long_and_where(settings, world):
    settings.TRANSCRIPT_RETENTION_DAYS = 30
    settings.LLM_BASE_URL = ""
    notice = _page_config(world.alice)["recordingNotice"]
    assert "This conversation is recorded." in notice["text"]
    assert "kept for 30 days" in notice["text"]
    assert notice["llm_text"] == ""


def test_zero_retention_days_is_kept_until_deleted(settings):
    settings.TRANSCRIPT_RETENTION_DAYS = 0
    assert "kept until it is deleted" in recording_notice()["text"]


def test_with_akool_the_notice_names_akool(settings):
    settings.AVATAR_PROVIDER = "akool"
    assert "AKool" in recording_notice()["text"]
    settings.AVATAR_PROVIDER = "sandbox"
    assert "AKool" not in recording_notice()["text"]


def test_the_llm_host_is_named_never_its_key_or_path(settings, world):
    settings.LLM_BASE_URL = "https://user:pw@llm.example.net:8443/v1"
    settings.LLM_API_KEY = "sk-notice-should-never-show"
    notice = _page_config(world.alice)["recordingNotice"]
    assert "llm.example.net" in notice["llm_text"]
    shown = json.dumps(notice)
    for secret in ("sk-notice-should-never-show", "pw@", "user:", "/v1", "8443"):
        assert secret not in shown


def test_the_operators_own_words_replace_the_default(settings):
    settings.RECORDING_NOTICE = "Calls are recorded for training. Ask us to delete yours."
    assert recording_notice()["text"] == "Calls are recorded for training. Ask us to delete yours."


def test_in_the_sandbox_with_an_llm_the_notice_says_dialogue_goes_there(settings):
    """The sandbox's dialogue answers through the operator's LLM when one is set (a new
    user saw "goes to no avatar service" while their words went to it)."""
    settings.AVATAR_PROVIDER = "sandbox"
    settings.LLM_BASE_URL = "https://llm.example.net/v1"
    text = recording_notice()["text"]
    assert "llm.example.net" in text and "no avatar service" not in text
    settings.LLM_BASE_URL = ""
    assert "no avatar service" in recording_notice()["text"]
