"""A session lives exactly as long as its user wants it (issue 12), at the socket level:
presence for every kind of principal, checks that fail without ending anything, the
time limit on time, and what a reconnecting page gets back."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError
from django.test import AsyncClient, Client
from django.utils import timezone

from avatarsite.asgi import application
from sessions import access, keys
from sessions.models import AvatarSession, SessionEvent, TranscriptEntry
from sessions.realtime import consumers
from sessions.services import lifecycle, presence
from sessions.services.reaper import reap
from sessions.staff import usage
from tests.support.wsutil import (  # noqa: F401 (page_is_witness: a fixture)
    ORIGIN,
    Conversation,
    bearer,
    create_session,
    open_sandbox,
    page_is_witness,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

BEAT = 0.05  # seconds between heartbeats in these tests


# --- the three kinds of principal ----------------------------------------------------------


class Browser:
    """A browser's cookie jar: signed in with a password, or an anonymous visitor."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.client = Client()
        self.credentials = (username, password)

    async def sign_in(self) -> Browser:
        username, password = self.credentials
        if username is not None:
            assert await sync_to_async(self.client.login)(username=username, password=password)
        return self

    async def create_session(self, **body) -> dict:
        response = await sync_to_async(self.client.post)(
            "/api/v1/sessions",
            json.dumps({"preset": "ada", **body}),
            content_type="application/json",
        )
        assert response.status_code == 201, response.content
        return response.json()

    def headers(self) -> list[tuple[bytes, bytes]]:
        cookie = f"sessionid={self.client.cookies['sessionid'].value}"
        return [ORIGIN, (b"cookie", cookie.encode())]


async def open_as(kind: str, world, settings) -> tuple[dict, list[tuple[bytes, bytes]]]:
    """A session and the socket headers of its owner, signed in as `kind`."""
    if kind == "token":
        return await create_session(world.alice_token), [ORIGIN, bearer(world.alice_token)]
    if kind == "cookie":
        browser = await Browser("alice", "alice-pw-123").sign_in()
    else:
        settings.ANONYMOUS_SESSIONS = True
        browser = Browser()
    session = await browser.create_session()
    return session, browser.headers()


async def connect(session: dict, headers) -> WebsocketCommunicator:
    page = WebsocketCommunicator(application, session["ws_path"], headers=headers)
    connected, code = await page.connect()
    assert connected, code
    first = json.loads(await page.receive_from())
    assert (first["type"], first["status"]) == ("session", "active"), first
    return page


async def row(session_id) -> AvatarSession:
    return await AvatarSession.objects.aget(pk=session_id)


async def until_closed(page) -> tuple[list[dict], int]:
    """Every message until the server closes the socket, and the close code."""
    messages = []
    while True:
        output = await page.receive_output(timeout=5)
        if output["type"] == "websocket.close":
            return messages, output["code"]
        messages.append(json.loads(output["text"]))


@pytest.mark.parametrize("kind", ["cookie", "token", "visitor"])
async def test_an_open_page_keeps_its_session_through_beats_and_reaper_passes(
    kind, world, settings, caplog
):
    settings.HEARTBEAT_INTERVAL = BEAT
    caplog.set_level(logging.WARNING, logger="avatarsite")
    session, headers = await open_as(kind, world, settings)
    page = await connect(session, headers)
    avatar = await open_sandbox(session)
    # Old enough for the reaper to judge it, with a grace of a few beats.
    await AvatarSession.objects.filter(pk=session["id"]).aupdate(
        started_at=timezone.now() - timedelta(minutes=5)
    )
    async with Conversation(page, avatar) as talk:
        for _ in range(3):  # 3 reaper passes over 5+ heartbeat intervals
            await asyncio.sleep(2 * BEAT)
            result = await reap(abandon_after=4 * BEAT)
            assert (result.abandoned, result.crashed) == (0, 0), result
        assert await presence.is_alive(session["id"])
        await page.send_json_to({"type": "chat", "text": "Are you still there?"})
        answer = await talk.wait_for(
            lambda m: m["type"] == "transcript" and m["role"] == "avatar" and m["final"]
        )
    await page.disconnect()
    await avatar.disconnect()

    assert answer["text"] or talk.avatar_text()
    found = await row(session["id"])
    assert (found.status, found.served_by) == ("active", presence.BOOT_ID)
    # Every beat's checks worked for this kind of principal: none failed and was retried.
    assert [r.getMessage() for r in caplog.records if r.name == "avatarsite.ws"] == []


@pytest.mark.parametrize("kind", ["cookie", "token"])
async def test_a_bulk_deactivation_is_noticed_at_the_next_beat(kind, world, settings):
    """Deactivating by queryset update sends no signal: the beat's check finds it, for a
    cookie sign-in as for a token."""
    settings.HEARTBEAT_INTERVAL = BEAT
    session, headers = await open_as(kind, world, settings)
    page = await connect(session, headers)
    await sync_to_async(type(world.alice).objects.filter(pk=world.alice.pk).update)(is_active=False)

    messages, code = await until_closed(page)

    assert code == 4401
    assert messages[-1]["code"] == "access_revoked"


async def test_the_heartbeat_survives_failing_checks_and_logs_them(
    world, settings, monkeypatch, caplog
):
    settings.HEARTBEAT_INTERVAL = BEAT
    failures = {"heartbeat": 2}
    real_heartbeat = presence.heartbeat

    async def flaky_heartbeat(session_id):
        if failures["heartbeat"]:
            failures["heartbeat"] -= 1
            raise ConnectionError("cache briefly unreachable")
        await real_heartbeat(session_id)

    checks = iter([OperationalError("database restarting"), RuntimeError("unexpected")])

    async def failing_check(principals):
        error = next(checks, None)
        if error is not None:
            raise error
        return [True] * len(principals)

    session, headers = await open_as("cookie", world, settings)
    caplog.set_level(logging.ERROR, logger="avatarsite.ws")
    page = await connect(session, headers)
    # From the first beat on (the connect itself wrote a heartbeat).
    monkeypatch.setattr(presence, "heartbeat", flaky_heartbeat)
    monkeypatch.setattr(access, "still_valid_many", failing_check)
    await AvatarSession.objects.filter(pk=session["id"]).aupdate(
        started_at=timezone.now() - timedelta(minutes=5)
    )

    await asyncio.sleep(8 * BEAT)

    assert await presence.is_alive(session["id"])
    assert (await reap(abandon_after=4 * BEAT)).abandoned == 0
    assert await page.receive_nothing(timeout=0.1)  # still open, no error frame
    await page.disconnect()
    logged = [r.getMessage() for r in caplog.records]
    assert sum(f"session {session['id']}: heartbeat failed" in m for m in logged) == 2
    assert sum(f"session {session['id']}: revocation check failed" in m for m in logged) == 2
    assert (await row(session["id"])).status == "active"


async def test_a_presence_task_that_dies_anyway_closes_its_socket_for_a_reconnect(
    world, settings, monkeypatch
):
    settings.HEARTBEAT_INTERVAL = BEAT

    async def broken(self, due):
        raise RuntimeError("a bug in a beat")

    monkeypatch.setattr(presence._ProcessBeat, "beat", broken)
    session, headers = await open_as("cookie", world, settings)
    page = await connect(session, headers)

    _, code = await until_closed(page)

    assert code == consumers.CLOSE_RECONNECT
    assert not 4000 <= code < 5000  # the page's relay reconnects on it (static/js/relay.js)
    assert (await row(session["id"])).status == "active"


# --- the time limit ----------------------------------------------------------------------


async def shorten(session: dict, seconds_left: float) -> AvatarSession:
    """As if the session had started `duration - seconds_left` seconds ago."""
    found = await row(session["id"])
    now = timezone.now()
    found.started_at = now - timedelta(seconds=found.duration - seconds_left)
    found.expires_at = now + timedelta(seconds=seconds_left)
    await found.asave(update_fields=["started_at", "expires_at"])
    return found


async def test_a_one_minute_session_ends_on_time_as_expired(world, settings):
    browser = await Browser("alice", "alice-pw-123").sign_in()
    session = await browser.create_session(duration=60)
    found = await shorten(session, 1.0)
    page = await connect(session, browser.headers())

    messages, code = await until_closed(page)
    ended_at = timezone.now()

    assert code == consumers.CLOSE_ENDED
    states = [(m["status"], m["close_reason"]) for m in messages if m["type"] == "session"]
    assert states[-1] == ("closed", "expired"), states
    # Within 2 s of expires_at (plus slack for a loaded machine).
    assert (ended_at - found.expires_at).total_seconds() < 3.0
    closed = await row(session["id"])
    assert (closed.status, closed.close_reason) == ("closed", "expired")
    assert closed.used_seconds is not None and closed.used_seconds <= closed.duration == 60
    # The usage page's figure too (the same rule in its query).
    report = await sync_to_async(usage.report)(closed.created_at.date(), closed.created_at.date())
    assert report.totals.used_minutes <= report.totals.reserved_minutes == 1


async def test_a_chat_after_the_time_is_up_is_refused(world, settings, monkeypatch):
    # The upstream is slow to confirm the close: the socket stays open past expires_at.
    hold = asyncio.Event()
    real_close = lifecycle.close_session

    async def slow_close(session_id, reason):
        await hold.wait()
        return await real_close(session_id, reason)

    monkeypatch.setattr(lifecycle, "close_session", slow_close)
    browser = await Browser("alice", "alice-pw-123").sign_in()
    session = await browser.create_session(duration=60)
    await shorten(session, 0.3)
    page = await connect(session, browser.headers())
    await asyncio.sleep(0.5)

    await page.send_json_to({"type": "chat", "text": "One more thing"})
    error = json.loads(await page.receive_from())

    assert (error["type"], error["code"]) == ("error", "session_expired")
    assert "time is up" in error["message"]
    assert not [m async for m in TranscriptEntry.objects.filter(session_id=session["id"])]
    hold.set()
    _, code = await until_closed(page)
    assert code == consumers.CLOSE_ENDED


async def test_closing_refuses_new_chats_with_the_reason(world, settings):
    session, headers = await open_as("token", world, settings)
    page = await connect(session, headers)
    consumer_saw = {"type": keys.SESSION_STATE, "status": "closing", "close_reason": "user"}
    from channels.layers import get_channel_layer

    await get_channel_layer().group_send(f"session.{session['id']}", consumer_saw)
    closing = json.loads(await page.receive_from())
    await page.send_json_to({"type": "chat", "text": "wait"})
    error = json.loads(await page.receive_from())
    await page.disconnect()

    assert closing["status"] == "closing"
    assert error["code"] == "session_ending"


# --- crashes, and what a reconnecting page gets -------------------------------------------


async def test_the_reaper_tells_a_crash_from_a_page_that_left(world):
    crashed = await create_session(world.alice_token)
    left = await create_session(world.bob_token)
    elsewhere = await create_session(world.bob_token)
    old = timezone.now() - timedelta(minutes=5)
    await AvatarSession.objects.filter(pk=crashed["id"]).aupdate(
        started_at=old, served_by="deadbeef" * 4
    )
    await AvatarSession.objects.filter(pk=left["id"]).aupdate(
        started_at=old, served_by=presence.BOOT_ID
    )
    # Served by another process that still beats: its page left, nothing crashed.
    await AvatarSession.objects.filter(pk=elsewhere["id"]).aupdate(
        started_at=old, served_by="a1ive" * 6
    )
    await presence.shared_cache.set("presence:process:" + "a1ive" * 6, 1, timeout=60)

    result = await reap()

    assert (result.crashed, result.abandoned) == (1, 2)
    assert (await row(crashed["id"])).close_reason == "crashed"
    assert (await row(left["id"])).close_reason == "abandoned"
    assert (await row(elsewhere["id"])).close_reason == "abandoned"
    why = [
        e.message async for e in SessionEvent.objects.filter(session_id=crashed["id"], kind="state")
    ]
    assert any(m.startswith("reaper: the process that served it") for m in why), why


async def test_a_page_back_after_our_crash_is_told_its_session_ended(world, settings):
    session, headers = await open_as("cookie", world, settings)
    # The process that served it died, and the sandbox's state (its memory) with it.
    await AvatarSession.objects.filter(pk=session["id"]).aupdate(served_by="deadbeef" * 4)
    found = await row(session["id"])
    await presence.shared_cache.delete(f"sandbox:session:{found.upstream_id}")

    page = WebsocketCommunicator(application, session["ws_path"], headers=headers)
    assert (await page.connect())[0]
    messages, code = await until_closed(page)

    assert code == consumers.CLOSE_ENDED
    assert (messages[-1]["status"], messages[-1]["close_reason"]) == ("closed", "crashed")
    assert (await row(session["id"])).close_reason == "crashed"


async def test_a_page_back_after_our_crash_resumes_when_the_upstream_kept_it(world, settings):
    session, headers = await open_as("cookie", world, settings)
    await AvatarSession.objects.filter(pk=session["id"]).aupdate(served_by="deadbeef" * 4)

    page = await connect(session, headers)
    await page.disconnect()

    found = await row(session["id"])
    assert (found.status, found.served_by) == ("active", presence.BOOT_ID)


@pytest.mark.usefixtures("page_is_witness")  # it forwards an avatar line, as with AKool
async def test_a_reconnecting_page_gets_cut_lines_and_confirmed_changes_back(world, settings):
    session = await create_session(world.alice_token)
    headers = [ORIGIN, bearer(world.alice_token)]
    page = await connect(session, headers)
    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "set_params", "params": {"voice": "lyon"}})
        await talk.wait_for(lambda m: m["type"] == "command_result")
        # The avatar is mid-sentence when the page reloads.
        half = {"v": 2, "type": "chat", "mid": "bot-1", "idx": 0, "fin": False}
        half["pld"] = {"from": "bot", "text": "Let me tell you"}
        await page.send_json_to({"type": "rtc_message", "data": json.dumps(half)})
        await talk.wait_for(lambda m: m["type"] == "transcript" and m["mid"] == "bot-1")
    # A reload: the page's pagehide beacon, then its sockets go.
    left = await AsyncClient().post(
        f"/api/v1/sessions/{session['id']}/leave",
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    assert left.status_code == 202
    await page.disconnect()
    await avatar.disconnect()

    again = await connect(session, headers)
    replayed = []
    while not await again.receive_nothing(timeout=0.2):
        replayed.append(json.loads(await again.receive_from()))
    await again.disconnect()

    line = next(m for m in replayed if m["type"] == "transcript" and m["mid"] == "bot-1")
    assert (line["text"], line["final"], line["cut"], line["replay"]) == (
        "Let me tell you",
        True,
        True,
        True,
    )
    acks = [m for m in replayed if m["type"] == "command_result"]
    assert acks == [
        {
            "type": "command_result",
            "cmd": "set-params",
            "ok": True,
            "code": 1000,
            "message": acks[0]["message"],
            "params": {"voice": "lyon"},
            "replay": True,
        }
    ]


async def test_the_process_beat_is_what_keeps_a_process_alive(settings):
    settings.HEARTBEAT_INTERVAL = BEAT
    other = "0ther" * 6
    assert await presence.process_alive(presence.BOOT_ID)
    assert not await presence.process_alive(other)
    await presence.shared_cache.set("presence:process:" + other, 1, timeout=1)
    assert await presence.process_alive(other)
    await presence.beat_process()
    assert await presence.shared_cache.get("presence:process:" + presence.BOOT_ID) == 1
    started = time.monotonic()
    while await presence.process_alive(other):
        assert time.monotonic() - started < 3
        await asyncio.sleep(0.1)


async def test_a_close_that_lands_while_a_page_reconnects_is_not_missed(
    world, settings, monkeypatch
):
    """The page reconnects while the session is being closed (End in another tab, the
    reaper): the socket hears of it and closes, it does not go on as if active."""
    session, headers = await open_as("token", world, settings)
    real_claim = lifecycle.claim_for_this_process

    async def closed_meanwhile(found):
        stale = await real_claim(found)
        await lifecycle.close_session(found.pk, "user")
        return stale  # as read before the close

    monkeypatch.setattr(lifecycle, "claim_for_this_process", closed_meanwhile)
    await AvatarSession.objects.filter(pk=session["id"]).aupdate(served_by="another")
    page = WebsocketCommunicator(application, session["ws_path"], headers=headers)
    assert (await page.connect())[0]

    messages, code = await until_closed(page)

    assert code == consumers.CLOSE_ENDED
    states = [(m["status"], m["close_reason"]) for m in messages if m["type"] == "session"]
    assert states[-1] == ("closed", "user"), states


async def test_a_page_back_to_an_overdue_session_is_told_it_expired(world, settings):
    """The process that held it died just before its end: the page that comes back is
    told the time is up, not that it goes on."""
    session, headers = await open_as("token", world, settings)
    await AvatarSession.objects.filter(pk=session["id"]).aupdate(
        served_by="deadbeef" * 4, expires_at=timezone.now() - timedelta(seconds=5)
    )
    page = WebsocketCommunicator(application, session["ws_path"], headers=headers)
    assert (await page.connect())[0]

    messages, code = await until_closed(page)

    assert code == consumers.CLOSE_ENDED
    assert [(m["status"], m["close_reason"]) for m in messages] == [("closed", "expired")]


async def test_a_page_that_said_goodbye_is_page_closed_whichever_grace_ends_first(world, settings):
    settings.SESSION_LEAVE_GRACE = 0.6
    settings.SESSION_DISCONNECT_GRACE = 0.1  # the socket's own close fires first
    session, headers = await open_as("token", world, settings)
    page = await connect(session, headers)
    left = await AsyncClient().post(
        f"/api/v1/sessions/{session['id']}/leave",
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    assert left.status_code == 202
    await page.disconnect()

    for _ in range(50):
        found = await row(session["id"])
        if found.status == "closed":
            break
        await asyncio.sleep(0.05)
    assert (found.status, found.close_reason) == ("closed", "page_closed")


async def test_whatever_the_avatar_was_saying_when_the_session_ended_is_cut(world, settings):
    session = await create_session(world.alice_token)
    await TranscriptEntry.objects.acreate(
        session_id=session["id"], role="avatar", mid="bot-1", text="Half a sen", final=False
    )

    await lifecycle.close_session(session["id"], "crashed")

    line = await TranscriptEntry.objects.aget(session_id=session["id"], mid="bot-1")
    assert (line.final, line.cut) == (True, True)
