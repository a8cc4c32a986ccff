"""GET /metrics: what a session's life shows there, and who may read it."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from django.test import AsyncClient, Client

from sessions.models import AvatarPreset
from sessions.operations import metrics
from sessions.providers.akool.http import AkoolHttp
from sessions.providers.base import ProviderError
from sessions.services import reaper
from tests.ops.scrape import samples, value
from tests.support.fakes.llm_server import serving
from tests.support.wsutil import Conversation, create_session, open_page, open_sandbox

pytestmark = pytest.mark.django_db(transaction=True)


async def scrape() -> dict:
    response = await AsyncClient().get("/metrics")  # from 127.0.0.1: allowed
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    assert "no-store" in response["Cache-Control"]
    return samples(response.content.decode())


async def eventually(check, timeout: float = 3.0) -> dict:
    """Scrape until `check(scraped)` holds (the sockets' counters are added once a
    FLUSH_INTERVAL, shortened here)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        scraped = await scrape()
        if check(scraped) or asyncio.get_running_loop().time() > deadline:
            return scraped
        await asyncio.sleep(0.05)


@pytest.fixture
def quick_flush(monkeypatch):
    monkeypatch.setattr(metrics, "FLUSH_INTERVAL", 0.05)


def is_final_avatar(m) -> bool:
    return m["type"] == "transcript" and m["role"] == "avatar" and m["final"]


@pytest.mark.asyncio
async def test_a_sessions_life_shows_in_the_metrics(world, settings, quick_flush):
    settings.WS_MESSAGES_PER_10S = 3
    before = await scrape()
    live = ("avatarsite_sessions_live",)
    session = await create_session(world.alice_token)
    scraped = await scrape()
    assert value(scraped, *live, provider="sandbox", status="active") == 1

    page = await open_page(session, world.alice_token)
    json.loads(await page.receive_from())
    # Counted once its connect is done (the replay after the first frame included).
    opened = "avatarsite_sockets_open"
    scraped = await eventually(lambda s: value(s, opened) > value(before, opened))
    assert value(scraped, opened) - value(before, opened) == 1

    avatar = await open_sandbox(session)
    async with Conversation(page, avatar) as talk:
        await page.send_json_to({"type": "chat", "text": "Hello there!"})
        await talk.wait_for(is_final_avatar)
        # While the socket is open: its frames show within a flush.
        frames = "avatarsite_frames_sent_total"
        scraped = await eventually(lambda s: value(s, frames) > value(before, frames))
        sent = value(scraped, frames) - value(before, frames)
        assert sent >= 1
        size = "avatarsite_frame_bytes_sent_total"
        assert value(scraped, size) - value(before, size) >= sent
        # Past the socket's message budget: refused, and counted by code.
        for _ in range(5):
            await page.send_json_to({"type": "chat", "text": "Again?"})
        refused = "avatarsite_limit_refusals_total"
        code = {"code": "message_rate_limit"}
        scraped = await eventually(
            lambda s: value(s, refused, **code) > value(before, refused, **code)
        )
        assert value(scraped, refused, **code) - value(before, refused, **code) >= 1

    response = await AsyncClient().post(
        f"/api/v1/sessions/{session['id']}/close",
        {},
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.alice_token}"},
    )
    assert response.status_code == 200, response.content
    await page.disconnect()
    await avatar.disconnect()
    scraped = await scrape()
    assert value(scraped, *live, provider="sandbox", status="active") == 0
    closed = "avatarsite_sessions_closed_total"
    assert value(scraped, closed, reason="user") - value(before, closed, reason="user") == 1
    assert value(scraped, opened) == value(before, opened)


@pytest.mark.asyncio
async def test_the_reapers_actions_are_counted(world):
    before = await scrape()
    session = await create_session(world.alice_token)  # no page ever connects
    await reaper.reap(abandon_after=0)
    scraped = await scrape()
    kind = {"kind": "abandoned"}
    name = "avatarsite_reaper_actions_total"
    assert value(scraped, name, **kind) - value(before, name, **kind) == 1
    assert value(scraped, "avatarsite_sessions_live", provider="sandbox", status="active") == 0
    assert session["id"]


@pytest.mark.asyncio
async def test_upstream_calls_are_timed_and_their_failures_counted():
    answers = iter([httpx.Response(200, json={"code": 1000, "data": {}}), httpx.Response(500)])
    http = AkoolHttp(
        base_url="https://akool.test",
        api_key="k",
        client_id="",
        client_secret="",
        connect_timeout=1,
        read_timeout=1,
        retries=0,
        backoff=0,
        transport=httpx.MockTransport(lambda request: next(answers)),
    )
    path = "/api/open/v4/liveAvatar/session/detail"
    before = await scrape()
    await http.call("GET", path, idempotent=False)
    with pytest.raises(ProviderError):
        await http.call("GET", path, idempotent=False)
    scraped = await scrape()
    count = "avatarsite_upstream_call_seconds_count"
    errors = "avatarsite_upstream_call_errors_total"
    assert value(scraped, count, endpoint=path) - value(before, count, endpoint=path) == 2
    assert value(scraped, errors, endpoint=path) - value(before, errors, endpoint=path) == 1


@pytest.mark.asyncio
async def test_the_llms_time_to_first_token_is_observed(world, settings):
    await AvatarPreset.objects.acreate(
        slug="guide", name="Guide", avatar_id="sandbox_ada", use_llm=True, system_prompt="Hi."
    )
    with serving(settings, "The museum opens at nine.", retries=0):
        before = await scrape()
        session = await create_session(world.alice_token, preset="guide")
        page = await open_page(session, world.alice_token)
        avatar = await open_sandbox(session)
        async with Conversation(page, avatar) as talk:
            await page.send_json_to({"type": "chat", "text": "When do you open?"})
            await talk.wait_for(is_final_avatar)
        await page.disconnect()
        await avatar.disconnect()
    scraped = await scrape()
    name = "avatarsite_llm_first_token_seconds_count"
    assert value(scraped, name) - value(before, name) == 1


# --- who may read it ---------------------------------------------------------------------
def test_with_a_token_only_its_bearer_reads_the_metrics(settings):
    settings.METRICS_TOKEN = "scrape-me-please"
    refused = Client().get("/metrics")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "not_authenticated"
    assert refused["WWW-Authenticate"].startswith("Bearer")
    wrong = Client().get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    # Even from afar: the token is what counts.
    allowed = Client(REMOTE_ADDR="203.0.113.9").get(
        "/metrics", headers={"Authorization": "Bearer scrape-me-please"}
    )
    assert allowed.status_code == 200
    assert b"avatarsite_sockets_open" in allowed.content


def test_without_a_token_only_this_machine_reads_the_metrics(settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    far = Client(REMOTE_ADDR="203.0.113.9").get("/metrics")
    assert far.status_code == 403
    assert far.json()["error"]["code"] == "forbidden"
    # A proxy on this machine connects from loopback on a visitor's behalf.
    proxied = Client(REMOTE_ADDR="127.0.0.1").get(
        "/metrics", headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert proxied.status_code == 403
    settings.DEBUG = True  # development: anyone
    assert Client(REMOTE_ADDR="203.0.113.9").get("/metrics").status_code == 200
