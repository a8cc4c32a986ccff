"""The session API with the AKool provider, against a fake AKool on loopback (real sockets)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db.models import QuerySet

from sessions.models import AvatarSession
from sessions.providers import reset_providers
from tests.conftest import Api, assert_error
from tests.support.akool import use_akool
from tests.support.fakes.akool_server import FakeAkool
from tools import services

pytestmark = pytest.mark.django_db

COMPLETED = 3


@pytest.fixture
def fake(settings) -> Iterator[FakeAkool]:
    # One slot each: a slot leaked by a failure shows up as a refused next create.
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 1
    settings.SESSION_CONCURRENT_GLOBAL = 1
    with FakeAkool() as server:
        use_akool(settings, server.base_url, server.api_key)
        yield server


def create(api: Api):
    return api.post("/sessions", {"preset": "ada"})


def only_row() -> AvatarSession:
    return AvatarSession.objects.get()


def assert_failed_and_slots_freed(api: Api, fake: FakeAkool) -> None:
    row = AvatarSession.objects.order_by("-created_at").first()
    assert row.status == "failed"
    assert row.close_reason == "error"
    assert row.error
    assert row.closed_at is not None
    fake.heal()
    assert create(api).status_code == 201


# --- success -----------------------------------------------------------------------------------


def test_it_creates_an_akool_session_with_agora_credentials(alice_api, fake):
    response = create(alice_api)

    assert response.status_code == 201
    session = response.json()
    (upstream_id, upstream) = next(iter(fake.sessions.items()))
    credentials = upstream["credentials"]
    assert session["rtc"] == {
        "provider": "agora",
        "app_id": credentials["agora_app_id"],
        "channel": credentials["agora_channel"],
        "token": credentials["agora_token"],
        "uid": credentials["agora_uid"],
    }
    row = only_row()
    assert (row.provider, row.upstream_id, row.status) == ("akool", upstream_id, "active")


def test_it_sends_the_session_settings_upstream(alice_api, fake):
    alice_api.post("/sessions", {"preset": "ada", "voice": "lyon", "language": "fr", "mode": 1})

    (request,) = fake.requests_to("create")
    assert request.headers["x-api-key"] == fake.api_key
    assert request.json["avatar_id"] == "sandbox_ada"
    assert request.json["duration"] == 600
    assert request.json["voice_id"] == "sandbox_voice_lyon"
    assert request.json["language"] == "fr"
    assert request.json["mode_type"] == 1
    assert "voice_params" not in request.json  # the preset has none: left out, not {}


def test_it_sends_the_presets_voice_params_at_create(alice_api, fake, world):
    voice_params = {
        "speed": 1.1,
        "pron_map": {"akool": "ai ku er"},
        "stt_type": "openai_realtime",
        "turn_detection": {"type": "server_vad", "threshold": 0.5, "silence_duration_ms": 500},
    }
    world.preset.voice_params = voice_params
    world.preset.full_clean()  # as the admin saves it: checked by the one schema
    world.preset.save()

    assert create(alice_api).status_code == 201

    (request,) = fake.requests_to("create")
    assert request.json["voice_params"] == voice_params


def test_a_presets_voice_params_the_schema_refuses_are_not_sent_at_create(alice_api, fake, world):
    # Saved before the schema checked them (or by hand): never sent half-valid, and
    # above all never an elevenlabs key.
    world.preset.voice_params = {"speed": 9, "elevenlabs_settings": {"api_key": "x"}}
    world.preset.save()

    assert create(alice_api).status_code == 201

    (request,) = fake.requests_to("create")
    assert "voice_params" not in request.json


def test_a_caller_cannot_set_voice_params_at_create(alice_api, fake):
    # They come from the preset (staff's); a page changes them over the socket.
    body = {"preset": "ada", "voice_params": {"speed": 1.5}}
    assert_error(alice_api.post("/sessions", body), 422, "invalid_request")
    assert fake.count("create") == 0


def test_it_closes_the_akool_session_upstream(alice_api, fake):
    session = create(alice_api).json()

    response = alice_api.post(f"/sessions/{session['id']}/close")

    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    upstream_id = only_row().upstream_id
    assert fake.sessions[upstream_id]["status"] == COMPLETED
    assert fake.live_ids() == set()


def test_closing_twice_asks_akool_once(alice_api, fake):
    session = create(alice_api).json()
    alice_api.post(f"/sessions/{session['id']}/close")

    assert alice_api.post(f"/sessions/{session['id']}/close").status_code == 200

    assert fake.count("close") == 1


def test_it_works_with_a_client_id_and_secret(alice_api, fake, settings):
    settings.AKOOL_API_KEY = ""
    settings.AKOOL_CLIENT_ID = fake.client_id
    settings.AKOOL_CLIENT_SECRET = fake.client_secret
    reset_providers()
    session = create(alice_api).json()

    alice_api.post(f"/sessions/{session['id']}/close")

    assert fake.count("token") == 1
    assert fake.live_ids() == set()
    assert session["rtc"]["provider"] == "agora"


# --- create failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "msg", "error_code"),
    [
        (1101, "invalid api key", "upstream_auth_failed"),
        (1102, "authorization missing", "upstream_auth_failed"),
        (1005, "concurrent session limit reached", "upstream_refused"),
        (1003, "avatar_id is invalid", "upstream_refused"),
    ],
)
def test_it_answers_an_akool_refusal_with_502_and_akools_words(
    alice_api, fake, code, msg, error_code
):
    fake.fail("create", "code", code=code, msg=msg)

    response = create(alice_api)

    error = assert_error(response, 502, error_code)
    assert msg in error["message"]
    assert str(code) in error["message"]
    assert msg in only_row().error
    assert_failed_and_slots_freed(alice_api, fake)


def test_it_answers_a_wrong_api_key_with_502(alice_api, fake, settings):
    use_akool(settings, fake.base_url, "wrong-key")

    error = assert_error(create(alice_api), 502, "upstream_auth_failed")

    assert "invalid api key" in error["message"]
    assert only_row().status == "failed"
    assert fake.live_ids() == set()


@pytest.mark.parametrize("mode", ["http500", "malformed", "empty", "nocode"])
def test_it_answers_a_broken_akool_answer_with_502(alice_api, fake, mode):
    fake.fail("create", mode)

    response = create(alice_api)

    assert_error(response, 502)
    assert response.json()["error"]["code"].startswith("upstream_")
    assert_failed_and_slots_freed(alice_api, fake)


def test_it_answers_an_http_503_from_akool_with_502(alice_api, fake):
    fake.fail("create", "http500", http_status=503)

    assert_error(create(alice_api), 502)
    assert_failed_and_slots_freed(alice_api, fake)


def test_it_answers_an_unreachable_akool_with_503(alice_api, fake, settings):
    use_akool(settings, f"http://127.0.0.1:{services.free_port()}", fake.api_key)

    error = assert_error(create(alice_api), 503, "upstream_unavailable")

    assert "reached" in error["message"]
    row = only_row()
    assert (row.status, row.close_reason) == ("failed", "error")
    use_akool(settings, fake.base_url, fake.api_key)
    assert create(alice_api).status_code == 201


def test_it_answers_a_dropped_connection_with_503(alice_api, fake):
    fake.fail("create", "drop")

    assert_error(create(alice_api), 503, "upstream_unavailable")
    assert_failed_and_slots_freed(alice_api, fake)


def test_it_answers_a_hanging_akool_with_504(alice_api, fake):
    fake.fail("create", "hang")

    error = assert_error(create(alice_api), 504, "upstream_timeout")

    assert "0.5 seconds" in error["message"]
    assert_failed_and_slots_freed(alice_api, fake)


def test_it_never_retries_a_create(alice_api, fake, settings):
    settings.AKOOL_RETRIES = 3
    reset_providers()
    fake.fail("create", "http500")

    assert_error(create(alice_api), 502)

    assert fake.count("create") == 1


# --- close failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status"), [("http500", 502), ("code", 502), ("drop", 503), ("hang", 504)]
)
def test_a_failed_close_leaves_the_session_closing_until_retried(alice_api, fake, mode, status):
    session_id = create(alice_api).json()["id"]
    upstream_id = only_row().upstream_id
    fake.fail("close", mode, msg="close refused")

    response = alice_api.post(f"/sessions/{session_id}/close")

    error = assert_error(response, status)
    assert "retried" in error["message"]
    row = only_row()
    assert (row.status, row.close_reason, row.close_attempts) == ("closing", "user", 1)
    assert fake.sessions[upstream_id]["status"] == 2
    shown = alice_api.get(f"/sessions/{session_id}").json()
    assert (shown["status"], shown["rtc"]) == ("closing", None)

    fake.heal()
    retried = alice_api.post(f"/sessions/{session_id}/close")

    assert retried.status_code == 200
    assert (retried.json()["status"], retried.json()["close_reason"]) == ("closed", "user")
    assert fake.sessions[upstream_id]["status"] == COMPLETED


def test_a_session_stuck_closing_still_holds_its_slot(alice_api, fake):
    session_id = create(alice_api).json()["id"]
    fake.fail("close", "http500")
    alice_api.post(f"/sessions/{session_id}/close")

    # The upstream may still be running (and billing) it: it still counts.
    assert_error(create(alice_api), 429, "concurrent_sessions_limit")

    fake.heal()
    alice_api.post(f"/sessions/{session_id}/close")
    assert create(alice_api).status_code == 201


# --- our side fails after the upstream opened a session ------------------------------------------


def test_it_closes_the_upstream_session_when_recording_it_fails(alice_api, fake, monkeypatch):
    real_aupdate = QuerySet.aupdate

    async def recording_active_fails(self, **kwargs):
        if kwargs.get("status") == "active":  # the row's move to active, after the create
            raise RuntimeError("database went away")
        return await real_aupdate(self, **kwargs)

    monkeypatch.setattr(QuerySet, "aupdate", recording_active_fails)

    response = create(alice_api)

    error = assert_error(response, 503, "internal_error")
    assert "database" not in error["message"]
    (upstream_id,) = fake.sessions
    assert fake.sessions[upstream_id]["status"] == COMPLETED
    assert fake.count("close") == 1
    row = only_row()
    assert (row.status, row.close_reason) == ("failed", "error")
    monkeypatch.setattr(QuerySet, "aupdate", real_aupdate)
    assert create(alice_api).status_code == 201
