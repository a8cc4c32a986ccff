"""The sandbox plays a network: `rtc.network` names it, and for a network listed in
SANDBOX_UNREACHABLE_NETWORKS its avatar's socket accepts, then closes at once with 4503,
as a join that failed; after a fallback to a reachable network the new channel answers."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from avatarsite.asgi import application
from sessions.models import AvatarPreset
from tests.support.wsutil import ORIGIN, create_session, open_sandbox

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def sandbox_socket(session: dict) -> WebsocketCommunicator:
    rtc = session["rtc"]
    path = f"/ws/sandbox/{rtc['channel']}/?token={quote(rtc['token'])}"
    return WebsocketCommunicator(application, path, headers=[ORIGIN])


async def fallback(session: dict, token: str) -> dict:
    response = await AsyncClient().post(
        f"/api/v1/sessions/{session['id']}/fallback",
        {},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("network", ["agora", "livekit", "trtc"])
async def test_rtc_names_the_network_the_sandbox_plays(world, network):
    await AvatarPreset.objects.filter(slug="ada").aupdate(network=network)

    session = await create_session(world.alice_token)

    assert session["network"] == network
    assert session["rtc"]["provider"] == "sandbox" and session["rtc"]["network"] == network


async def test_an_unreachable_network_closes_the_avatars_socket_with_4503(world, settings):
    settings.SANDBOX_UNREACHABLE_NETWORKS = ["agora"]
    session = await create_session(world.alice_token)
    avatar = await sandbox_socket(session)

    connected, _ = await avatar.connect()

    # Accepted, so that the page sees the code and the reason; then closed at once.
    assert connected
    closed = await avatar.receive_output()
    assert closed == {"type": "websocket.close", "code": 4503, "reason": "network unreachable"}
    await avatar.disconnect()


async def test_a_reachable_network_answers_as_always(world, settings):
    settings.SANDBOX_UNREACHABLE_NETWORKS = ["trtc"]
    session = await create_session(world.alice_token)

    avatar = await open_sandbox(session)

    await avatar.send_to(
        text_data=json.dumps({"v": 2, "type": "command", "mid": "c1", "pld": {"cmd": "interrupt"}})
    )
    ack = json.loads(await avatar.receive_from())
    assert ack["pld"]["cmd"] == "interrupt" and ack["pld"]["code"] == 1000
    await avatar.disconnect()


async def test_after_a_fallback_the_new_network_answers(world, settings):
    settings.SANDBOX_UNREACHABLE_NETWORKS = ["agora"]
    settings.AKOOL_NETWORKS = ["agora", "trtc"]
    session = await create_session(world.alice_token)
    assert session["fallback_networks"] == ["trtc"]

    moved = await fallback(session, world.alice_token)

    assert moved["id"] == session["id"] and moved["network"] == "trtc"
    assert moved["rtc"]["network"] == "trtc"
    assert moved["rtc"]["channel"] != session["rtc"]["channel"]
    # The first channel's avatar left with its upstream session.
    old = await sandbox_socket(session)
    connected, code = await old.connect()
    assert not connected and code == 4403
    avatar = await open_sandbox(moved)
    await avatar.disconnect()
