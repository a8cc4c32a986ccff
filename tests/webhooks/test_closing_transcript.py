"""A line typed while the session closes (its socket had not heard yet) is in the closed
webhook's transcript: typed lines wait in memory up to WRITE_BEHIND_SECONDS
(services/write_behind.py), and the close writes them just before it reads the
transcript, not only before it starts."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from sessions.services import lifecycle, transcript
from sessions.webhook_models import WebhookDelivery
from tests.support.wsutil import create_session

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]


async def test_a_line_typed_while_the_avatar_service_confirms_the_close_is_in_the_webhook(
    world, endpoint, settings, monkeypatch
):
    settings.WRITE_BEHIND_SECONDS = 3600  # only the close's own write stores it
    session = await create_session(world.alice_token)
    close_upstream = lifecycle.close_upstream

    async def slow_close(provider, upstream_id):
        transcript.record_user_line(session["id"], "bye", "Goodbye")  # typed meanwhile
        await close_upstream(provider, upstream_id)

    monkeypatch.setattr(lifecycle, "close_upstream", slow_close)
    await lifecycle.close_session(session["id"], "user")

    closed = await sync_to_async(WebhookDelivery.objects.get)(event="session.closed")
    assert [(line["role"], line["text"]) for line in closed.payload["transcript"]] == [
        ("user", "Goodbye")
    ]
