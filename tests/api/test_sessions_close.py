"""Ending sessions through the API: close (by the owner or by staff) and leave (the
pagehide beacon)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.db import OperationalError

from sessions.models import AvatarSession, SessionEvent
from sessions.providers import get_provider
from tests.api.helpers import create, stored_session
from tests.conftest import Api, assert_error

pytestmark = pytest.mark.django_db


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
