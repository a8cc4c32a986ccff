"""`sandbox-hear` is the sandbox's alone (issue 19): the session socket has no frame that
would pass it on to the avatar, so a page cannot send it towards AKool."""

from __future__ import annotations

import json

import pytest

from sessions.stream.codec import command_frame
from tests.support.wsutil import create_session, open_page

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_the_session_socket_refuses_sandbox_hear_and_stays_open(world):
    session = await create_session(world.alice_token, preset="ada")
    page = await open_page(session, world.alice_token)
    assert json.loads(await page.receive_from())["type"] == "session"
    for frame in (
        {"type": "sandbox-hear", "text": "Hello"},
        {"type": "sandbox_hear", "data": {"text": "Hello"}},
        json.loads(command_frame("sandbox-hear", {"text": "Hello"})),  # a stream message as is
    ):
        await page.send_json_to(frame)
        reply = json.loads(await page.receive_from())
        assert reply["type"] == "error" and reply["code"] == "unknown_type", reply
    # Still open, and nothing went towards the avatar.
    await page.send_json_to({"type": "interrupt"})
    reply = json.loads(await page.receive_from())
    assert reply["type"] == "rtc_send"
    assert json.loads(reply["frame"])["pld"]["cmd"] == "interrupt"
    await page.disconnect()
