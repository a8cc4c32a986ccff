"""POST /api/v1/sessions: what a session is made of, and every way a create is refused."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from channels.testing import HttpCommunicator

from sessions.models import AvatarSession, VoicePreset
from tests.api.helpers import SESSION_FIELDS, create, parse_time
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db


# --- create --------------------------------------------------------------------------------


def test_it_creates_a_session_with_every_field(alice_api, world):
    response = alice_api.post("/sessions", {"preset": "ada"})

    assert response.status_code == 201
    session = response.json()
    assert set(session) == SESSION_FIELDS
    assert session["status"] == "active"
    assert session["preset"] == "ada"
    assert session["avatar_id"] == "sandbox_ada"
    assert session["ws_path"] == f"/ws/sessions/{session['id']}/"
    assert session["closed_at"] is None
    assert session["close_reason"] is None
    assert session["error"] is None
    started, expires = parse_time(session["started_at"]), parse_time(session["expires_at"])
    assert expires - started == timedelta(seconds=session["duration"])


def test_it_gives_the_owner_the_sandbox_rtc_credentials(alice_api):
    rtc = create(alice_api)["rtc"]

    assert set(rtc) == {"provider", "channel", "token", "uid", "network"}
    assert rtc["provider"] == "sandbox"
    assert rtc["channel"].startswith("sbx-")
    assert rtc["token"]
    assert rtc["uid"] == 1
    assert rtc["network"] == "agora"  # the network it plays: the operator's default


def test_it_records_the_session_in_the_database(alice_api, world):
    session = create(alice_api)

    row = AvatarSession.objects.get(pk=session["id"])
    assert row.owner == world.alice
    assert row.principal == f"token:{world.alice_token_obj.pk}"
    assert row.provider == "sandbox"
    assert row.upstream_id.startswith("sbx_")
    assert row.status == "active"
    # The token's slot, its user's (issue 15 item 10) and one of the global ones.
    assert len(row.slots) == 3
    states = list(row.events.filter(kind="state").values_list("message", flat=True))
    assert states == ["starting", "active"]


def test_it_takes_duration_voice_language_and_mode_from_the_preset(alice_api, settings):
    session = create(alice_api)

    assert session["duration"] == settings.SESSION_DEFAULT_DURATION
    assert session["voice_id"] == "sandbox_voice_warm"
    assert session["language"] == "en"
    assert session["mode"] == 2


def test_it_takes_mode_1_from_a_retelling_preset_without_a_voice(alice_api):
    session = create(alice_api, preset="cleo")

    assert session["mode"] == 1
    assert session["voice_id"] == ""


def test_it_accepts_explicit_voice_language_mode_and_duration(alice_api):
    session = create(alice_api, voice="lyon", language="fr", mode=1, duration=120)

    assert session["voice_id"] == "sandbox_voice_lyon"
    assert session["language"] == "fr"
    assert session["mode"] == 1
    assert session["duration"] == 120
    row = AvatarSession.objects.get(pk=session["id"])
    assert (row.voice_id, row.language, row.mode, row.duration) == (
        "sandbox_voice_lyon",
        "fr",
        1,
        120,
    )


def test_it_accepts_a_voice_by_its_upstream_id(alice_api):
    assert create(alice_api, voice="sandbox_voice_lyon")["voice_id"] == "sandbox_voice_lyon"


def test_it_accepts_nulls_for_the_optional_fields(alice_api):
    session = create(alice_api, voice=None, language=None, mode=None, duration=None)

    assert session["voice_id"] == "sandbox_voice_warm"
    assert session["mode"] == 2


def test_it_accepts_the_duration_bounds(alice_api, settings):
    low = create(alice_api, duration=settings.SESSION_MIN_DURATION)
    high = create(alice_api, duration=settings.SESSION_MAX_DURATION)

    assert low["duration"] == settings.SESSION_MIN_DURATION
    assert high["duration"] == settings.SESSION_MAX_DURATION


# --- create: refusals ----------------------------------------------------------------------


def test_it_refuses_an_unknown_preset(alice_api):
    error = assert_error(alice_api.post("/sessions", {"preset": "nobody"}), 404, "preset_not_found")

    assert "nobody" in error["message"]
    assert not AvatarSession.objects.exists()


def test_it_refuses_an_inactive_preset(alice_api):
    assert_error(alice_api.post("/sessions", {"preset": "hidden"}), 404, "preset_not_found")


def test_it_refuses_an_unknown_voice(alice_api):
    error = assert_error(
        alice_api.post("/sessions", {"preset": "ada", "voice": "nobody"}), 404, "voice_not_found"
    )

    assert "nobody" in error["message"]


def test_it_refuses_an_inactive_voice(alice_api):
    VoicePreset.objects.filter(slug="lyon").update(active=False)

    response = alice_api.post("/sessions", {"preset": "ada", "voice": "lyon"})

    assert_error(response, 404, "voice_not_found")


def test_it_refuses_an_unknown_language(alice_api):
    error = assert_error(
        alice_api.post("/sessions", {"preset": "ada", "language": "xx"}), 422, "invalid_language"
    )

    assert "xx" in error["message"]


@pytest.mark.parametrize("raw", ["{bad", '{"preset": "ada",}', "\xff", "<xml/>"])
def test_it_refuses_a_body_that_is_not_json(alice_api, raw):
    assert_error(alice_api.post("/sessions", raw=raw), 400, "bad_json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"preset": 1}, "preset"),
        ({"preset": ["ada"]}, "preset"),
        ({"preset": ""}, "preset"),
        ({"preset": "a" * 51}, "preset"),
        ({"preset": "ada", "duration": "600"}, "duration"),
        ({"preset": "ada", "duration": 600.5}, "duration"),
        ({"preset": "ada", "duration": True}, "duration"),
        ({"preset": "ada", "mode": 3}, "mode"),
        ({"preset": "ada", "mode": "1"}, "mode"),
        ({"preset": "ada", "voice": 7}, "voice"),
        ({"preset": "ada", "extra": 1}, "extra"),
        ({}, "preset"),
    ],
)
def test_it_refuses_wrong_types_naming_the_field(alice_api, body, field):
    error = assert_error(alice_api.post("/sessions", body), 422, "invalid_request")

    assert field in error["message"]
    assert not AvatarSession.objects.exists()


def test_it_refuses_a_boolean_mode(alice_api):
    assert_error(
        alice_api.post("/sessions", {"preset": "ada", "mode": True}), 422, "invalid_request"
    )


@pytest.mark.parametrize("raw", ["[]", '["ada"]', '"ada"', "null", "42"])
def test_it_refuses_a_body_that_is_not_an_object(alice_api, raw):
    response = alice_api.post("/sessions", raw=raw)

    assert response.status_code in (400, 422)
    assert_error(response, response.status_code, response.json()["error"]["code"])


def test_it_refuses_an_empty_body(alice_api):
    response = alice_api.post("/sessions", raw="")

    assert response.status_code in (400, 422)
    assert set(response.json()) == {"error"}


def test_it_refuses_an_oversized_body(alice_api, settings):
    settings.API_MAX_BODY_BYTES = 100
    body = {"preset": "ada", "voice": "x" * 150}

    error = assert_error(alice_api.post("/sessions", body), 413, "body_too_large")

    assert "100" in error["message"]
    assert not AvatarSession.objects.exists()


def test_it_refuses_a_non_numeric_content_length(alice_api):
    response = alice_api.post("/sessions", {"preset": "ada"}, CONTENT_LENGTH="many")

    assert_error(response, 400, "bad_request")


def test_it_survives_deeply_nested_json(alice_api):
    response = alice_api.post("/sessions", raw="[" * 5000 + "]" * 5000)

    assert response.status_code in (400, 422)
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize("offset", [-1, +1])
def test_it_refuses_a_duration_outside_the_bounds(alice_api, settings, offset):
    duration = (
        settings.SESSION_MIN_DURATION - 1 if offset < 0 else settings.SESSION_MAX_DURATION + 1
    )

    error = assert_error(
        alice_api.post("/sessions", {"preset": "ada", "duration": duration}),
        422,
        "invalid_duration",
    )

    assert str(settings.SESSION_MIN_DURATION) in error["message"]
    assert str(settings.SESSION_MAX_DURATION) in error["message"]


def test_it_refuses_a_huge_duration_without_overflowing(alice_api):
    response = alice_api.post("/sessions", {"preset": "ada", "duration": 10**30})

    assert_error(response, 422, "invalid_duration")


def test_it_answers_a_wrong_method_in_the_error_shape(alice_api):
    response = alice_api.client.delete("/api/v1/sessions", headers=alice_api.headers)

    assert_error(response, 405, response.json()["error"]["code"])


def test_it_answers_an_unknown_api_path_in_the_error_shape(alice_api):
    response = alice_api.get("/no-such-endpoint")

    assert_error(response, 404, response.json()["error"]["code"])


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_refuses_an_oversized_body_sent_without_content_length(world, settings):
    from avatarsite.asgi import application

    settings.API_MAX_BODY_BYTES = 1000
    raw = b'{"preset": "ada",' + b" " * 5000 + b'"mode": 2}'
    headers = [
        (b"host", b"localhost"),
        (b"authorization", f"Bearer {world.alice_token}".encode()),
        (b"content-type", b"application/json"),
        (b"transfer-encoding", b"chunked"),
    ]

    response = await HttpCommunicator(
        application, "POST", "/api/v1/sessions", body=raw, headers=headers
    ).get_response()

    assert response["status"] in (411, 413), response["body"][:200]
    assert set(json.loads(response["body"])) == {"error"}
    assert not await AvatarSession.objects.aexists()
