"""Reading sessions: the list, one session, and its transcript; each only for whom may see it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from sessions.models import TranscriptEntry
from tests.api.helpers import create, parse_time, stored_session
from tests.conftest import Api, assert_error

pytestmark = pytest.mark.django_db


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
