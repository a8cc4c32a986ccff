"""The session's settings follow the avatar's acks on every socket of the session: the
tab that asked, another tab, and a page that reconnected before the ack came."""

from __future__ import annotations

import json

import pytest

from sessions.models import AvatarSession, SessionEvent
from tests.support.wsutil import create_session, open_page

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


def ack(mid: str) -> dict:
    data = {"v": 2, "type": "command", "mid": mid, "pld": {"cmd": "set-params", "code": 1000}}
    return {"type": "rtc_message", "data": json.dumps(data)}


async def sent_set_params(page) -> str:
    """Ask for mode 1 and return the mid of the set-params frame the server sent."""
    await page.send_json_to({"type": "set_params", "params": {"mode": 1}})
    while True:
        message = json.loads(await page.receive_from())
        if message["type"] == "rtc_send":
            return json.loads(message["frame"])["mid"]


async def drain(page) -> list[dict]:
    """What the server sent until it went quiet (or closed the socket)."""
    found = []
    while not await page.receive_nothing(timeout=0.2):
        output = await page.receive_output()
        if output["type"] == "websocket.close":
            break
        found.append(json.loads(output["text"]))
    return found


async def test_an_ack_forwarded_by_another_tab_applies_everywhere(world):
    session = await create_session(world.alice_token)  # mode 2
    tab_a = await open_page(session, world.alice_token)
    tab_b = await open_page(session, world.alice_token)
    await drain(tab_a)
    await drain(tab_b)
    mid = await sent_set_params(tab_a)

    await tab_b.send_json_to(ack(mid))  # tab B's transport heard the avatar's ack
    results = [m for m in await drain(tab_b) if m["type"] == "command_result"]
    await drain(tab_a)

    assert results and results[0]["ok"] and results[0]["params"] == {"mode": 1}
    assert (await AvatarSession.objects.aget(pk=session["id"])).mode == 1
    await tab_a.disconnect()
    await tab_b.disconnect()


async def test_an_ack_that_comes_after_a_reconnect_still_applies(world):
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    await drain(page)
    mid = await sent_set_params(page)
    await page.disconnect()  # the page reconnects before the avatar's ack arrives

    again = await open_page(session, world.alice_token)
    await drain(again)
    await again.send_json_to(ack(mid))
    results = [m for m in await drain(again) if m["type"] == "command_result"]
    await again.disconnect()

    assert results and results[0]["params"] == {"mode": 1}
    assert (await AvatarSession.objects.aget(pk=session["id"])).mode == 1


async def test_a_set_params_refused_at_the_end_is_not_recorded_as_sent(world, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from sessions.services import catalog

    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    await drain(page)
    await AvatarSession.objects.filter(pk=session["id"]).aupdate(
        expires_at=timezone.now() + timedelta(seconds=0.3)
    )
    real_voice = catalog.voice

    async def slow_voice(name):  # the time runs out during the voice lookup
        import asyncio

        await asyncio.sleep(0.5)
        return await real_voice(name)

    monkeypatch.setattr(catalog, "voice", slow_voice)
    page2 = await open_page(session, world.alice_token)  # reads the new expires_at
    await drain(page2)
    await page2.send_json_to({"type": "set_params", "params": {"voice": "warm"}})
    replies = await drain(page2)
    await page.disconnect()
    await page2.disconnect()

    # Refused (or the socket closed first, saying the session's time was up).
    assert any(
        (m["type"], m.get("code"), m.get("close_reason"))
        in (("error", "session_expired", None), ("session", None, "expired"))
        for m in replies
    ), replies
    sent = SessionEvent.objects.filter(session_id=session["id"], message="set-params")
    assert not await sent.aexists()
