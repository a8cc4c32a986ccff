"""Intruders on the API: bob (by token and by cookie), an anonymous caller, an anonymous
visitor with a session of their own, a bad token and staff, against alice's session on
every call. Everything is refused and nothing changes; staff may see (never the rtc
credentials). The sockets' side is in tests/realtime/test_cross_user.py."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient, Client
from django.utils import timezone

from sessions.models import TOKEN_PREFIX, ApiToken, AvatarSession, SessionEvent, TranscriptEntry
from sessions.providers.sandbox.provider import live_channel
from tests.conftest import Api
from tests.support.wsutil import create_session

PRIVATE_WORDS = "alice's private words 5e0c"


# --- the API --------------------------------------------------------------------
def visitor_api() -> Api:
    """An anonymous visitor with a Django session and a CSRF token, as a browser has."""
    api = Api()
    api.client.get("/accounts/login/")
    api.headers["X-CSRFToken"] = api.client.cookies["csrftoken"].value
    return api


@pytest.fixture
def alices(world, alice_api) -> dict:
    """Alice's live session, with a transcript."""
    session = alice_api.post("/sessions", {"preset": "ada"})
    assert session.status_code == 201, session.content
    body = session.json()
    TranscriptEntry.objects.create(
        session_id=body["id"], role="user", mid="m-1", text=PRIVATE_WORDS, final=True
    )
    return body


def session_calls(session_id: str) -> list[tuple[str, str]]:
    return [
        ("get", f"/sessions/{session_id}"),
        ("post", f"/sessions/{session_id}/close"),
        ("post", f"/sessions/{session_id}/leave"),
        ("get", f"/sessions/{session_id}/transcript"),
    ]


def call(api: Api, method: str, path: str):
    return api.get(path) if method == "get" else api.post(path)


def assert_untouched(alices: dict, events_before: int) -> None:
    """Alice's session is as she left it: live here and upstream, nothing recorded."""
    session = AvatarSession.objects.get(pk=alices["id"])
    assert session.status == "active"
    assert session.closed_at is None and not session.close_reason
    assert SessionEvent.objects.filter(session=session).count() == events_before
    assert list(session.transcript.values_list("text", flat=True)) == [PRIVATE_WORDS]
    assert async_to_sync(live_channel)(alices["rtc"]["channel"]) is not None


def assert_nothing_of_alices(response, alices: dict) -> None:
    body = response.content.decode("utf-8", "replace")
    for private in (PRIVATE_WORDS, alices["rtc"]["token"], alices["rtc"]["channel"]):
        assert private not in body, (response.request["PATH_INFO"], private)


INTRUDERS = ["bob_token", "bob_cookie", "visitor"]


def intruder(name: str, world, settings) -> Api:
    if name == "bob_token":
        return Api(token=world.bob_token)
    if name == "bob_cookie":
        return Api(user=world.bob)
    settings.ANONYMOUS_SESSIONS = True
    return visitor_api()


@pytest.mark.django_db
@pytest.mark.parametrize("who", INTRUDERS)
def test_another_principal_gets_404_on_every_call_and_changes_nothing(world, alices, settings, who):
    api = intruder(who, world, settings)
    # The intruder has a session of their own: being someone is not enough.
    own = api.post("/sessions", {"preset": "ada"})
    assert own.status_code == 201, own.content
    events_before = SessionEvent.objects.filter(session_id=alices["id"]).count()
    missing = str(uuid.uuid4())

    for method, path in session_calls(alices["id"]):
        response = call(api, method, path)
        assert response.status_code == 404, (who, path, response.content)
        assert response.json()["error"]["code"] == "session_not_found"
        # Exactly what a session that does not exist gets: the id leaks nothing.
        absent = call(api, method, path.replace(alices["id"], missing))
        assert (absent.status_code, absent.json()) == (404, response.json())
        assert_nothing_of_alices(response, alices)

    for path in ("/sessions", "/sessions?status=active", "/sessions?page_size=100"):
        listed = api.get(path)
        assert listed.status_code == 200
        assert [item["id"] for item in listed.json()["items"]] == [own.json()["id"]]
        assert_nothing_of_alices(listed, alices)
    assert api.get("/presets").status_code == 200

    assert_untouched(alices, events_before)
    mine = Api(token=world.alice_token).get(f"/sessions/{alices['id']}").json()
    assert mine["rtc"] == alices["rtc"]


@pytest.mark.django_db
def test_an_anonymous_visitors_session_is_theirs_alone(world, settings, auditor):
    settings.ANONYMOUS_SESSIONS = True
    owner = visitor_api()
    created = owner.post("/sessions", {"preset": "ada"})
    assert created.status_code == 201, created.content
    theirs = created.json()
    assert theirs["rtc"] is not None

    for api in (visitor_api(), Api(token=world.bob_token), Api(user=world.alice)):
        for method, path in session_calls(theirs["id"]):
            response = call(api, method, path)
            assert response.status_code == 404, (path, response.content)
            assert theirs["rtc"]["token"] not in response.content.decode()
        assert theirs["id"] not in api.get("/sessions").content.decode()
    # Staff see it, without its rtc.
    seen = Api(user=world.staff).get(f"/sessions/{theirs['id']}").json()
    assert seen["status"] == "active" and seen["rtc"] is None
    assert owner.get(f"/sessions/{theirs['id']}").json()["rtc"] == theirs["rtc"]


@pytest.mark.django_db
@pytest.mark.parametrize("token", [None, "not-a-token", "Bearer", TOKEN_PREFIX + "x" * 43])
def test_no_credentials_get_401_on_every_call(world, alices, token):
    api = Api()
    if token == "Bearer":
        api.headers["Authorization"] = "Bearer "
    elif token:
        api.headers["Authorization"] = f"Bearer {token}"
    events_before = SessionEvent.objects.filter(session_id=alices["id"]).count()
    calls = [
        *session_calls(alices["id"]),
        ("get", "/sessions"),
        ("get", "/presets"),
        ("post", "/sessions"),
    ]

    for method, path in calls:
        response = api.get(path) if method == "get" else api.post(path, {"preset": "ada"})
        assert response.status_code == 401, (token, path, response.content)
        assert response.json()["error"]["code"] in ("not_authenticated", "invalid_token")
        assert_nothing_of_alices(response, alices)

    assert_untouched(alices, events_before)
    assert AvatarSession.objects.count() == 1


@pytest.mark.django_db
def test_a_revoked_token_and_a_deactivated_user_get_401(world, alices):
    bob_session = Api(token=world.bob_token).post("/sessions", {"preset": "ada"}).json()
    ApiToken.objects.filter(pk=world.alice_token_obj.pk).update(revoked_at=timezone.now())
    world.bob.is_active = False
    world.bob.save()
    events_before = SessionEvent.objects.filter(session_id=alices["id"]).count()

    for api, session in (
        (Api(token=world.alice_token), alices),
        (Api(token=world.bob_token), bob_session),
    ):
        for method, path in [*session_calls(session["id"]), ("get", "/sessions")]:
            response = call(api, method, path)
            assert response.status_code == 401, (path, response.content)
            assert response.json()["error"]["code"] == "invalid_token"
    assert_untouched(alices, events_before)


@pytest.mark.django_db
@pytest.mark.parametrize("by", ["cookie", "token"])
def test_staff_see_a_session_and_its_transcript_but_never_its_rtc(world, alices, by, auditor):
    if by == "cookie":
        staff = Api(user=world.staff)
    else:
        staff = Api(token=ApiToken.issue(world.staff, "staff cli")[1])

    seen = staff.get(f"/sessions/{alices['id']}")
    assert seen.status_code == 200
    assert seen.json()["status"] == "active" and seen.json()["rtc"] is None
    assert_no_rtc_of(seen, alices)
    lines = staff.get(f"/sessions/{alices['id']}/transcript").json()["messages"]
    assert [line["text"] for line in lines] == [PRIVATE_WORDS]
    # Their own list is their own.
    assert staff.get("/sessions").json()["items"] == []


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_leave_from_staff_does_not_end_someone_elses_session(world, settings, auditor):
    settings.SESSION_LEAVE_GRACE = 0.2
    alices = await create_session(world.alice_token)
    staff = AsyncClient()
    await sync_to_async(staff.force_login)(world.staff)

    await staff.post(f"/api/v1/sessions/{alices['id']}/leave")
    await asyncio.sleep(0.8)

    row = await AvatarSession.objects.aget(pk=alices["id"])
    assert (row.status, row.close_reason) == ("active", "")


def assert_no_rtc_of(response, alices: dict) -> None:
    body = response.content.decode()
    assert alices["rtc"]["token"] not in body and alices["rtc"]["channel"] not in body


@pytest.mark.django_db
def test_history_pages_of_another_user_are_404(world, alices):
    browser = Api(user=world.bob)
    assert browser.client.get(f"/history/{alices['id']}/").status_code == 404
    assert alices["id"] not in browser.client.get("/history/").content.decode()
    anonymous = Client().get(f"/history/{alices['id']}/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
