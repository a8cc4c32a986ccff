"""A burst of sockets on one session through real daphne (issue 15's review): the sockets
pushed out are taken over once or several times as the burst arrives, and a frame for a
socket that has just gone must not kill its consumer, or its disconnect never runs and the
session is never counted as left (it stayed live, holding its slot, until it expired)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.support.live import LiveServer

pytestmark = pytest.mark.asyncio


@pytest.fixture
def server(tmp_path):
    served = LiveServer(tmp_path, SESSION_DISCONNECT_GRACE="2").start()
    yield served
    served.stop()


async def drain(ws) -> None:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 0.5)
    except (TimeoutError, ConnectionClosed):
        pass


async def test_a_burst_of_sockets_kills_no_consumer_and_the_session_is_still_left(server):
    token = server.manage("create_api_token", "demo", "--name", "burst").strip()
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth) as http:
        created = (await http.post("/api/v1/sessions", json={"preset": "ada"})).json()
        url = server.ws_url + created["ws_path"]
        burst = await asyncio.gather(
            *[
                websockets.connect(url, additional_headers={**auth, "Origin": server.url})
                for _ in range(12)
            ]
        )
        await asyncio.gather(*[drain(ws) for ws in burst])
        open_ones = [ws for ws in burst if ws.close_code is None]
        codes = {ws.close_code for ws in burst if ws.close_code is not None}
        for ws in burst:
            await ws.close()

        deadline = time.monotonic() + 20
        session = created
        # Wait for the close to finish (it passes through "closing" on its way upstream).
        while time.monotonic() < deadline and session["status"] not in ("closed", "failed"):
            await asyncio.sleep(0.5)
            session = (await http.get(f"/api/v1/sessions/{created['id']}")).json()

    assert len(open_ones) == 3 and codes == {4409}
    log = server.log()
    assert "Traceback" not in log and "Exception inside application" not in log, log[-3000:]
    # Every socket's disconnect ran: the last to go left it to close after the grace.
    assert (session["status"], session["close_reason"]) == ("closed", "abandoned")
