"""GET /api/v1/presets: the active avatars and voices, and the languages a session may use."""

from __future__ import annotations

import pytest

from sessions.models import AvatarPreset, VoicePreset
from tests.conftest import Api, assert_error

pytestmark = pytest.mark.django_db


def test_it_lists_only_active_avatar_presets(alice_api):
    response = alice_api.get("/presets")

    assert response.status_code == 200
    slugs = [avatar["slug"] for avatar in response.json()["avatars"]]
    assert slugs == ["ada", "cleo"]  # "hidden" is inactive


def test_it_gives_each_avatar_its_defaults(alice_api, world):
    avatars = {a["slug"]: a for a in alice_api.get("/presets").json()["avatars"]}

    assert avatars["ada"] == {
        "slug": "ada",
        "name": "Ada",
        "avatar_id": "sandbox_ada",
        "thumbnail_url": "",
        "default_voice": "warm",
        "language": "en",
        "mode": 2,
        "background_url": "",
        "use_llm": False,
        "consent_required": False,
        "extend_allowed": False,
        "modes": [1, 2],
        "browser_speech": False,  # the page hears through the browser only when opted in
    }
    assert avatars["cleo"]["default_voice"] is None
    assert avatars["cleo"]["mode"] == 1


def test_it_lists_only_active_voices(alice_api, world):
    VoicePreset.objects.create(slug="retired", name="Retired", voice_id="v_old", active=False)

    voices = {v["slug"]: v for v in alice_api.get("/presets").json()["voices"]}

    assert set(voices) == {"warm", "lyon"}
    assert voices["lyon"] == {
        "slug": "lyon",
        "name": "Lyon",
        "voice_id": "sandbox_voice_lyon",
        "language": "fr",
        "gender": "",
        "preview_url": "",
    }


def test_it_lists_the_languages_with_names(alice_api):
    languages = alice_api.get("/presets").json()["languages"]

    by_code = {lang["code"]: lang["name"] for lang in languages}
    assert by_code["en"] == "English"
    assert by_code["fr"] == "French"
    assert all(set(lang) == {"code", "name"} for lang in languages)


def test_it_orders_presets_by_their_order_then_name(alice_api, world):
    AvatarPreset.objects.create(slug="zed", name="Zed", avatar_id="sandbox_z", order=-1)

    slugs = [a["slug"] for a in alice_api.get("/presets").json()["avatars"]]

    assert slugs == ["zed", "ada", "cleo"]


def test_it_shows_a_preset_again_once_reactivated(alice_api, world):
    AvatarPreset.objects.filter(slug="hidden").update(active=True)
    AvatarPreset.objects.filter(slug="ada").update(active=False)

    slugs = [a["slug"] for a in alice_api.get("/presets").json()["avatars"]]

    assert slugs == ["cleo", "hidden"]


def test_it_works_for_a_signed_in_browser(world):
    response = Api(user=world.bob).get("/presets")

    assert response.status_code == 200
    assert response.json()["avatars"]


def test_it_needs_authentication(anon_api):
    error = assert_error(anon_api.get("/presets"), 401, "not_authenticated")

    assert "Bearer" in error["message"]


def test_it_rejects_a_wrong_token(world):
    assert_error(Api(token="avs_not-a-real-token").get("/presets"), 401, "invalid_token")
