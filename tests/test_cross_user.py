"""Intruders: bob (by token and by cookie), an anonymous caller, an anonymous visitor
with a session of their own, a bad token and staff, against alice's session on every
API call and both sockets. Everything is refused and nothing changes; staff may watch
(read-only, never the rtc credentials). A revoked token's or a deactivated user's live
socket is closed."""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import quote

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import timezone

from avatarsite.asgi import application
from sessions.models import (
    TOKEN_PREFIX,
    ApiToken,
    AvatarSession,
    SessionEvent,
    TranscriptEntry,
)
from sessions.providers.sandbox.provider import TOKEN_SALT, live_channel, make_token
from tests.conftest import Api

from .wsutil import ORIGIN, bearer, create_session, open_page

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


# --- the sockets -----------------------------------------------------------------
async def cookie_of(user) -> tuple[bytes, bytes]:
    client = Client()
    await sync_to_async(client.force_login)(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def visitor_cookie() -> tuple[bytes, bytes]:
    def cookie() -> str:
        session = Client().session
        session.save()
        return f"sessionid={session.session_key}"

    return (b"cookie", (await sync_to_async(cookie)()).encode())


async def refused(path: str, headers: list[tuple[bytes, bytes]]) -> int | None:
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await socket.connect()
    if connected:
        await socket.disconnect()
        return None
    return code


async def untouched(session: dict) -> None:
    row = await AvatarSession.objects.aget(pk=session["id"])
    assert row.status == "active" and not row.close_reason
    assert row.chat_count == 0
    assert await live_channel(session["rtc"]["channel"]) is not None


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_session_socket_refuses_everyone_but_its_owner_and_staff(world, settings):
    alices = await create_session(world.alice_token)
    path = alices["ws_path"]
    missing = f"/ws/sessions/{uuid.uuid4()}/"
    bob = bearer(world.bob_token)
    bob_cookie = await cookie_of(world.bob)

    # Someone else: 4404, exactly as for a session that does not exist.
    for headers in ([ORIGIN, bob], [bob], [ORIGIN, bob_cookie]):
        assert await refused(path, headers) == 4404
        assert await refused(missing, headers) == 4404
    # Nobody: 4401.
    for headers in (
        [ORIGIN],
        [ORIGIN, bearer("not-a-token")],
        [bearer(TOKEN_PREFIX + "x" * 43)],
        [ORIGIN, (b"authorization", b"Basic YWxpY2U6YWxpY2UtcHctMTIz")],
        [ORIGIN, (b"cookie", b"sessionid=forged")],
    ):
        assert await refused(path, headers) == 4401, headers
    # An anonymous visitor with a session of their own, when anonymous use is on.
    settings.ANONYMOUS_SESSIONS = True
    assert await refused(path, [ORIGIN, await visitor_cookie()]) == 4404
    settings.ANONYMOUS_SESSIONS = False
    # A revoked token, a deactivated user.
    await ApiToken.objects.filter(pk=world.bob_token_obj.pk).aupdate(revoked_at=timezone.now())
    assert await refused(path, [ORIGIN, bob]) == 4401
    # Alice's own, for contrast: the refusals above are not the socket being broken.
    assert await refused(path, [ORIGIN, bearer(world.alice_token)]) is None
    assert await refused(path, [ORIGIN, await cookie_of(world.alice)]) is None
    await untouched(alices)


def sandbox_path(channel: str, token: str | None) -> str:
    query = "" if token is None else f"?token={quote(token)}"
    return f"/ws/sandbox/{channel}/{query}"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_the_sandbox_socket_takes_only_the_token_of_its_own_channel(world):
    alices = await create_session(world.alice_token)
    bobs = await create_session(world.bob_token)
    channel = alices["rtc"]["channel"]
    forged = {"ch": channel, "exp": int(timezone.now().timestamp()) + 600}
    attempts = {
        "bob's token": bobs["rtc"]["token"],
        "no token": None,
        "empty token": "",
        "expired": make_token(channel, ttl=-10),
        "signed with another key": signing.dumps(forged, salt=TOKEN_SALT, key="not-our-key"),
        "signed with another salt": signing.dumps(forged, salt="avatarsite.other"),
        "unsigned": signing.b64_encode(json.dumps(forged).encode()).decode(),
        "tampered": alices["rtc"]["token"][:-2]
        + ("AA" if alices["rtc"]["token"][-2:] != "AA" else "BB"),
        "garbage": "x" * 5000,
    }
    for why, token in attempts.items():
        for headers in ([ORIGIN], [ORIGIN, bearer(world.alice_token)]):
            assert await refused(sandbox_path(channel, token), headers) == 4403, why
    # Bob's token is good for bob's channel only, alice's for hers.
    assert (
        await refused(sandbox_path(bobs["rtc"]["channel"], bobs["rtc"]["token"]), [ORIGIN]) is None
    )
    assert await refused(sandbox_path(channel, alices["rtc"]["token"]), [ORIGIN]) is None
    await untouched(alices)

    # Once her session is closed, even her own token is refused.
    closed = await sync_to_async(Api(token=world.alice_token).post)(
        f"/sessions/{alices['id']}/close"
    )
    assert closed.json()["status"] == "closed"
    assert await refused(sandbox_path(channel, alices["rtc"]["token"]), [ORIGIN]) == 4403


async def messages_until_quiet(socket: WebsocketCommunicator, quiet: float = 0.3) -> list[dict]:
    messages = []
    while not await socket.receive_nothing(timeout=quiet):
        output = await socket.receive_output()
        assert output["type"] == "websocket.send", output
        messages.append(json.loads(output["text"]))
    return messages


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_staff_observer_is_read_only(world, auditor):
    alices = await create_session(world.alice_token)
    await TranscriptEntry.objects.acreate(
        session_id=alices["id"], role="user", mid="m-1", text=PRIVATE_WORDS, final=True
    )
    page = await open_page(alices, world.alice_token)
    await messages_until_quiet(page)
    observer = WebsocketCommunicator(
        application, alices["ws_path"], headers=[ORIGIN, await cookie_of(world.staff)]
    )
    connected, _ = await observer.connect()
    assert connected
    shown = await messages_until_quiet(observer)
    assert shown[0]["type"] == "session" and shown[0]["status"] == "active"
    assert [m["text"] for m in shown if m["type"] == "transcript"] == [PRIVATE_WORDS]
    assert alices["rtc"]["token"] not in json.dumps(shown)

    attempts = [
        {"type": "chat", "text": "staff speaking"},
        {"type": "interrupt"},
        {"type": "set_params", "params": {"voice": "lyon", "language": "fr"}},
        {"type": "rtc_message", "data": "{}"},
        {"type": "rtc_send_failed", "reason": "staff"},
    ]
    for attempt in attempts:
        await observer.send_json_to(attempt)
        answer = await observer.receive_json_from(timeout=2)
        assert answer["type"] == "error" and answer["code"] == "read_only", (attempt, answer)
    # Nothing reached alice's page, the transcript or the session.
    assert await page.receive_nothing(timeout=0.3)
    row = await AvatarSession.objects.aget(pk=alices["id"])
    assert (row.voice_id, row.language, row.chat_count) == (alices["voice_id"], "en", 0)
    texts = [
        t
        async for t in TranscriptEntry.objects.filter(session_id=alices["id"]).values_list(
            "text", flat=True
        )
    ]
    assert texts == [PRIVATE_WORDS]
    assert not await SessionEvent.objects.filter(
        session_id=alices["id"], kind__in=["command", "error"]
    ).aexists()
    await observer.disconnect()
    await page.disconnect()


# --- revocation ----------------------------------------------------------------------
async def closed_within(socket: WebsocketCommunicator, code: int, seconds: float = 2.0) -> list:
    """The messages the socket got before it was closed with `code`, within `seconds`."""
    messages = []

    async def until_closed():
        while True:
            output = await socket.receive_output(timeout=seconds + 1)
            if output["type"] == "websocket.close":
                return output
            messages.append(json.loads(output["text"]))

    closing = await asyncio.wait_for(until_closed(), seconds)
    assert closing.get("code") == code, closing
    return messages


async def live_pages(world) -> tuple[dict, WebsocketCommunicator, WebsocketCommunicator]:
    """Alice's session open in two pages: one by her API token, one by her cookie."""
    session = await create_session(world.alice_token)
    by_token = await open_page(session, world.alice_token)
    by_cookie = WebsocketCommunicator(
        application, session["ws_path"], headers=[ORIGIN, await cookie_of(world.alice)]
    )
    assert (await by_cookie.connect())[0]
    await messages_until_quiet(by_token)
    await messages_until_quiet(by_cookie)
    return session, by_token, by_cookie


async def revoke_by_save(world) -> None:
    token = await ApiToken.objects.aget(pk=world.alice_token_obj.pk)
    token.revoked_at = timezone.now()
    await sync_to_async(token.save)()


async def revoke_in_the_admin(world) -> None:
    """The admin's "Revoke selected tokens" action, as a superuser clicks it."""
    from django.contrib.auth import get_user_model

    admin = await sync_to_async(get_user_model().objects.create_superuser)(
        "root", password="root-pw-123"
    )
    client = Client()
    await sync_to_async(client.force_login)(admin)
    response = await sync_to_async(client.post)(
        reverse(f"admin:{ApiToken._meta.app_label}_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [world.alice_token_obj.pk]},
    )
    assert response.status_code == 302, response.content
    token = await ApiToken.objects.aget(pk=world.alice_token_obj.pk)
    assert token.revoked_at is not None


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("revoke", [revoke_by_save, revoke_in_the_admin], ids=["save", "admin"])
async def test_revoking_a_token_closes_its_live_socket(world, revoke):
    session, by_token, by_cookie = await live_pages(world)
    bobs = await create_session(world.bob_token)
    bob_page = await open_page(bobs, world.bob_token)
    await messages_until_quiet(bob_page)

    await revoke(world)

    told = await closed_within(by_token, 4401)
    assert [m["code"] for m in told if m["type"] == "error"] == ["access_revoked"]
    # Only that token's sockets: her cookie page and bob's stay.
    assert await by_cookie.receive_nothing(timeout=0.3)
    assert await bob_page.receive_nothing(timeout=0.1)
    # And it cannot come back.
    assert await refused(session["ws_path"], [ORIGIN, bearer(world.alice_token)]) == 4401
    await by_cookie.disconnect()
    await bob_page.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_deactivating_a_user_closes_all_their_live_sockets(world):
    session, by_token, by_cookie = await live_pages(world)
    bobs = await create_session(world.bob_token)
    bob_page = await open_page(bobs, world.bob_token)
    await messages_until_quiet(bob_page)

    alice = await sync_to_async(type(world.alice).objects.get)(pk=world.alice.pk)
    alice.is_active = False
    await sync_to_async(alice.save)()

    await closed_within(by_token, 4401)
    await closed_within(by_cookie, 4401)
    assert await bob_page.receive_nothing(timeout=0.3)
    assert await refused(session["ws_path"], [ORIGIN, bearer(world.alice_token)]) == 4401
    await bob_page.disconnect()
