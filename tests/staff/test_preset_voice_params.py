"""A preset's voice parameters in the admin: checked by the same schema as the socket's
set_params (api.schemas.VoiceParams), refused on the field when wrong."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from sessions.models import AvatarPreset
from tests.staff.helpers import superuser_client

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/avatar_sessions/avatarpreset/"
EVERY_FIELD = {
    "speed": 1.1,
    "pron_map": {"akool": "ai ku er"},
    "stt_type": "openai_realtime",
    "turn_detection": {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": 300,
        "silence_duration_ms": 500,
    },
}


def change_form(preset: AvatarPreset, voice_params: str) -> dict[str, str]:
    return {
        "slug": preset.slug,
        "name": preset.name,
        "avatar_id": preset.avatar_id,
        "thumbnail_url": "",
        "default_voice": str(preset.default_voice_id or ""),
        "language": preset.language,
        "mode": str(preset.mode),
        "background_url": "",
        "knowledge": "",
        "voice_params": voice_params,
        "system_prompt": "",
        "hear_quiet_ms": "800",
        "barge_in_min_chars": "4",
        "active": "on",
        "order": "0",
        # The tools inline's (sessions/staff/admin_tools.py) empty formset.
        "tools-TOTAL_FORMS": "0",
        "tools-INITIAL_FORMS": "0",
    }


def save(client, preset: AvatarPreset, voice_params: str):
    return client.post(f"{CHANGELIST}{preset.pk}/change/", change_form(preset, voice_params))


def test_the_form_saves_valid_voice_params(world):
    response = save(superuser_client(world), world.preset, json.dumps(EVERY_FIELD))

    assert response.status_code == 302
    world.preset.refresh_from_db()
    assert world.preset.voice_params == EVERY_FIELD


def test_the_form_shows_how_to_write_them(world):
    page = superuser_client(world).get(f"{CHANGELIST}{world.preset.pk}/change/")
    assert b"server_vad" in page.content and b"pron_map" in page.content


@pytest.mark.parametrize(
    ("voice_params", "named"),
    [
        ({"speed": 5}, "speed"),
        ({"pron_map": {"akool": ""}}, "pron_map"),
        ({"pron_map": {f"w{i}": "x" for i in range(21)}}, "pron_map"),
        ({"stt_type": "two words"}, "stt_type"),
        ({"turn_detection": {"type": "semantic_vad"}}, "turn_detection.type"),
        ({"turn_detection": {"threshold": -0.1}}, "turn_detection.threshold"),
        ({"turn_detection": {"silence_duration_ms": 0}}, "turn_detection.silence_duration_ms"),
        ({"elevenlabs_settings": {"api_key": "sk-1"}}, "elevenlabs_settings"),
        ({"pron_map": {f"word{i}": "p" * 70 for i in range(8)}}, "bytes"),
        (["speed", 1.1], "valid dictionary"),
    ],
)
def test_the_form_refuses_invalid_voice_params_on_the_field(world, voice_params, named):
    response = save(superuser_client(world), world.preset, json.dumps(voice_params))

    assert response.status_code == 200  # the form again, with its error
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["voice_params"]
    assert named in " ".join(errors["voice_params"])
    world.preset.refresh_from_db()
    assert world.preset.voice_params == {}


def test_the_list_still_edits_a_preset_whose_stored_voice_params_are_invalid(world):
    # Saved before they were checked: the list's active/order edit does not touch them.
    AvatarPreset.objects.filter(pk=world.preset.pk).update(voice_params={"speed": 9})
    presets = list(AvatarPreset.objects.all())
    data = {
        "form-TOTAL_FORMS": str(len(presets)),
        "form-INITIAL_FORMS": str(len(presets)),
        "_save": "Save",
    }
    for i, preset in enumerate(presets):
        data[f"form-{i}-id"] = str(preset.pk)
        data[f"form-{i}-order"] = "5" if preset.pk == world.preset.pk else str(preset.order)
        if preset.active:
            data[f"form-{i}-active"] = "on"

    response = superuser_client(world).post(CHANGELIST, data)

    assert response.status_code == 302
    world.preset.refresh_from_db()
    assert world.preset.order == 5


def test_the_model_check_normalises_what_it_keeps(world):
    preset = AvatarPreset(
        slug="x", name="X", avatar_id="a", voice_params={"turn_detection": {"threshold": 1}}
    )
    preset.full_clean()
    assert preset.voice_params == {"turn_detection": {"type": "server_vad", "threshold": 1.0}}
    preset.voice_params = {"speed": "fast"}
    with pytest.raises(ValidationError) as caught:
        preset.full_clean()
    assert "speed" in caught.value.message_dict["voice_params"][0]
