"""A served process that stops (serve.py `_finish`) writes the rows still waiting,
those its cancelled tasks add as they end too (services/write_behind.py)."""

from __future__ import annotations

import asyncio

import pytest

from sessions.management.commands.serve import _finish
from sessions.models import AvatarSession
from sessions.services.write_behind import Batch
from sessions.tool_models import TurnTiming


@pytest.fixture
def session(world):
    return AvatarSession.objects.create(
        owner=world.alice, principal="user:1", provider="sandbox", avatar_id="x", duration=60
    )


@pytest.mark.django_db(transaction=True)
def test_rows_added_while_the_stopping_process_finishes_its_tasks_are_written(session, settings):
    # serve.py's end cancels the tasks still pending; a cancelled task's cleanup may add
    # a row (a socket's turn ends with it): that row is written too, not left asleep.
    settings.WRITE_BEHIND_SECONDS = 3600
    turns = Batch(TurnTiming)
    loop = asyncio.new_event_loop()

    async def socket():
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0)  # its cleanup runs after the timed write has begun
            turns.add(TurnTiming(session_id=session.pk, first_frame_ms=2))

    async def start():
        turns.add(TurnTiming(session_id=session.pk, first_frame_ms=1))
        loop.create_task(socket())
        await asyncio.sleep(0)

    loop.run_until_complete(start())
    _finish(loop)
    loop.close()
    assert sorted(TurnTiming.objects.values_list("first_frame_ms", flat=True)) == [1, 2]
