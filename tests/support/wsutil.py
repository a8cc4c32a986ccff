"""Helpers for websocket tests: open the page's socket and the sandbox's, and play
the page's part between them (rtc_send frames to the avatar, its messages back as
rtc_message)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any
from urllib.parse import quote

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from avatarsite.asgi import application
from sessions.services.commands import SessionSettings

ORIGIN = (b"origin", b"http://localhost")


def bearer(token: str) -> tuple[bytes, bytes]:
    return (b"authorization", f"Bearer {token}".encode())


@pytest.fixture
def page_is_witness(monkeypatch):
    """Sessions whose page is the only witness of what the avatar says, as with AKool (in
    sandbox sessions the sandbox records it): for tests that forward the avatar's stream
    messages themselves (`rtc_message`) over the sandbox provider."""
    of = SessionSettings.of.__func__

    def as_akool(cls, session):
        return dataclasses.replace(of(cls, session), provider="akool")

    monkeypatch.setattr(SessionSettings, "of", classmethod(as_akool))


async def create_session(token: str, **body: Any) -> dict[str, Any]:
    response = await AsyncClient().post(
        "/api/v1/sessions",
        {"preset": "ada", **body},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.content
    return response.json()


async def open_page(session: dict[str, Any], token: str) -> WebsocketCommunicator:
    page = WebsocketCommunicator(application, session["ws_path"], headers=[ORIGIN, bearer(token)])
    connected, code = await page.connect()
    assert connected, code
    return page


async def open_sandbox(session: dict[str, Any]) -> WebsocketCommunicator:
    rtc = session["rtc"]
    path = f"/ws/sandbox/{rtc['channel']}/?token={quote(rtc['token'])}"
    avatar = WebsocketCommunicator(application, path, headers=[ORIGIN])
    connected, code = await avatar.connect()
    assert connected, code
    return avatar


class Conversation:
    """Shuttles frames between the page socket and the sandbox socket, like the page's
    JavaScript does, and records everything else the page receives."""

    def __init__(self, page: WebsocketCommunicator, avatar: WebsocketCommunicator):
        self.page = page
        self.avatar = avatar
        self.received: list[dict[str, Any]] = []  # page messages other than rtc_send
        self.sent_frames: list[str] = []  # frames handed to the transport
        self.avatar_frames: list[str] = []  # what the avatar sent
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> Conversation:
        self._tasks = [
            asyncio.create_task(self._pump_page()),
            asyncio.create_task(self._pump_avatar()),
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _pump_page(self) -> None:
        while True:
            message = json.loads(await self.page.receive_from(timeout=3600))
            if message["type"] == "rtc_send":
                self.sent_frames.append(message["frame"])
                await self.avatar.send_to(text_data=message["frame"])
            else:
                self.received.append(message)
            self._changed.set()

    async def _pump_avatar(self) -> None:
        while True:
            frame = await self.avatar.receive_from(timeout=3600)
            self.avatar_frames.append(frame)
            await self.page.send_json_to({"type": "rtc_message", "data": frame})
            self._changed.set()

    async def wait_for(self, predicate, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until a received page message satisfies predicate; return it."""

        async def scan() -> dict[str, Any]:
            seen = 0
            while True:
                for message in self.received[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.received)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["type"] == kind]

    def avatar_text(self) -> dict[str, str]:
        """The avatar's transcript text by mid, as the page would assemble it."""
        lines: dict[str, str] = {}
        for m in self.of_type("transcript"):
            if m["role"] == "avatar" and not m.get("replay"):
                lines[m["mid"]] = lines.get(m["mid"], "") + m["text"]
        return lines

    def violations(self) -> list[str]:
        return [f for f in self.avatar_frames if "sandbox_violation" in f]
