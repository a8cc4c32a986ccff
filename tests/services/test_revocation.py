"""Revoking a token or deactivating a user closes that principal's live sockets."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError
from django.utils import timezone

from avatarsite.asgi import application
from sessions import access
from sessions.models import ApiToken
from sessions.services import presence
from tests.support.wsutil import ORIGIN, create_session, open_page

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def closed_with(page, code: int) -> list[dict]:
    messages = []
    while True:
        output = await page.receive_output(timeout=2)
        if output["type"] == "websocket.close":
            assert output["code"] == code
            return messages
        messages.append(json.loads(output["text"]))


async def test_revoking_a_token_closes_its_live_socket(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    await page.receive_from()
    token = await ApiToken.objects.aget(pk=world.alice_token_obj.pk)
    token.revoked_at = timezone.now()
    await token.asave()
    messages = await closed_with(page, 4401)
    assert messages[-1]["code"] == "access_revoked"


async def test_deactivating_a_user_closes_their_cookie_sockets(world):
    session = await create_session(world.alice_token)
    client = await _cookie_headers(world.alice)
    page = WebsocketCommunicator(application, session["ws_path"], headers=[ORIGIN, client])
    assert (await page.connect())[0]
    await page.receive_from()
    world.alice.is_active = False
    await sync_to_async(world.alice.save)()
    await closed_with(page, 4401)


async def test_a_bulk_revocation_is_noticed_at_the_next_heartbeat(world, settings):
    settings.HEARTBEAT_INTERVAL = 0.1
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    await page.receive_from()
    await ApiToken.objects.filter(pk=world.alice_token_obj.pk).aupdate(revoked_at=timezone.now())
    await closed_with(page, 4401)


async def test_other_principals_sockets_stay_open(world):
    mine = await create_session(world.alice_token)
    theirs = await create_session(world.bob_token)
    page = await open_page(mine, world.alice_token)
    other = await open_page(theirs, world.bob_token)
    await page.receive_from()
    await other.receive_from()
    token = await ApiToken.objects.aget(pk=world.alice_token_obj.pk)
    token.revoked_at = timezone.now()
    await token.asave()
    await closed_with(page, 4401)
    assert await other.receive_nothing(timeout=0.3)
    await other.disconnect()


async def _cookie_headers(user) -> tuple[bytes, bytes]:
    from django.test import Client

    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    return (b"cookie", cookie.encode())


async def test_a_failing_revocation_check_does_not_stop_the_heartbeat(world, settings, monkeypatch):
    """A database restart breaks the check for a while; the session must not look
    abandoned to the reaper meanwhile."""

    async def database_gone(principals):
        raise OperationalError("server closed the connection unexpectedly")

    settings.HEARTBEAT_INTERVAL = 0.05
    monkeypatch.setattr(access, "still_valid_many", database_gone)
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    await page.receive_from()
    await asyncio.sleep(0.2)  # a few failed checks
    await presence.shared_cache.delete(f"presence:alive:{session['id']}")

    await asyncio.sleep(0.2)

    assert await presence.is_alive(session["id"])
    assert await page.receive_nothing(timeout=0.1)  # still open, no error frame
    await page.disconnect()
