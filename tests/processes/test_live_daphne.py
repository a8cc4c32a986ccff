"""A conversation through a real daphne process with a real websocket client."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

import httpx
import pytest
import websockets

pytestmark = pytest.mark.asyncio


async def test_a_conversation_over_real_sockets(live_server_proc):
    server = live_server_proc
    token = server.manage("create_api_token", "demo", "--name", "live test").strip()
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=auth) as http:
        created = await http.post("/api/v1/sessions", json={"preset": "ada"})
        assert created.status_code == 201, created.text
        session = created.json()
        rtc = session["rtc"]
        assert rtc["provider"] == "sandbox"

        page = await websockets.connect(
            server.ws_url + session["ws_path"],
            additional_headers={**auth, "Origin": server.url},
        )
        avatar = await websockets.connect(
            f"{server.ws_url}/ws/sandbox/{rtc['channel']}/?token={quote(rtc['token'])}",
            origin=server.url,
        )
        received: list[dict] = []
        violations: list[str] = []

        async def page_side():
            async for raw in page:
                message = json.loads(raw)
                if message["type"] == "rtc_send":
                    await avatar.send(message["frame"])
                else:
                    received.append(message)
                    if message["type"] == "avatar" and message["speaking"] is False:
                        return

        async def avatar_side():
            async for frame in avatar:
                if "sandbox_violation" in frame:
                    violations.append(frame)
                await page.send(json.dumps({"type": "rtc_message", "data": frame}))

        pump = asyncio.create_task(avatar_side())
        await page.send(json.dumps({"type": "chat", "text": "Tell me about your day"}))
        await asyncio.wait_for(page_side(), timeout=30)
        pump.cancel()
        await page.close()
        await avatar.close()

        assert violations == []
        kinds = [m["type"] for m in received]
        assert kinds[0] == "session" and "transcript" in kinds
        transcript = (await http.get(f"/api/v1/sessions/{session['id']}/transcript")).json()
        roles = [m["role"] for m in transcript["messages"]]
        assert roles == ["user", "avatar"]
        assert transcript["messages"][0]["text"] == "Tell me about your day"
        streamed = "".join(
            m["text"] for m in received if m["type"] == "transcript" and m["role"] == "avatar"
        )
        assert transcript["messages"][1]["text"] == streamed and streamed.strip()

        closed = await http.post(f"/api/v1/sessions/{session['id']}/close")
        assert closed.json()["status"] == "closed"
