"""Intruders on the sockets: both sockets of alice's session refuse everyone but their
owner (and, on the session socket, staff, read-only: never the rtc credentials); a
revoked token's or a deactivated user's live socket is closed. The API's side is in
tests/api/test_cross_user.py."""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from avatarsite.asgi import application
from sessions.models import TOKEN_PREFIX, ApiToken, AvatarSession, SessionEvent, TranscriptEntry
from sessions.providers.sandbox.provider import TOKEN_SALT, live_channel, make_token
from tests.conftest import Api
from tests.support.wsutil import ORIGIN, bearer, create_session, open_page

PRIVATE_WORDS = "alice's private words 5e0c"


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
    """The close code a socket gets (None: it works). The session socket accepts, says
    why in an `error` frame, then closes, so the page reads the code; the sandbox's
    refuses the handshake."""
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await socket.connect()
    if not connected:
        return code
    if await socket.receive_nothing(timeout=0.3):  # the sandbox's socket, open and quiet
        await socket.disconnect()
        return None
    first = await socket.receive_output(timeout=3)
    if first["type"] == "websocket.close" or json.loads(first["text"])["type"] != "error":
        await socket.disconnect()
        return first.get("code")
    closing = await socket.receive_output(timeout=3)
    assert closing["type"] == "websocket.close", closing
    return closing["code"]


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
