"""The spend cap across two served processes sharing PostgreSQL and Redis: creates racing
on both for the account's last minutes never pass the cap together; exactly as many win
as the minutes allow, the rest are told `spend_cap`.

Runs on the run's own PostgreSQL and Redis when DATABASE_URL and REDIS_URL point at them
(`make test` starts both for its second pass), else starts them here (tools/services.py),
else is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.support.live import LiveServer, process_pair

pytestmark = pytest.mark.asyncio

CAP_MINUTES = 30
RACERS = 12


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Iterator[tuple[LiveServer, ...]]:
    yield from process_pair(
        tmp_path_factory,
        "spend",
        SPEND_MINUTES_PER_DAY=str(CAP_MINUTES),
        SPEND_MINUTES_PER_MONTH="0",
        SESSION_CONCURRENT_GLOBAL=str(RACERS * 2),
        SESSION_CONCURRENT_PER_PRINCIPAL=str(RACERS * 2),
        SESSION_CREATES_PER_HOUR="1000",
    )


async def test_two_processes_racing_for_the_last_minutes_let_one_through(pair):
    a, b = pair
    token = a.manage("create_api_token", "demo", "--name", "spend").strip()
    clients = [
        httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        for server in (a, b)
    ]
    try:

        async def create(client: httpx.AsyncClient, minutes: int) -> httpx.Response:
            return await client.post(
                "/api/v1/sessions", json={"preset": "ada", "duration": minutes * 60}
            )

        # 20 of the 30 minutes go first, on A: 10 are left.
        assert (await create(clients[0], 20)).status_code == 201
        start = asyncio.Event()

        async def racer(i: int) -> httpx.Response:
            await start.wait()
            return await create(clients[i % 2], 10)

        attempts = [asyncio.create_task(racer(i)) for i in range(RACERS)]
        start.set()
        responses = await asyncio.gather(*attempts)

        won = [r for r in responses if r.status_code == 201]
        lost = [r for r in responses if r.status_code != 201]
        assert len(won) == 1, [r.text for r in responses]
        assert {r.status_code for r in lost} == {429}
        assert {r.json()["error"]["code"] for r in lost} == {"spend_cap"}
        # Both processes refused some: the race really was across them.
        assert {str(r.request.url).split("/api")[0] for r in lost} == {a.url, b.url}
        # Nothing is left: even the shortest session is refused, on either process.
        for client in clients:
            assert (await create(client, 1)).json()["error"]["code"] == "spend_cap"
        reserved = a.query(
            "SELECT SUM(duration) FROM avatar_sessions_avatarsession WHERE status != 'failed'"
        )
        assert reserved == [(CAP_MINUTES * 60,)]
        alerts = a.query("SELECT period, percent FROM avatar_sessions_spendalert ORDER BY percent")
        assert alerts == [("day", 80), ("day", 100)]
    finally:
        for client in clients:
            await client.aclose()
