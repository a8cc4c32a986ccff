"""How sessions end: the user's close, a page that left (beacon), and expiry."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from django.test import AsyncClient
from django.utils import timezone

from sessions.models import AvatarSession
from sessions.services import lifecycle
from tests.support.wsutil import create_session, open_page

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def leave(token: str, session_id: str) -> int:
    response = await AsyncClient().post(
        f"/api/v1/sessions/{session_id}/leave", headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code


async def status_of(session_id: str) -> tuple[str, str]:
    row = await AvatarSession.objects.aget(pk=session_id)
    return row.status, row.close_reason


async def wait_for_status(session_id: str, status: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (await status_of(session_id))[0] != status:
        assert asyncio.get_running_loop().time() < deadline, await status_of(session_id)
        await asyncio.sleep(0.02)


async def test_a_page_that_left_is_closed_after_the_grace(world, settings):
    settings.SESSION_LEAVE_GRACE = 0.2
    session = await create_session(world.alice_token)
    assert await leave(world.alice_token, session["id"]) == 202
    assert (await status_of(session["id"]))[0] == "active"
    await wait_for_status(session["id"], "closed")
    assert await status_of(session["id"]) == ("closed", "page_closed")


async def test_a_reload_inside_the_grace_keeps_the_session(world, settings):
    settings.SESSION_LEAVE_GRACE = 0.3
    session = await create_session(world.alice_token)
    assert await leave(world.alice_token, session["id"]) == 202
    page = await open_page(session, world.alice_token)  # the reloaded page reconnects
    await asyncio.sleep(0.5)
    assert (await status_of(session["id"]))[0] == "active"
    await page.disconnect()


async def test_leaving_someone_elses_session_is_refused(world):
    session = await create_session(world.alice_token)
    assert await leave(world.bob_token, session["id"]) == 404


async def test_a_session_closes_itself_when_its_time_is_up(world):
    session = await create_session(world.alice_token)
    await AvatarSession.objects.filter(pk=session["id"]).aupdate(
        expires_at=timezone.now() + timedelta(seconds=0.3)
    )
    page = await open_page(session, world.alice_token)
    messages = []
    while True:
        output = await page.receive_output(timeout=3)
        if output["type"] == "websocket.close":
            break
        messages.append(json.loads(output["text"]))
    assert output["code"] == 4410
    assert messages[-1]["status"] == "closed" and messages[-1]["close_reason"] == "expired"
    assert await status_of(session["id"]) == ("closed", "expired")


async def test_closing_twice_records_one_close(world):
    session = await create_session(world.alice_token)
    first, second = await asyncio.gather(
        lifecycle.close_session(session["id"], "user"),
        lifecycle.close_session(session["id"], "admin"),
    )
    assert first.status == second.status == "closed"
    row = await AvatarSession.objects.aget(pk=session["id"])
    assert row.close_reason in ("user", "admin")
    closes = await row.events.filter(message="closed").acount()
    assert closes == 1


async def test_a_socket_slower_to_close_than_the_leave_grace_still_gets_that_grace(world, settings):
    # The beacon's own close stands down while the page's socket is still open; when the
    # socket then goes, the page had said goodbye: the short grace, not the long one.
    settings.SESSION_LEAVE_GRACE = 0.2
    settings.SESSION_DISCONNECT_GRACE = 60
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    await page.receive_from(timeout=5)
    assert await leave(world.alice_token, session["id"]) == 202
    await asyncio.sleep(0.6)  # the beacon's grace is over; the socket is still open
    assert (await status_of(session["id"]))[0] == "active"
    await page.disconnect()
    await wait_for_status(session["id"], "closed", timeout=10)
    assert await status_of(session["id"]) == ("closed", "page_closed")
