"""A crash of our own process leaves no upstream session open: kill -9 with live
sessions on a fake AKool, restart, and the reaper closes every one of them."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import websockets

from tests.support.fakes.akool_server import FakeAkool
from tests.support.live import LiveServer

pytestmark = pytest.mark.asyncio

SESSIONS = 20
REAPER_INTERVAL = 2.0
GRACE = 1.0


async def test_after_a_kill_9_the_restarted_process_closes_every_upstream_session(tmp_path):
    with FakeAkool() as fake:
        server = LiveServer(
            tmp_path,
            AVATAR_PROVIDER="akool",
            AKOOL_BASE_URL=fake.base_url,
            AKOOL_API_KEY=fake.api_key,
            SESSION_CONCURRENT_PER_PRINCIPAL="100",
            SESSION_CONCURRENT_GLOBAL="100",
            SESSION_CREATES_PER_HOUR="1000",
            # Before the crash the reaper must not run (it would reap sessions whose
            # socket is still connecting on a loaded machine); the restart sets it short.
            SESSION_DISCONNECT_GRACE="600",
            REAPER_INTERVAL=str(REAPER_INTERVAL),
            HEARTBEAT_INTERVAL="0.5",
        ).start()
        try:
            token = server.manage("create_api_token", "demo").strip()
            auth = {"Authorization": f"Bearer {token}"}
            async with httpx.AsyncClient(base_url=server.url, headers=auth) as http:
                created = await asyncio.gather(
                    *(
                        http.post("/api/v1/sessions", json={"preset": "ada"})
                        for _ in range(SESSIONS)
                    )
                )
            assert [r.status_code for r in created] == [201] * SESSIONS
            sockets = [
                await websockets.connect(
                    server.ws_url + r.json()["ws_path"], additional_headers=auth
                )
                for r in created
            ]
            for ws in sockets:
                assert '"active"' in await ws.recv()
            assert len(fake.live_ids()) == SESSIONS

            server.kill()  # kill -9 with 20 live sessions and their sockets
            for ws in sockets:
                await ws.close()
            assert len(fake.live_ids()) == SESSIONS  # nobody closed them

            server.env["SESSION_DISCONNECT_GRACE"] = str(GRACE)
            server.start()
            restarted_at = time.monotonic()  # serving again (migrate and seed are done)
            # One reaper period (after the reconnect grace) closes them all.
            deadline = restarted_at + GRACE + REAPER_INTERVAL + 5
            while fake.live_ids() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert not fake.live_ids(), f"{len(fake.live_ids())} upstream sessions still open"
            # ...and records each close (the last may land just after the upstream's).
            while rows(server) != [("closed", "crashed")] * SESSIONS:
                assert time.monotonic() < deadline + 5, rows(server)
                await asyncio.sleep(0.1)
        finally:
            server.stop()


def rows(server: LiveServer) -> list[tuple[str, str]]:
    return server.query("SELECT status, close_reason FROM avatar_sessions_avatarsession")
