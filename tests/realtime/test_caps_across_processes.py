"""The socket caps and close codes on real daphne processes sharing PostgreSQL and Redis
(tests/processes/test_scaleout.py's site): a socket that goes over a cap in one process
takes over the oldest socket in the other; a refusal is a close code the page can read,
not an HTTP 403 at the handshake (a foreign Origin still is one)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.processes.test_scaleout import Site, backends, site  # noqa: F401 (fixtures)

pytestmark = pytest.mark.asyncio


async def open_socket(server, path: str, **headers: str) -> Any:
    return await websockets.connect(
        server.ws_url + path, additional_headers={"Origin": server.url, **headers}
    )


async def closed_with(ws) -> tuple[list[dict], int]:
    frames = []
    try:
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code


async def test_the_newest_socket_wins_across_processes(site: Site):  # noqa: F811
    async with httpx.AsyncClient(base_url=site.a.url, headers=site.auth) as http:
        created = await http.post("/api/v1/sessions", json={"preset": "ada"})
    assert created.status_code == 201, created.text
    path = created.json()["ws_path"]
    # Three sockets, the oldest on process a, then a fourth on process b.
    first = await open_socket(site.a, path, **site.auth)
    others = [await open_socket(server, path, **site.auth) for server in (site.b, site.a)]
    for ws in (first, *others):
        assert json.loads(await ws.recv())["type"] == "session"
    newest = await open_socket(site.b, path, **site.auth)

    frames, code = await closed_with(first)
    assert code == 4409
    assert frames[-1]["code"] == "taken_over"
    for ws in (*others, newest):
        await ws.send(json.dumps({"type": "interrupt"}))  # still open and answering
        assert ws.close_code is None
        await ws.close()
    async with httpx.AsyncClient(base_url=site.a.url, headers=site.auth) as http:
        await http.post(f"/api/v1/sessions/{created.json()['id']}/close")


async def test_refusals_are_close_codes_and_a_foreign_origin_a_403(site: Site):  # noqa: F811
    async with httpx.AsyncClient(base_url=site.a.url, headers=site.auth) as http:
        created = await http.post("/api/v1/sessions", json={"preset": "ada"})
    path = created.json()["ws_path"]
    nobody = await open_socket(site.a, path)
    frames, code = await closed_with(nobody)
    assert (code, frames[-1]["code"]) == (4401, "not_authenticated")
    missing = "/ws/sessions/00000000-0000-4000-8000-000000000000/"
    stranger = await open_socket(site.b, missing, **site.auth)
    frames, code = await closed_with(stranger)
    assert (code, frames[-1]["code"]) == (4404, "session_not_found")
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(
            site.a.ws_url + path, additional_headers={"Origin": "http://evil.example", **site.auth}
        )
    assert refused.value.response.status_code == 403
    async with httpx.AsyncClient(base_url=site.a.url, headers=site.auth) as http:
        await http.post(f"/api/v1/sessions/{created.json()['id']}/close")
