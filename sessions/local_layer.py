"""The single-process channel layer: Channels' in-memory layer without its scan per message.

Without REDIS_URL the session sockets of a process talk through Channels'
`InMemoryChannelLayer`. On every receive and every group send it walks every channel's
queue and every group's members to drop what expired: work proportional to the open
sockets, for every message (with 1,000 sockets, about 7 % of the process's CPU in
bench/load.py --shuttle). Here that walk runs at most once a second: an expired message
or group membership lives up to a second longer, nothing else changes.

A group send also put each member's message on the queue from a task of its own; the
queue's put never waits (a full one raises ChannelFull), so this one puts them in turn.
"""

from __future__ import annotations

import time

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

CLEAN_EVERY = 1.0  # seconds


class LocalChannelLayer(InMemoryChannelLayer):
    _cleaned_at = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._cleaned_at >= CLEAN_EVERY:
            self._cleaned_at = now
            super()._clean_expired()

    async def group_send(self, group: str, message: dict) -> None:
        assert isinstance(message, dict), "Message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, {})):
            try:
                await self.send(channel, message)
            except ChannelFull:
                pass  # as the stock layer: a full channel misses this message
