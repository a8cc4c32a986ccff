"""Issue 20: whose an embed visitor's session is (theirs alone: other visitors, other
keys' visitors, signed-in users and staff without the permission find nothing), and what
the core does when the key is turned off or loses the visitor's origin, before a create,
during one and while the socket is open (without the admin's revoke, which also ends the
key's live sessions: sessions/services/embeds.py)."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.test import AsyncClient, Client

from avatarsite.asgi import application
from sessions import embed_tokens
from sessions.models import AvatarSession, CloseReason, EmbedKey
from sessions.providers.sandbox.provider import SandboxProvider
from sessions.services import reaper
from tests.conftest import assert_error
from tests.support.wsutil import ORIGIN

SHOP = "https://shop.test"
MARKER = embed_tokens.SOCKET_PROTOCOL


@pytest.fixture
def key(world):
    key = EmbedKey.objects.create(name="Shop", allowed_origins=f"{SHOP}\nhttps://blog.test")
    key.presets.add(world.preset)
    return key


def as_bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def start(token: str):
    return Client().post(
        "/api/v1/sessions", {"preset": "ada"}, content_type="application/json",
        headers=as_bearer(token),
    )  # fmt: skip


def read_and_close(client: Client, session_id: str, headers: dict | None = None):
    headers = headers or {}
    return (
        client.get(f"/api/v1/sessions/{session_id}", headers=headers),
        client.post(
            f"/api/v1/sessions/{session_id}/close",
            content_type="application/json",
            headers=headers,
        ),  # fmt: skip
    )


# --- ownership --------------------------------------------------------------------------


@pytest.mark.django_db
def test_nobody_else_sees_or_closes_a_visitors_session(key, world):
    mine = embed_tokens.issue(key.public_key, SHOP)
    session = start(mine).json()
    other_key = EmbedKey.objects.create(name="Other", allowed_origins=SHOP)
    staff = Client()
    staff.force_login(world.staff)  # staff, without the sessions' permissions
    alice = Client()
    alice.force_login(world.alice)
    visitor = embed_tokens.issue(key.public_key, SHOP)
    other_visitor = embed_tokens.issue(other_key.public_key, SHOP)
    strangers = {
        "another visitor of the key": (Client(), as_bearer(visitor)),
        "a visitor of another key": (Client(), as_bearer(other_visitor)),
        "a signed-in user's token": (Client(), as_bearer(world.alice_token)),
        "a signed-in user's cookie": (alice, {}),
        "staff without view permission": (staff, {}),
    }  # fmt: skip
    for who, (client, headers) in strangers.items():
        if not headers:  # the cookie's CSRF for the close
            client.get("/")
            headers = {"X-CSRFToken": client.cookies["csrftoken"].value}
        seen, closed = read_and_close(client, session["id"], headers)
        assert seen.status_code == 404, who
        assert closed.status_code == 404, who
        listed = client.get("/api/v1/sessions", headers=headers)
        assert session["id"] not in listed.content.decode(), who
    assert AvatarSession.objects.get(pk=session["id"]).status == "active"


@pytest.mark.django_db
def test_staff_with_the_permission_see_it_and_the_admin_names_the_key(key, world):
    session = start(embed_tokens.issue(key.public_key, SHOP)).json()
    world.staff.user_permissions.add(Permission.objects.get(codename="view_avatarsession"))
    staff = Client()
    staff.force_login(world.staff)
    seen = staff.get(f"/api/v1/sessions/{session['id']}")
    assert seen.status_code == 200
    # The API's session JSON leaves the key out: the visitor knows which site they are
    # on, and a key's id means nothing to anyone else; staff read it in the admin.
    assert "embed_key" not in seen.json()
    page = staff.get(f"/admin/avatar_sessions/avatarsession/{session['id']}/change/")
    assert page.status_code == 200
    assert "Embed key" in page.content.decode()
    assert "Shop" in page.content.decode()
    # Seeing is not closing.
    staff.get("/")
    csrf = {"X-CSRFToken": staff.cookies["csrftoken"].value}
    closing = staff.post(
        f"/api/v1/sessions/{session['id']}/close", content_type="application/json", headers=csrf
    )
    assert_error(closing, 403)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_another_visitors_socket_finds_no_session(key):
    token = embed_tokens.issue(key.public_key, SHOP)
    session = (await sync_to_async(start)(token)).json()
    theirs = embed_tokens.issue(key.public_key, SHOP)
    page = WebsocketCommunicator(
        application, session["ws_path"], headers=[ORIGIN], subprotocols=[MARKER, theirs]
    )
    assert (await page.connect())[0]
    assert (await page.receive_json_from(timeout=5))["code"] == "session_not_found"
    assert (await page.receive_output(timeout=5))["code"] == 4404


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_visitors_sockets_count_against_the_socket_caps(key, settings):
    settings.WS_SOCKETS_PER_PRINCIPAL = 1
    key.visitor_concurrent = 2
    await key.asave()
    token = embed_tokens.issue(key.public_key, SHOP)
    first = (await sync_to_async(start)(token)).json()
    second = (await sync_to_async(start)(token)).json()
    old = await open_socket(first, token)
    await old.receive_json_from(timeout=5)
    new = await open_socket(second, token)
    await new.receive_json_from(timeout=5)
    error, closed = (await until_closed(old))[-2:]
    assert (error["code"], closed) == ("taken_over", {"close": 4409})
    await new.disconnect()


# --- the key turned off ------------------------------------------------------------------


async def open_socket(session: dict, token: str) -> WebsocketCommunicator:
    page = WebsocketCommunicator(
        application, session["ws_path"], headers=[ORIGIN], subprotocols=[MARKER, token]
    )
    connected, protocol = await page.connect()
    assert connected and protocol == MARKER
    return page


async def until_closed(page: WebsocketCommunicator, timeout: float = 3) -> list[dict]:
    """The frames the socket got until it closed, then {"close": its code}."""
    frames = []
    while True:
        output = await page.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return [*frames, {"close": output["code"]}]
        frames.append(json.loads(output["text"]))


@pytest.mark.django_db
def test_a_key_turned_off_after_the_token_was_issued_refuses_the_create(key):
    token = embed_tokens.issue(key.public_key, SHOP)
    EmbedKey.objects.filter(pk=key.pk).update(active=False)  # no signal, no revoke
    assert_error(start(token), 401, "invalid_token")
    assert not AvatarSession.objects.exists()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_key_turned_off_mid_create_leaves_a_session_nobody_reaches(key, monkeypatch):
    real_create = SandboxProvider.create_session

    async def switched_off_meanwhile(self, request):
        await EmbedKey.objects.filter(pk=key.pk).aupdate(active=False)
        return await real_create(self, request)

    monkeypatch.setattr(SandboxProvider, "create_session", switched_off_meanwhile)
    token = embed_tokens.issue(key.public_key, SHOP)
    made = await sync_to_async(start)(token)
    assert made.status_code == 201  # the key was on when the create was allowed
    session = made.json()
    # Its token is worth nothing now: no socket, no read, no more sessions ...
    page = WebsocketCommunicator(
        application, session["ws_path"], headers=[ORIGIN], subprotocols=[MARKER, token]
    )
    assert (await page.connect())[0]
    assert (await until_closed(page))[-1] == {"close": 4401}
    client = AsyncClient()
    response = await client.get(f"/api/v1/sessions/{session['id']}", headers=as_bearer(token))
    assert response.status_code == 401
    # ... so no socket ever beats for it, and the reaper ends it as abandoned.
    await reaper.reap(abandon_after=0)
    row = await AvatarSession.objects.aget(pk=session["id"])
    assert row.status == "closed"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("change", ["turned off", "origin removed"])
async def test_an_open_socket_learns_the_key_changed_at_its_next_heartbeat(key, settings, change):
    settings.HEARTBEAT_INTERVAL = 0.1  # 15 s by default: the longest a socket goes on
    token = embed_tokens.issue(key.public_key, SHOP)
    session = (await sync_to_async(start)(token)).json()
    page = await open_socket(session, token)
    assert (await page.receive_json_from(timeout=5))["type"] == "session"
    assert await page.receive_nothing(timeout=0.3)  # the key on: beats pass quietly
    if change == "turned off":
        await EmbedKey.objects.filter(pk=key.pk).aupdate(active=False)
    else:
        await EmbedKey.objects.filter(pk=key.pk).aupdate(allowed_origins="https://blog.test")
    error, closed = (await until_closed(page))[-2:]
    assert closed == {"close": 4401}
    assert error["code"] == "access_revoked"
    # Words a website's visitor understands, not an API's.
    assert "website" in error["message"]
    assert "token" not in error["message"].lower()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_other_keys_sockets_stay_open_when_one_key_is_turned_off(key, world, settings):
    settings.HEARTBEAT_INTERVAL = 0.1
    other = await EmbedKey.objects.acreate(name="Other", allowed_origins=SHOP)
    await other.presets.aadd(world.preset)
    token = embed_tokens.issue(other.public_key, SHOP)
    session = (await sync_to_async(start)(token)).json()
    page = await open_socket(session, token)
    await page.receive_json_from(timeout=5)
    await EmbedKey.objects.filter(pk=key.pk).aupdate(active=False)
    assert await page.receive_nothing(timeout=0.4)
    await page.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_session_closed_while_starting_stays_closed_and_its_upstream_too(
    world, monkeypatch
):
    # A key turned off (or any close) while the upstream create is under way: the create
    # must not bring the row back to life, live upstream and all, holding no slots.
    from sessions.providers import get_provider
    from sessions.services import lifecycle

    real = lifecycle.create_upstream
    made: list[str] = []

    async def closed_meanwhile(session, *args, **kwargs):
        upstream = await real(session, *args, **kwargs)
        made.append(upstream.id)
        await lifecycle.close_session(session.pk, CloseReason.REVOKED)
        return upstream

    monkeypatch.setattr(lifecycle, "create_upstream", closed_meanwhile)
    response = await AsyncClient().post(
        "/api/v1/sessions",
        {"preset": "ada"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "session_closed"
    row = await AvatarSession.objects.aget(upstream_id=made[0])  # kept for the audit
    assert (row.status, row.close_reason) == ("closed", "revoked")
    assert not (await get_provider().session_detail(made[0])).is_live
