"""Nothing stays open: the disconnect grace, and the reaper's pass."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.utils import timezone

from sessions.models import AvatarSession
from sessions.services import presence
from sessions.services.reaper import reap
from tests.support.akool import use_akool
from tests.support.fakes.akool_server import FakeAkool
from tests.support.wsutil import create_session, open_page

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def row(session_id) -> AvatarSession:
    return await AvatarSession.objects.aget(pk=session_id)


async def eventually(check, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


@pytest.fixture
def fake(settings):
    with FakeAkool() as server:
        use_akool(settings, server.base_url, server.api_key)
        yield server


async def test_a_socket_dropped_without_goodbye_closes_upstream_after_the_grace(
    world, settings, fake
):
    settings.SESSION_DISCONNECT_GRACE = 0.3
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    await page.disconnect()  # the tab crashed: no close call, no beacon
    upstream_id = (await row(session["id"])).upstream_id
    assert fake.sessions[upstream_id]["status"] == 2

    async def closed() -> bool:
        return (await row(session["id"])).status == "closed"

    await eventually(closed)
    assert (await row(session["id"])).close_reason == "abandoned"
    assert fake.sessions[upstream_id]["status"] == 3


async def test_a_reconnect_inside_the_grace_keeps_the_session(world, settings):
    settings.SESSION_DISCONNECT_GRACE = 0.4
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    await page.disconnect()
    await asyncio.sleep(0.1)
    again = await open_page(session, world.alice_token)
    await asyncio.sleep(0.6)
    assert (await row(session["id"])).status == "active"
    await again.disconnect()


async def test_reap_closes_expired_sessions(world):
    session = await create_session(world.alice_token)
    await AvatarSession.objects.filter(pk=session["id"]).aupdate(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    result = await reap()
    assert result.expired == 1
    found = await row(session["id"])
    assert (found.status, found.close_reason) == ("closed", "expired")


async def test_reap_closes_sessions_nobody_is_connected_to_and_keeps_live_ones(world):
    abandoned = await create_session(world.alice_token)
    watched = await create_session(world.bob_token)
    await AvatarSession.objects.aupdate(started_at=timezone.now() - timedelta(minutes=5))
    await presence.heartbeat(watched["id"])
    result = await reap()
    assert result.abandoned == 1
    assert (await row(abandoned["id"])).close_reason == "abandoned"
    assert (await row(watched["id"])).status == "active"


async def test_a_young_session_is_not_abandoned_yet(world):
    session = await create_session(world.alice_token)
    await reap()
    assert (await row(session["id"])).status == "active"


async def test_reap_retries_a_failed_close_until_the_upstream_confirms(world, fake):
    session = await create_session(world.alice_token)
    from sessions.errors import UpstreamFailed
    from sessions.services import lifecycle

    fake.fail("close", "http500")
    with pytest.raises(UpstreamFailed):
        await lifecycle.close_session(session["id"], "user")
    assert (await row(session["id"])).status == "closing"
    first = await reap()
    assert first.retried == 0 and first.errors
    fake.heal()
    second = await reap()
    assert second.retried == 1
    found = await row(session["id"])
    assert (found.status, found.close_reason, found.error) == ("closed", "user", "")
    assert not fake.live_ids()


async def test_reap_settles_a_session_stuck_starting(world):
    stuck = await sync_to_async(AvatarSession.objects.create)(
        owner=world.alice,
        principal="user:1",
        provider="sandbox",
        avatar_id="sandbox_ada",
        duration=600,
        created_at=timezone.now() - timedelta(minutes=10),
    )
    result = await reap()
    assert result.stuck == 1
    found = await row(stuck.pk)
    assert (found.status, found.close_reason) == ("failed", "error")


async def test_the_reap_command_prints_what_it_did(world):
    session = await create_session(world.alice_token)
    await AvatarSession.objects.filter(pk=session["id"]).aupdate(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    out = StringIO()
    await sync_to_async(call_command)("reap_sessions", stdout=out)
    assert "expired 1" in out.getvalue()
