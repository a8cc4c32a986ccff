"""Issue 20: a website's visitor, known by the embed page's token (no cookie), starts and
follows a session through the same API and socket as everyone; the key decides the rest."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from avatarsite.asgi import application
from sessions import embed_tokens
from sessions.models import AvatarPreset, EmbedKey
from tests.support.wsutil import ORIGIN

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

SHOP = "https://shop.test"


@pytest.fixture
def embed_key(world):
    key = EmbedKey.objects.create(name="Shop", allowed_origins=SHOP)
    key.presets.add(world.preset)
    return key


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def start(token: str, preset: str = "ada"):
    return await AsyncClient().post(
        "/api/v1/sessions",
        {"preset": preset},
        content_type="application/json",
        headers=bearer(token),
    )


async def test_a_visitor_starts_a_session_and_its_socket_answers_the_embed_protocol(
    world, embed_key, settings
):
    settings.ANONYMOUS_SESSIONS = False  # whatever it says
    token = embed_tokens.issue(embed_key.public_key, SHOP)
    response = await start(token)
    assert response.status_code == 201, response.content
    session = response.json()
    page = WebsocketCommunicator(
        application,
        session["ws_path"],
        headers=[ORIGIN],
        subprotocols=[embed_tokens.SOCKET_PROTOCOL, token],
    )
    connected, protocol = await page.connect()
    assert connected
    assert protocol == embed_tokens.SOCKET_PROTOCOL
    frame = await page.receive_json_from(timeout=5)
    assert frame["type"] == "session"
    await page.disconnect()


async def test_another_visitor_of_the_same_key_cannot_see_the_session(world, embed_key):
    mine = embed_tokens.issue(embed_key.public_key, SHOP)
    theirs = embed_tokens.issue(embed_key.public_key, SHOP)
    session = (await start(mine)).json()
    response = await AsyncClient().get(f"/api/v1/sessions/{session['id']}", headers=bearer(theirs))
    assert response.status_code == 404


async def test_a_key_turned_off_or_an_origin_removed_makes_the_token_worthless(world, embed_key):
    token = embed_tokens.issue(embed_key.public_key, SHOP)
    embed_key.allowed_origins = "https://other.test"
    await embed_key.asave()
    assert (await start(token)).status_code == 401
    embed_key.allowed_origins = SHOP
    embed_key.active = False
    await embed_key.asave()
    assert (await start(token)).status_code == 401


async def test_a_preset_the_key_does_not_offer_is_not_found(world, embed_key):
    other = await AvatarPreset.objects.acreate(
        slug="bea", name="Bea", avatar_id="sandbox_bea", active=True
    )
    token = embed_tokens.issue(embed_key.public_key, SHOP)
    assert (await start(token, other.slug)).status_code == 404
    listed = await AsyncClient().get("/api/v1/presets", headers=bearer(token))
    assert [p["slug"] for p in listed.json()["avatars"]] == ["ada"]


async def test_the_visitor_cap_is_the_keys_own(world, embed_key):
    embed_key.visitor_concurrent = 1
    await embed_key.asave()
    token = embed_tokens.issue(embed_key.public_key, SHOP)
    assert (await start(token)).status_code == 201
    refused = await start(token)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "concurrent_sessions_limit"


async def test_a_forged_or_expired_token_is_refused(world, embed_key, settings):
    token = embed_tokens.issue(embed_key.public_key, SHOP)
    assert (await start(token[:-2] + "xx")).status_code == 401
    settings.EMBED_TOKEN_MAX_AGE = -1
    assert (await start(token)).status_code == 401
