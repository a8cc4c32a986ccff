"""The live view: a staff page that opens the session's websocket read-only, and what
that socket gives an observer (the transcript so far, then each line as it is said)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from avatarsite.asgi import application
from sessions.models import ApiToken
from sessions.services import lifecycle
from tests.staff.helpers import SESSIONS, client_for, grant, open_session, superuser_client
from tests.support.wsutil import (
    ORIGIN,
    Conversation,
    bearer,
    create_session,
    open_page,
    open_sandbox,
)

pytestmark = pytest.mark.django_db(transaction=True)


def live_config(response) -> dict:
    raw = response.text.split('<script id="live-config" type="application/json">')[1]
    return json.loads(raw.split("</script>")[0])


def test_the_live_page_carries_the_socket_path_and_no_credentials(world):
    session = open_session(world)
    response = superuser_client(world).get(f"{SESSIONS}{session.pk}/live/")
    assert response.status_code == 200
    config = live_config(response)
    assert config["wsPath"] == f"/ws/sessions/{session.pk}/"
    assert config["owner"] == "alice"
    assert config["closeReasons"]["admin"] == "ended by staff"
    assert session.rtc["token"] not in response.text
    page = response.text
    assert 'id="transcript"' in page and 'aria-live="polite"' in page
    assert '<script type="module" src="/static/js/staff_live.js"></script>' in page
    # No inline script: the only <script> without src is the JSON data block.
    for tag in re.findall(r"<script[^>]*>", page):
        assert "src=" in tag or 'type="application/json"' in tag, tag


def test_an_ended_session_sends_staff_to_its_record(world):
    session = open_session(world)
    async_to_sync(lifecycle.close_session)(session.pk, "user")
    staff = superuser_client(world)
    response = staff.get(f"{SESSIONS}{session.pk}/live/", follow=True)
    assert response.redirect_chain == [(f"{SESSIONS}{session.pk}/change/", 302)]
    assert "That session is not live any more" in response.text


def test_the_live_page_needs_the_view_permission(world):
    session = open_session(world)
    assert client_for(world.staff).get(f"{SESSIONS}{session.pk}/live/").status_code == 403
    viewer = client_for(grant(world.staff, "view_avatarsession"))
    assert viewer.get(f"{SESSIONS}{session.pk}/live/").status_code == 200
    assert client_for(world.bob).get(f"{SESSIONS}{session.pk}/live/").status_code == 302
    missing = f"{SESSIONS}{uuid.uuid4()}/live/"
    assert superuser_client(world).get(missing).status_code == 404


async def _frames_until(ws: WebsocketCommunicator, done, timeout: float = 10) -> list[dict]:
    seen: list[dict] = []
    async with asyncio.timeout(timeout):
        while not done(seen):
            seen.append(json.loads(await ws.receive_from(timeout=timeout)))
    return seen


@pytest.mark.asyncio
async def test_an_observer_sees_the_transcript_so_far_then_each_line_as_said(world, auditor):
    staff_token = (await database_sync_to_async(ApiToken.issue)(world.staff, "staff"))[1]
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Before anyone watched."})
        await talk.wait_for(
            lambda m: m["type"] == "transcript" and m["role"] == "avatar" and m["final"]
        )

        observer = WebsocketCommunicator(
            application, session["ws_path"], headers=[ORIGIN, bearer(staff_token)]
        )
        connected, _ = await observer.connect()
        assert connected
        replay = await _frames_until(
            observer, lambda seen: sum(f.get("replay", False) for f in seen) >= 2
        )
        assert replay[0]["type"] == "session" and replay[0]["status"] == "active"
        assert replay[1]["text"] == "Before anyone watched."

        await page.send_json_to({"type": "chat", "text": "Now with an audience."})
        live = await _frames_until(
            observer,
            lambda seen: any(
                f["type"] == "transcript" and f["role"] == "avatar" and f["final"] for f in seen
            ),
        )
        said = [f for f in live if f["type"] == "transcript"]
        assert said[0]["role"] == "user" and said[0]["text"] == "Now with an audience."
        answer = "".join(f["text"] for f in said if f["role"] == "avatar")
        assert answer  # streamed in pieces, then final
        assert len([f for f in said if f["role"] == "avatar"]) >= 2
        assert {"type": "avatar", "speaking": True} in live
        # Read-only: what an observer says goes nowhere.
        await observer.send_json_to({"type": "chat", "text": "Hello from staff"})
        error = await _frames_until(observer, lambda seen: seen and seen[-1]["type"] == "error")
        assert error[-1]["code"] == "read_only"
        await observer.disconnect()
    await page.disconnect()
    await avatar.disconnect()
