"""The single-process channel layer (sessions/local_layer.py) and the served process's
garbage collector (sessions/operations/collector.py)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from sessions.local_layer import LocalChannelLayer
from sessions.operations import collector


@pytest.mark.asyncio
async def test_a_group_send_reaches_every_member_once():
    layer = LocalChannelLayer()
    channels = [await layer.new_channel() for _ in range(3)]
    for name in channels:
        await layer.group_add("session.x", name)
    await layer.group_send("session.x", {"type": "session.relay", "n": 1})
    for name in channels:
        assert await asyncio.wait_for(layer.receive(name), 1) == {"type": "session.relay", "n": 1}
        assert name not in layer.channels  # nothing more waits there


@pytest.mark.asyncio
async def test_expired_messages_and_their_channels_are_dropped_within_a_second(monkeypatch):
    layer = LocalChannelLayer(expiry=0)  # every message expires at once
    gone, other = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("session.x", gone)
    await layer.send(gone, {"type": "late"})
    layer._cleaned_at = 0.0  # the last scan was long ago
    await layer.group_send("session.y", {"type": "any"})  # a send scans
    assert gone not in layer.channels
    assert gone not in layer.groups.get("session.x", {})  # an expired message's channel leaves
    await layer.send(other, {"type": "late"})
    await layer.group_send("session.y", {"type": "any"})  # within the second: no scan
    assert other in layer.channels


def test_the_served_process_freezes_what_is_loaded_and_collects_the_young_less_often(settings):
    before = gc.get_threshold()
    try:
        settings.GC_GEN0_THRESHOLD = 0
        collector.tune_for_serving()
        assert gc.get_threshold() == before  # 0: Python's own
        settings.GC_GEN0_THRESHOLD = 12_345
        collector.tune_for_serving()
        assert gc.get_threshold()[0] == 12_345
        assert gc.get_freeze_count() > 1000  # Django and the app, out of the collector's walk
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
