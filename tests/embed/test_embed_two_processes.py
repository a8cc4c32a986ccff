"""Issue 20: an embed key's caps hold across two served processes sharing PostgreSQL and
Redis: visitors racing on both for the key's last concurrent slot, or its last minutes of
the day, let exactly one through; the rest are told the website's avatar is busy, or has
used its minutes (sessions/services/limits.py: one atomic cache operation per cap).

As tests/processes/test_spend_two_processes.py: on the run's PostgreSQL and Redis when
DATABASE_URL and REDIS_URL point at them, else started here, else skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.support.live import LiveServer, process_pair

pytestmark = [pytest.mark.asyncio, pytest.mark.second_pass]

RACERS = 12
SHOP = "https://shop.test"


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Iterator[tuple[LiveServer, ...]]:
    yield from process_pair(tmp_path_factory, "embed", SESSION_CONCURRENT_GLOBAL=str(RACERS * 4))


def embed_key(server: LiveServer, **limits: int) -> list[str]:
    """A key offering ada with these caps (every other cap out of the way), and a token
    for each racer and one more: each a visitor of their own."""
    figures = {
        "visitor_concurrent": 100,
        "visitor_sessions_per_hour": 1000,
        "visitor_minutes_per_day": 0,
        "key_concurrent": 100,
        "key_sessions_per_hour": 1000,
        "key_minutes_per_day": 0,
        **limits,
    }
    code = (
        "from sessions.models import EmbedKey, AvatarPreset\n"
        "from sessions import embed_tokens\n"
        f"k = EmbedKey.objects.create(name='Shop', allowed_origins={SHOP!r}, **{figures!r})\n"
        "k.presets.add(AvatarPreset.objects.get(slug='ada'))\n"
        f"tokens = [embed_tokens.issue(k.public_key, {SHOP!r}) for _ in range({RACERS + 1})]\n"
        "print('\\n'.join(tokens))"
    )
    output = server.manage("shell", "-c", code).split()
    return [line for line in output if line.startswith("emb.")]


async def race(servers, tokens: list[str], first: int, minutes: int) -> list[httpx.Response]:
    """The first token's session of `first` minutes first (on A), then every other
    token's of `minutes` at once, half on each process."""
    start = asyncio.Event()

    async def create(server: LiveServer, token: str, wait: bool, minutes: int) -> httpx.Response:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            if wait:
                await start.wait()
            return await client.post(
                "/api/v1/sessions",
                json={"preset": "ada", "duration": minutes * 60},
                headers={"Authorization": f"Bearer {token}"},
            )

    made = await create(servers[0], tokens[0], wait=False, minutes=first)
    assert made.status_code == 201, made.text
    attempts = [
        asyncio.create_task(create(servers[i % 2], token, wait=True, minutes=minutes))
        for i, token in enumerate(tokens[1:])
    ]
    await asyncio.sleep(0.1)
    start.set()
    return list(await asyncio.gather(*attempts))


def exactly_one_won(responses: list[httpx.Response], code: str, servers) -> None:
    won = [r for r in responses if r.status_code == 201]
    lost = [r for r in responses if r.status_code != 201]
    assert len(won) == 1, [r.text for r in responses]
    assert {r.status_code for r in lost} == {429}
    assert {r.json()["error"]["code"] for r in lost} == {code}
    # Both processes refused some: the race really was across them.
    assert {str(r.request.url).split("/api")[0] for r in lost} == {s.url for s in servers}


async def test_racing_for_a_keys_last_concurrent_slot_lets_one_through(pair):
    tokens = embed_key(pair[0], key_concurrent=2)
    exactly_one_won(await race(pair, tokens, 1, 1), "site_sessions_limit", pair)


async def test_racing_for_a_keys_last_minutes_lets_one_through(pair):
    tokens = embed_key(pair[0], key_minutes_per_day=30)
    # 20 of the 30 minutes go first: 10 are left, for one 10-minute session.
    exactly_one_won(await race(pair, tokens, 20, 10), "site_minutes_limit", pair)
    reserved = pair[0].query(
        "SELECT SUM(s.duration) FROM avatar_sessions_avatarsession s"
        " JOIN avatar_sessions_embedkey k ON k.id = s.embed_key_id"
        " WHERE s.status != 'failed' AND k.key_minutes_per_day = 30"
    )
    assert reserved == [(30 * 60,)]
