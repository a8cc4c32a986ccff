"""/metrics over two served processes sharing PROMETHEUS_MULTIPROC_DIR (as `manage.py
serve` workers behind a load balancer): one scrape of either sees both; a worker killed
with a socket open stops counting it."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import pytest
import websockets

from tests.ops.scrape import samples, value
from tests.support.live import LiveServer

pytestmark = pytest.mark.asyncio

OPEN = "avatarsite_sockets_open"
CLOSED = "avatarsite_sessions_closed_total"


async def scrape(server: LiveServer) -> dict:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{server.url}/metrics")
    assert response.status_code == 200, response.text
    return samples(response.text)


async def eventually(server: LiveServer, check, timeout: float = 10.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        scraped = await scrape(server)
        if check(scraped) or asyncio.get_running_loop().time() > deadline:
            return scraped
        await asyncio.sleep(0.1)


async def start_session(server: LiveServer):
    token = server.manage("create_api_token", "demo", "--name", "metrics").strip()
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth) as http:
        created = await http.post("/api/v1/sessions", json={"preset": "ada"})
        assert created.status_code == 201, created.text
    session = created.json()
    page = await websockets.connect(
        server.ws_url + session["ws_path"], additional_headers={**auth, "Origin": server.url}
    )
    assert json.loads(await page.recv())["type"] == "session"
    return session, auth, page


async def test_one_scrape_sees_every_worker_and_forgets_a_dead_one(tmp_path):
    shared = tmp_path / "metrics"
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
    one = LiveServer(tmp_path / "one", PROMETHEUS_MULTIPROC_DIR=str(shared)).start()
    two = None
    try:
        two = LiveServer(tmp_path / "two", PROMETHEUS_MULTIPROC_DIR=str(shared)).start()
        _, _, page_one = await start_session(one)
        session, auth, page_two = await start_session(two)
        # Either process's scrape counts both sockets.
        both = await eventually(one, lambda s: value(s, OPEN) == 2)
        assert value(both, OPEN) == 2
        assert value(await scrape(two), OPEN) == 2

        # A close counted in the second process shows in the first's scrape.
        async with httpx.AsyncClient(base_url=two.url, headers=auth) as http:
            closed = await http.post(f"/api/v1/sessions/{session['id']}/close", json={})
            assert closed.status_code == 200, closed.text
        seen = await eventually(one, lambda s: value(s, CLOSED, reason="user") == 1)
        assert value(seen, CLOSED, reason="user") == 1
        await page_two.close()
        assert value(await eventually(one, lambda s: value(s, OPEN) == 1), OPEN) == 1

        # The first process dies with its socket open: the survivor's scrape forgets it
        # (its live gauges are removed, as the client library documents for a dead worker).
        one.kill()
        assert value(await eventually(two, lambda s: value(s, OPEN) == 0), OPEN) == 0
        # Counters stay: a counter never goes back.
        assert value(await scrape(two), CLOSED, reason="user") == 1
        with contextlib.suppress(websockets.ConnectionClosed):
            await page_one.close()
    finally:
        if two is not None:
            two.stop()
        one.stop()
