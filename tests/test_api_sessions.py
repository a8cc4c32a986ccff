"""The session endpoints: create, list, get, close, leave, transcript, and the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.db import OperationalError
from django.utils import timezone

from sessions.models import (
    AvatarSession,
    SessionEvent,
    TranscriptEntry,
    VoicePreset,
)
from sessions.providers import get_provider
from tests.conftest import Api, assert_error

pytestmark = pytest.mark.django_db

SESSION_FIELDS = {
    "id",
    "status",
    "preset",
    "avatar_id",
    "voice_id",
    "language",
    "mode",
    "duration",
    "created_at",
    "started_at",
    "expires_at",
    "closed_at",
    "close_reason",
    "error",
    "background_url",
    "ws_path",
    "rtc",
}


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def create(api: Api, **body) -> dict:
    response = api.post("/sessions", {"preset": "ada", **body})
    assert response.status_code == 201, response.content
    return response.json()


def stored_session(owner, **fields) -> AvatarSession:
    """A session row written directly, for listing tests (no limits, no upstream)."""
    defaults = {
        "owner": owner,
        "principal": f"user:{owner.pk}",
        "preset_slug": "ada",
        "provider": "sandbox",
        "avatar_id": "sandbox_ada",
        "duration": 600,
        "status": "closed",
    }
    return AvatarSession.objects.create(**{**defaults, **fields})


@pytest.fixture
def staff_api(world) -> Api:
    return Api(user=world.staff)


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

    assert rtc["provider"] == "sandbox"
    assert rtc["app_id"] == "sandbox"
    assert rtc["channel"].startswith("sbx-")
    assert rtc["token"]
    assert rtc["uid"] == 1


def test_it_records_the_session_in_the_database(alice_api, world):
    session = create(alice_api)

    row = AvatarSession.objects.get(pk=session["id"])
    assert row.owner == world.alice
    assert row.principal == f"token:{world.alice_token_obj.pk}"
    assert row.provider == "sandbox"
    assert row.upstream_id.startswith("sbx_")
    assert row.status == "active"
    assert len(row.slots) == 2
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


# --- list --------------------------------------------------------------------------------------


def test_it_lists_only_the_callers_sessions(alice_api, world):
    mine = stored_session(world.alice)
    stored_session(world.bob)

    response = alice_api.get("/sessions")

    assert response.status_code == 200
    page = response.json()
    assert [s["id"] for s in page["items"]] == [str(mine.id)]
    assert (page["count"], page["page"], page["pages"]) == (1, 1, 1)


def test_it_lists_newest_first(alice_api, world):
    now = timezone.now()
    old = stored_session(world.alice, created_at=now - timedelta(hours=2))
    new = stored_session(world.alice, created_at=now)
    middle = stored_session(world.alice, created_at=now - timedelta(hours=1))

    items = alice_api.get("/sessions").json()["items"]

    assert [s["id"] for s in items] == [str(new.id), str(middle.id), str(old.id)]


def test_it_paginates(alice_api, world):
    now = timezone.now()
    rows = [stored_session(world.alice, created_at=now - timedelta(minutes=i)) for i in range(5)]

    first = alice_api.get("/sessions?page_size=2").json()
    last = alice_api.get("/sessions?page_size=2&page=3").json()
    beyond = alice_api.get("/sessions?page_size=2&page=4").json()

    assert [s["id"] for s in first["items"]] == [str(rows[0].id), str(rows[1].id)]
    assert (first["count"], first["page"], first["pages"]) == (5, 1, 3)
    assert [s["id"] for s in last["items"]] == [str(rows[4].id)]
    assert beyond["items"] == [] and beyond["count"] == 5


def test_it_filters_by_status(alice_api, world):
    stored_session(world.alice, status="closed")
    failed = stored_session(world.alice, status="failed")

    items = alice_api.get("/sessions?status=failed").json()["items"]

    assert [s["id"] for s in items] == [str(failed.id)]


def test_it_lists_an_empty_page_for_a_new_user(bob_api):
    page = bob_api.get("/sessions").json()

    assert page == {"items": [], "count": 0, "page": 1, "pages": 1}


@pytest.mark.parametrize(
    "query", ["page=0", "page=abc", "page_size=0", "page_size=101", "status=bogus"]
)
def test_it_refuses_bad_list_parameters(alice_api, query):
    assert_error(alice_api.get(f"/sessions?{query}"), 422, "invalid_request")


def test_it_shows_rtc_in_the_list_only_for_active_sessions(alice_api, world):
    live = create(alice_api)
    stored_session(world.alice, status="closed", rtc={"provider": "sandbox", "token": "old"})

    items = {s["id"]: s for s in alice_api.get("/sessions").json()["items"]}

    assert items[live["id"]]["rtc"] is not None
    assert [s["rtc"] for s in items.values() if s["id"] != live["id"]] == [None]


# --- get ---------------------------------------------------------------------------------------


def test_it_shows_the_owner_the_session_with_rtc(alice_api):
    session = create(alice_api)

    response = alice_api.get(f"/sessions/{session['id']}")

    assert response.status_code == 200
    assert response.json()["rtc"] == session["rtc"]
    assert response.json()["status"] == "active"


def test_it_shows_the_owner_by_cookie_too(alice_api, world):
    session = create(alice_api)

    response = Api(user=world.alice).get(f"/sessions/{session['id']}")

    assert response.status_code == 200
    assert response.json()["rtc"] == session["rtc"]


def test_it_shows_staff_the_session_without_rtc(alice_api, staff_api, auditor):
    session = create(alice_api)

    response = staff_api.get(f"/sessions/{session['id']}")

    assert response.status_code == 200
    assert response.json()["id"] == session["id"]
    assert response.json()["rtc"] is None


def test_it_hides_alices_session_from_bob(alice_api, bob_api):
    session = create(alice_api)

    error = assert_error(bob_api.get(f"/sessions/{session['id']}"), 404, "session_not_found")

    assert session["id"] not in error["message"]


def test_it_answers_an_unknown_session_like_a_hidden_one(alice_api):
    assert_error(alice_api.get(f"/sessions/{uuid.uuid4()}"), 404, "session_not_found")


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "1", "' OR 1=1 --", "%00", "x" * 300])
def test_it_refuses_a_malformed_id_without_a_500(alice_api, bad_id):
    response = alice_api.get(f"/sessions/{bad_id}")

    assert response.status_code in (404, 422)
    if response.status_code == 422:
        assert_error(response, 422, "invalid_request")


# --- close -------------------------------------------------------------------------------------


def test_it_closes_a_session(alice_api):
    session = create(alice_api)

    response = alice_api.post(f"/sessions/{session['id']}/close")

    assert response.status_code == 200
    closed = response.json()
    assert closed["status"] == "closed"
    assert closed["close_reason"] == "user"
    assert closed["closed_at"] is not None
    assert closed["rtc"] is None
    row = AvatarSession.objects.get(pk=session["id"])
    assert (row.status, row.close_reason) == ("closed", "user")


def test_a_close_without_a_body_is_a_close_by_the_user(alice_api):
    session = create(alice_api)

    response = alice_api.post(f"/sessions/{session['id']}/close", raw="", content_type="")

    assert response.status_code == 200, response.content
    assert response.json()["close_reason"] == "user"


def test_the_owner_can_say_the_session_failed_on_their_side(alice_api):
    session = create(alice_api)

    response = alice_api.post(
        f"/sessions/{session['id']}/close",
        {"reason": "error", "detail": "The video channel could not be joined."},
    )

    assert response.status_code == 200
    assert response.json()["close_reason"] == "error"
    events = SessionEvent.objects.filter(session_id=session["id"], kind="error")
    assert [e.message for e in events] == [
        "the page failed: The video channel could not be joined."
    ]


@pytest.mark.parametrize(
    "body",
    [{"reason": "expired"}, {"reason": "error", "detail": "x" * 301}, {"why": "error"}],
)
def test_a_close_body_it_does_not_know_is_refused_and_closes_nothing(alice_api, body):
    session = create(alice_api)

    response = alice_api.post(f"/sessions/{session['id']}/close", body)

    assert_error(response, 422)
    assert AvatarSession.objects.get(pk=session["id"]).status == "active"


def test_staff_closing_with_a_reason_still_record_admin(alice_api, staff_api, auditor):
    session = create(alice_api)

    response = staff_api.post(f"/sessions/{session['id']}/close", {"reason": "error"})

    assert response.json()["close_reason"] == "admin"


def test_an_unreachable_database_is_a_503_to_retry(alice_api, monkeypatch):
    session = create(alice_api)

    async def pool_exhausted(*args, **kwargs):
        raise OperationalError("couldn't get a connection after 10.00 sec")

    monkeypatch.setattr("sessions.api.sessions.lifecycle.close_session", pool_exhausted)
    response = alice_api.post(f"/sessions/{session['id']}/close")

    assert_error(response, 503, "database_unavailable")
    assert response["Retry-After"] == "5"


def test_it_closes_the_sandbox_session_upstream(alice_api):
    session = create(alice_api)
    alice_api.post(f"/sessions/{session['id']}/close")

    row = AvatarSession.objects.get(pk=session["id"])
    upstream = async_to_sync(get_provider("sandbox").session_detail)(row.upstream_id)
    assert not upstream.is_live


def test_it_hides_rtc_after_close(alice_api):
    session = create(alice_api)
    alice_api.post(f"/sessions/{session['id']}/close")

    assert alice_api.get(f"/sessions/{session['id']}").json()["rtc"] is None


def test_it_accepts_closing_twice(alice_api):
    session = create(alice_api)
    first = alice_api.post(f"/sessions/{session['id']}/close").json()

    response = alice_api.post(f"/sessions/{session['id']}/close")

    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    assert response.json()["closed_at"] == first["closed_at"]
    closes = SessionEvent.objects.filter(session_id=session["id"], message="closed")
    assert closes.count() == 1


def test_it_records_a_staff_close_as_admin(alice_api, staff_api, auditor):
    session = create(alice_api)

    response = staff_api.post(f"/sessions/{session['id']}/close")

    assert response.status_code == 200
    assert response.json()["close_reason"] == "admin"
    assert AvatarSession.objects.get(pk=session["id"]).close_reason == "admin"


def test_it_does_not_let_bob_close_alices_session(alice_api, bob_api):
    session = create(alice_api)

    assert_error(bob_api.post(f"/sessions/{session['id']}/close"), 404, "session_not_found")

    assert AvatarSession.objects.get(pk=session["id"]).status == "active"


def test_it_answers_closing_an_unknown_session_with_404(alice_api):
    assert_error(alice_api.post(f"/sessions/{uuid.uuid4()}/close"), 404, "session_not_found")


def test_it_closes_a_failed_session_without_changing_it(alice_api, world):
    failed = stored_session(world.alice, status="failed", close_reason="error", error="boom")

    response = alice_api.post(f"/sessions/{failed.id}/close")

    assert response.status_code == 200
    assert response.json()["status"] == "failed"
    assert response.json()["close_reason"] == "error"


# --- leave (the pagehide beacon) ----------------------------------------------------------------


def test_it_accepts_a_leave_beacon_and_records_it(alice_api, settings):
    settings.SESSION_LEAVE_GRACE = 60  # the close itself is not this test's business
    session = create(alice_api)

    response = alice_api.post(f"/sessions/{session['id']}/leave")

    assert response.status_code == 202
    events = SessionEvent.objects.filter(session_id=session["id"], kind="info")
    assert list(events.values_list("message", flat=True)) == ["page left (beacon)"]


def test_it_ignores_a_leave_beacon_for_a_closed_session(alice_api):
    session = create(alice_api)
    alice_api.post(f"/sessions/{session['id']}/close")

    response = alice_api.post(f"/sessions/{session['id']}/leave")

    assert response.status_code == 202
    assert not SessionEvent.objects.filter(session_id=session["id"], kind="info").exists()


def test_it_refuses_bobs_leave_beacon_for_alices_session(alice_api, bob_api):
    session = create(alice_api)

    assert_error(bob_api.post(f"/sessions/{session['id']}/leave"), 404, "session_not_found")


def test_it_accepts_a_beacon_with_the_csrf_token_in_its_form(world, settings):
    # navigator.sendBeacon cannot set headers: the page sends the token as a form field.
    settings.SESSION_LEAVE_GRACE = 60
    owner = Api(user=world.alice)
    session = create(owner)
    token = owner.headers.pop("X-CSRFToken")

    response = owner.client.post(
        f"/api/v1/sessions/{session['id']}/leave", {"csrfmiddlewaretoken": token}
    )

    assert response.status_code == 202
    assert SessionEvent.objects.filter(session_id=session["id"], kind="info").count() == 1


def test_it_needs_csrf_for_a_cookie_leave_beacon(world):
    owner = Api(user=world.alice)
    session = create(owner)
    owner.headers.pop("X-CSRFToken")

    assert_error(owner.post(f"/sessions/{session['id']}/leave"), 403, "csrf_failed")


async def _asgi(method: str, path: str, token: str, body: dict | None = None) -> dict:
    """One request through the real ASGI application, as daphne would send it."""
    from avatarsite.asgi import application

    raw = json.dumps(body).encode() if body is not None else b""
    headers = [
        (b"host", b"localhost"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
    ]
    return await HttpCommunicator(
        application, method, path, body=raw, headers=headers
    ).get_response()


# Through the real ASGI application: the sync WhiteNoise middleware puts the async view
# under async_to_sync, whose executor is gone once the request ends; a background close
# that inherited the request's context could then never reach the database.
@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_it_closes_the_session_after_the_leave_grace(world, settings):
    settings.SESSION_LEAVE_GRACE = 0.05
    created = await _asgi("POST", "/api/v1/sessions", world.alice_token, {"preset": "ada"})
    session_id = json.loads(created["body"])["id"]

    left = await _asgi("POST", f"/api/v1/sessions/{session_id}/leave", world.alice_token)

    assert left["status"] == 202
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        row = await AvatarSession.objects.aget(pk=session_id)
        if row.status == "closed":
            break
        await asyncio.sleep(0.02)
    assert (row.status, row.close_reason) == ("closed", "page_closed")


# --- transcript --------------------------------------------------------------------------------


def test_it_answers_an_empty_transcript(alice_api):
    session = create(alice_api)

    response = alice_api.get(f"/sessions/{session['id']}/transcript")

    assert response.status_code == 200
    assert response.json() == {"messages": []}


def test_it_lists_transcript_lines_in_order_without_empty_ones(alice_api):
    session = create(alice_api)
    now = timezone.now().replace(microsecond=0)  # the API shows milliseconds
    add = TranscriptEntry.objects.create
    add(session_id=session["id"], role="avatar", mid="m2", text="Hello Alice", created_at=now)
    add(
        session_id=session["id"],
        role="user",
        mid="m1",
        text="Hi",
        created_at=now - timedelta(seconds=1),
    )
    add(session_id=session["id"], role="avatar", mid="m3", text="", created_at=now)
    add(
        session_id=session["id"],
        role="user",
        mid="m4",
        text="Bye",
        created_at=now + timedelta(seconds=1),
    )

    messages = alice_api.get(f"/sessions/{session['id']}/transcript").json()["messages"]

    assert [(m["role"], m["text"]) for m in messages] == [
        ("user", "Hi"),
        ("avatar", "Hello Alice"),
        ("user", "Bye"),
    ]
    assert parse_time(messages[1]["at"]) == now


def test_it_keeps_the_transcript_after_close(alice_api):
    session = create(alice_api)
    TranscriptEntry.objects.create(session_id=session["id"], role="user", mid="m1", text="Hi")
    alice_api.post(f"/sessions/{session['id']}/close")

    messages = alice_api.get(f"/sessions/{session['id']}/transcript").json()["messages"]

    assert [m["text"] for m in messages] == ["Hi"]


def test_it_shows_staff_the_transcript(alice_api, staff_api, auditor):
    session = create(alice_api)
    TranscriptEntry.objects.create(session_id=session["id"], role="user", mid="m1", text="Hi")

    response = staff_api.get(f"/sessions/{session['id']}/transcript")

    assert response.status_code == 200
    assert [m["text"] for m in response.json()["messages"]] == ["Hi"]


def test_it_hides_alices_transcript_from_bob(alice_api, bob_api):
    session = create(alice_api)
    TranscriptEntry.objects.create(session_id=session["id"], role="user", mid="m1", text="Hi")

    response = bob_api.get(f"/sessions/{session['id']}/transcript")

    assert_error(response, 404, "session_not_found")
    assert b"Hi" not in response.content


# --- OpenAPI -----------------------------------------------------------------------------------


def test_it_publishes_the_openapi_document(alice_api):
    response = alice_api.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in (
        "/api/v1/sessions",
        "/api/v1/sessions/{session_id}",
        "/api/v1/sessions/{session_id}/close",
        "/api/v1/sessions/{session_id}/transcript",
        "/api/v1/presets",
    ):
        assert path in paths, path
    assert {"get", "post"} <= set(paths["/api/v1/sessions"])


def test_its_openapi_document_describes_the_create_body_and_errors(alice_api):
    document = alice_api.get("/openapi.json").json()

    create_op = document["paths"]["/api/v1/sessions"]["post"]
    assert "201" in create_op["responses"]
    assert "429" in create_op["responses"]
    schemas = document["components"]["schemas"]
    body = schemas["CreateSessionIn"]
    assert body["required"] == ["preset"]
    assert set(body["properties"]) == {"preset", "voice", "language", "mode", "duration"}
    assert set(schemas["ErrorOut"]["properties"]) == {"error"}


def test_it_takes_a_whole_number_written_as_a_float(alice_api):
    # JSON has one number type: 600.0 is the integer the schema asks for.
    response = alice_api.post("/sessions", {"preset": "ada", "duration": 600.0, "mode": 2.0})
    assert response.status_code == 201, response.content
    assert (response.json()["duration"], response.json()["mode"]) == (600, 2)
