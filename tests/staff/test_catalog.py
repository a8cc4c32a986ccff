"""Presets in the admin: the catalog import (button and action) against the fake AKool
server and the sandbox, staff edits kept on refresh; thumbnails and voice previews."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sessions.models import AvatarPreset, VoicePreset
from sessions.providers import reset_providers
from tests.staff.helpers import messages_of, superuser_client
from tests.support.fakes.akool_server import FakeAkool

pytestmark = pytest.mark.django_db(transaction=True)

AVATARS = "/admin/avatar_sessions/avatarpreset/"
VOICES = "/admin/avatar_sessions/voicepreset/"


@pytest.fixture
def akool(settings) -> Iterator[FakeAkool]:
    with FakeAkool(avatar_count=130, voice_count=5) as fake:
        settings.AVATAR_PROVIDER = "akool"
        settings.AKOOL_BASE_URL = fake.base_url
        settings.AKOOL_API_KEY = fake.api_key
        settings.AKOOL_CLIENT_ID = ""
        settings.AKOOL_CLIENT_SECRET = ""
        settings.AKOOL_RETRIES = 0
        reset_providers()
        yield fake


@pytest.fixture
def staff(world):
    return superuser_client(world)


def import_from(client, changelist: str):
    response = client.post(f"{changelist}import/", follow=True)
    assert response.redirect_chain == [(changelist, 302)]
    return messages_of(response)


def test_the_import_button_pages_through_130_akool_avatars(staff, world, akool):
    page = staff.get(AVATARS).text
    assert "Import from the AKool catalog" in page

    said = import_from(staff, AVATARS)

    assert said[0] == (
        "Imported the AKool catalog: avatars: 130 new, 0 refreshed; voices: 5 new, 0 refreshed; "
        "knowledge bases: 2 new, 0 refreshed."
    )
    assert said[1].startswith("Languages offered upstream: English (en), French (fr)")
    assert [r.query["page"] for r in akool.requests_to("avatars")] == ["1", "2"]
    imported = AvatarPreset.objects.filter(avatar_id__startswith="fake_avatar_")
    assert imported.count() == 130
    last = imported.get(avatar_id="fake_avatar_130")
    assert last.thumbnail_url == "https://fake.akool.test/avatars/130.jpg"
    assert last.default_voice.voice_id == "fake_voice_001"
    voice = VoicePreset.objects.get(voice_id="fake_voice_002")
    assert voice.preview_url == "https://fake.akool.test/voices/2.mp3"


def test_a_refresh_keeps_what_staff_edited_and_adds_what_is_new(staff, world, akool):
    import_from(staff, AVATARS)
    star = AvatarPreset.objects.get(avatar_id="fake_avatar_007")
    star.name, star.active, star.order = "Our star", False, -5
    star.thumbnail_url = "/static/img/avatars/ada.svg"
    star.system_prompt = "Be brief."
    star.default_voice = world.voice
    star.save()
    voice = VoicePreset.objects.get(voice_id="fake_voice_003")
    voice.name, voice.active = "Narrator", False
    voice.save()
    akool.set_avatar_count(131)

    said = import_from(staff, VOICES)

    assert said[0] == (
        "Imported the AKool catalog: avatars: 1 new, 0 refreshed; voices: 0 new, 0 refreshed; "
        "knowledge bases: 0 new, 0 refreshed."
    )
    star.refresh_from_db()
    assert (star.name, star.active, star.order) == ("Our star", False, -5)
    assert star.thumbnail_url == "/static/img/avatars/ada.svg"
    assert (star.system_prompt, star.default_voice) == ("Be brief.", world.voice)
    voice.refresh_from_db()
    assert (voice.name, voice.active) == ("Narrator", False)
    assert AvatarPreset.objects.filter(avatar_id__startswith="fake_avatar_").count() == 131


def test_a_refresh_fills_in_what_staff_left_empty(staff, world, akool):
    import_from(staff, AVATARS)
    preset = AvatarPreset.objects.get(avatar_id="fake_avatar_010")
    preset.thumbnail_url = ""
    preset.default_voice = None
    preset.save()

    said = import_from(staff, AVATARS)

    assert "avatars: 0 new, 1 refreshed" in said[0]
    preset.refresh_from_db()
    assert preset.thumbnail_url == "https://fake.akool.test/avatars/10.jpg"
    assert preset.default_voice.voice_id == "fake_voice_001"


def test_the_import_action_does_the_same_from_the_changelist(staff, world, akool):
    response = staff.post(
        AVATARS,
        {"action": "import_catalog", "_selected_action": [str(world.preset.pk)]},
        follow=True,
    )
    assert "avatars: 130 new" in messages_of(response)[0]
    assert AvatarPreset.objects.count() == 3 + 130
    # The selection is not touched.
    world.preset.refresh_from_db()
    assert world.preset.name == "Ada"


def test_an_upstream_refusal_is_reported_and_nothing_changes(staff, world, akool):
    akool.fail("avatars", "code", code=1102, msg="authorization missing")
    said = import_from(staff, AVATARS)
    assert len(said) == 1
    assert said[0].startswith("The AKool catalog could not be fetched:")
    assert "authorization missing" in said[0]
    assert AvatarPreset.objects.count() == 3


def test_a_missing_language_list_does_not_spoil_the_import(staff, world, akool):
    akool.fail("languages", "http500")
    said = import_from(staff, AVATARS)
    assert "avatars: 130 new" in said[0]
    assert said[1].startswith("The list of languages could not be fetched")


def test_the_sandbox_catalog_imports_without_an_account(staff, world):
    assert "Import from the sandbox catalog" in staff.get(VOICES).text
    said = import_from(staff, VOICES)
    # The named world has ada and cleo (without a voice: filled in); ben and two voices
    # are new.
    assert said[0] == (
        "Imported the sandbox catalog: avatars: 1 new, 1 refreshed; voices: 2 new, 0 refreshed; "
        "knowledge bases: 1 new, 0 refreshed."
    )
    assert said[1] == (
        "Languages offered upstream: English (en), French (fr), German (de), Spanish (es), "
        "Japanese (ja)."
    )
    assert set(AvatarPreset.objects.values_list("avatar_id", flat=True)) >= {
        "sandbox_ada",
        "sandbox_ben",
        "sandbox_cleo",
    }
    assert "avatars: 0 new" in import_from(staff, VOICES)[0]


def test_the_import_is_a_post(staff, world):
    assert staff.get(f"{AVATARS}import/").status_code == 405
    assert AvatarPreset.objects.count() == 3


def test_avatar_thumbnails_and_voice_previews_show_in_the_lists(staff, world, akool):
    import_from(staff, AVATARS)
    avatars = staff.get(AVATARS).text
    assert (
        '<img class="preset-thumb" src="https://fake.akool.test/avatars/1.jpg" alt="" '
        'loading="lazy">' in avatars
    )
    assert "style=" not in avatars  # the CSP allows no inline styles
    voices = staff.get(VOICES).text
    assert (
        '<audio class="voice-preview" controls preload="none" '
        'src="https://fake.akool.test/voices/1.mp3" aria-label="Preview of Fake Voice 1">' in voices
    )
    # The sandbox voices speak with the browser's speech synthesis, as in a session.
    assert 'class="button voice-sample" data-lang="fr"' in voices
    assert "js/staff_presets.js" in voices
    form = staff.get(f"{AVATARS}{AvatarPreset.objects.get(avatar_id='fake_avatar_002').pk}/change/")
    assert 'class="preset-thumb-large" src="https://fake.akool.test/avatars/2.jpg"' in form.text
