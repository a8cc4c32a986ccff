"""A typed line is shown at once and written within WRITE_BEHIND_SECONDS, with every line
typed in the process meanwhile (issue 22): whoever reads the transcript whole meanwhile
(a reconnecting page's replay, the API, a session's close) still gets it."""

from __future__ import annotations

import asyncio

import pytest
from django.test import AsyncClient

from sessions.models import TranscriptEntry
from tests.realtime.test_session_caps import drain, next_message, open_session
from tests.support.wsutil import open_page

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def stored(session) -> list[str]:
    rows = TranscriptEntry.objects.filter(session_id=session["id"], role="user")
    return [e.text async for e in rows.order_by("created_at", "id")]


async def test_typed_lines_are_shown_at_once_and_written_together_within_the_setting(
    world, settings, monkeypatch
):
    settings.WRITE_BEHIND_SECONDS = 0.3
    settings.SESSION_CONCURRENT_PER_PRINCIPAL = 3
    inserts = []
    bulk_create = TranscriptEntry.objects.bulk_create
    monkeypatch.setattr(
        TranscriptEntry.objects,
        "bulk_create",
        lambda rows: inserts.append(len(rows)) or bulk_create(rows),
    )
    pages = [await open_session(world) for _ in range(3)]
    for n, page in enumerate(pages):
        await page.send_json_to({"type": "chat", "text": f"hello {n}"})
    for n, page in enumerate(pages):
        shown = [m for m in await drain(page, 0.05) if m["type"] == "transcript"]
        assert [m["text"] for m in shown] == [f"hello {n}"]  # at once
    assert [await stored(page.session) for page in pages] == [[], [], []]  # not yet
    for _ in range(100):
        await asyncio.sleep(0.05)
        if all([await stored(page.session) for page in pages]):
            break
    assert [await stored(page.session) for page in pages] == [["hello 0"], ["hello 1"], ["hello 2"]]
    assert inserts == [3]  # the three pages' lines in one query
    for page in pages:
        await page.disconnect()


async def test_a_reload_the_api_and_a_close_right_after_a_chat_have_the_line(world, settings):
    settings.WRITE_BEHIND_SECONDS = 3600  # nothing is written by the timer here
    page = await open_session(world)
    await page.send_json_to({"type": "chat", "text": "just typed"})
    await drain(page, 0.05)
    await page.disconnect()

    again = await open_page(page.session, world.alice_token)  # a reload: its replay
    replay = [await next_message(again) for _ in range(2)]
    assert replay[1]["type"] == "transcript" and replay[1]["text"] == "just typed"
    await again.send_json_to({"type": "chat", "text": "and this"})
    await drain(again, 0.05)

    path = f"/api/v1/sessions/{page.session['id']}/transcript"
    auth = {"Authorization": f"Bearer {world.alice_token}"}
    response = await AsyncClient().get(path, headers=auth)
    assert [m["text"] for m in response.json()["messages"]] == ["just typed", "and this"]

    await again.send_json_to({"type": "chat", "text": "and goodbye"})
    await drain(again, 0.05)
    response = await AsyncClient().post(
        f"/api/v1/sessions/{page.session['id']}/close",
        {},
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 200, response.content
    assert await stored(page.session) == ["just typed", "and this", "and goodbye"]
    await again.disconnect()


async def test_a_page_leaving_writes_its_typed_lines_at_once(world, settings):
    # A reload may land on another worker (nginx's least_conn), whose replay reads the
    # database: the leaving socket's process writes the lines it typed as it goes.
    settings.WRITE_BEHIND_SECONDS = 3600  # nothing is written by the timer here
    page = await open_session(world)
    await page.send_json_to({"type": "chat", "text": "typed just before the reload"})
    await drain(page, 0.05)
    assert await stored(page.session) == []  # waiting, as designed
    await page.disconnect()
    assert await stored(page.session) == ["typed just before the reload"]
