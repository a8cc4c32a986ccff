"""The consumers check their database connection now and then, not before every message."""

from __future__ import annotations

import json

import pytest

from sessions import sockets as socket_base
from tests.support.wsutil import create_session, open_page

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_a_burst_of_messages_checks_the_connection_once_per_interval(world, monkeypatch):
    checks = []

    async def counting_check() -> None:
        checks.append(1)

    monkeypatch.setattr(socket_base, "aclose_old_connections", counting_check)
    monkeypatch.setattr(socket_base, "_next_check", 0.0)
    session = await create_session(world.alice_token)
    page = await open_page(session, world.alice_token)
    await page.receive_from()
    for _ in range(20):
        await page.send_json_to({"type": "interrupt"})
    for _ in range(20):
        assert json.loads(await page.receive_from())["type"] != "error"
    assert len(checks) == 1  # the connect and 20 messages: one check

    monkeypatch.setattr(socket_base, "_next_check", 0.0)  # the interval has passed
    await page.send_json_to({"type": "interrupt"})
    await page.receive_from()
    await page.disconnect()
    assert len(checks) >= 2


async def test_a_frame_for_a_client_that_has_gone_is_dropped_quietly():
    from autobahn.exception import Disconnected

    async def gone(message):
        raise Disconnected("Attempt to send on a closed protocol")

    consumer = socket_base.SocketConsumer()
    consumer.base_send = gone

    await consumer.send(text_data="{}")  # no exception: the socket's disconnect follows
