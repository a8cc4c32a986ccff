"""Issue 15, item 3 (leave): each `/leave` started a background task (2,000 calls, 2,000
tasks). One close is pending per session at a time; more beacons start nothing and
record nothing, until a socket reconnects."""

from __future__ import annotations

import pytest

from sessions.api import sessions as api_sessions
from sessions.models import SessionEvent
from tests.services.test_lifecycle import leave, status_of, wait_for_status
from tests.support.wsutil import create_session, open_page

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def count_tasks(monkeypatch) -> list[str]:
    started: list[str] = []
    real = api_sessions.lifecycle.in_background

    def counted(coro):
        started.append(coro.__qualname__)
        return real(coro)

    monkeypatch.setattr(api_sessions.lifecycle, "in_background", counted)
    return started


async def beacons(session_id: str) -> int:
    return await SessionEvent.objects.filter(
        session_id=session_id, message="page left (beacon)"
    ).acount()


async def test_a_flood_of_leaves_starts_one_close(world, settings, monkeypatch):
    settings.SESSION_LEAVE_GRACE = 60  # still pending while the flood goes on
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    await page.receive_from(timeout=5)  # joined: the session frame comes after the marker
    started = count_tasks(monkeypatch)

    # A flood, one by one: each must find the close already pending. 100 show what 300
    # (and 2,000 before them) did: every leave after the first takes the same path.
    for _ in range(100):
        assert await leave(world.alice_token, session["id"]) == 202

    assert started == ["close_if_abandoned"]
    assert await beacons(session["id"]) == 1
    await page.disconnect()


async def test_after_a_reconnect_a_beacon_counts_again(world, settings, monkeypatch):
    settings.SESSION_LEAVE_GRACE = 0.2
    session = await create_session(world.alice_token)
    assert await leave(world.alice_token, session["id"]) == 202
    page = await open_page(session, world.alice_token)  # a reload: the first close stands down
    await page.receive_from(timeout=5)
    started = count_tasks(monkeypatch)
    assert await leave(world.alice_token, session["id"]) == 202  # the reloaded page goes too
    assert await leave(world.alice_token, session["id"]) == 202
    assert started == ["close_if_abandoned"]
    await page.disconnect()
    await wait_for_status(session["id"], "closed", timeout=10)  # 0.2 s grace; a busy machine
    assert await status_of(session["id"]) == ("closed", "page_closed")
    assert await beacons(session["id"]) == 2
