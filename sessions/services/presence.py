"""Which sessions have a socket, kept in the cache so every process sees it.

- a counter of the session's open sockets, to skip the group fan-out when a socket is
  alone (the hot path), and one of its owner's sockets, to notice when the last one
  leaves (a staff observer watching does not keep a session alive);
- a "connected" marker that changes on every (re)connect, so a close scheduled after a
  disconnect or a beacon can tell whether anyone came back meanwhile;
- a heartbeat that connected sockets refresh, so the reaper can tell a session whose
  page is there from one nobody holds;
- a beat of each served process (its boot id), so the reaper can tell a session whose
  process died (`crashed`) from one whose page left (`abandoned`). The session row keeps
  which process served it last (`AvatarSession.served_by`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from channels.db import aclose_old_connections
from django.conf import settings
from django.utils import timezone

from sessions import access, keys, shared_cache
from sessions.access import Principal

log = logging.getLogger("avatarsite.ws")

# This process, as presence knows it: a new id on every start.
BOOT_ID = uuid.uuid4().hex

# Counters expire eventually, so a crashed process cannot leave one stuck forever.
COUNTER_TTL = 4 * 3600


def _beat_ttl() -> int:
    # Three beats may go missing (a stalled loop, a slow cache) before one counts as gone.
    return max(1, int(3 * settings.HEARTBEAT_INTERVAL + 1))


async def _add(key: str, delta: int) -> int:
    return max(0, await shared_cache.counter_add(key, delta, timeout=COUNTER_TTL))


async def joined(session_id: Any, *, owner: bool) -> None:
    await _add(keys.presence_count(session_id), 1)
    if owner:
        await _add(keys.presence_owners(session_id), 1)
        await shared_cache.set(
            keys.presence_marker(session_id), uuid.uuid4().hex, timeout=COUNTER_TTL
        )
        await heartbeat(session_id)


async def left(session_id: Any, *, owner: bool) -> int:
    """One socket fewer; returns how many sockets the session's owner still has."""
    await _add(keys.presence_count(session_id), -1)
    if owner:
        return await _add(keys.presence_owners(session_id), -1)
    return await owner_sockets(session_id)


async def owner_sockets(session_id: Any) -> int:
    return await shared_cache.get(keys.presence_owners(session_id)) or 0


async def sockets(session_id: Any) -> int:
    return await shared_cache.get(keys.presence_count(session_id)) or 0


async def marker(session_id: Any) -> str | None:
    return await shared_cache.get(keys.presence_marker(session_id))


async def page_left(session_id: Any) -> str | None:
    """The page's pagehide beacon came: remember it against the current marker (a
    socket that connects afterwards makes it stale). Returns that marker."""
    current = await marker(session_id)
    await shared_cache.set(keys.presence_left(session_id), current, timeout=COUNTER_TTL)
    return current


async def left_by_beacon(session_id: Any, marker_seen: str | None) -> bool:
    """Whether the page that held `marker_seen` said goodbye with its beacon."""
    return await shared_cache.get(keys.presence_left(session_id)) == marker_seen


async def heartbeat(session_id: Any) -> None:
    await shared_cache.set(keys.presence_alive(session_id), BOOT_ID, timeout=_beat_ttl())


async def is_alive(session_id: Any) -> bool:
    return bool(await shared_cache.get(keys.presence_alive(session_id)))


async def beat_process() -> None:
    """This process is alive (the background loop calls it every heartbeat interval)."""
    await shared_cache.set(keys.process_alive(BOOT_ID), 1, timeout=_beat_ttl())


async def process_alive(boot_id: str) -> bool:
    """Whether the process that served a session still runs. Ours does, by definition;
    another one does while its beat is fresh."""
    return boot_id == BOOT_ID or bool(await shared_cache.get(keys.process_alive(boot_id)))


class SocketPresence:
    """One socket's presence, run as a task while the socket is open: a heartbeat every
    HEARTBEAT_INTERVAL (unless the socket is a staff observer's: watching keeps nothing
    alive), a check of the principal's access each beat (revocations by bulk update send
    no signal), and the end of the session at `expires_at`.

    Nothing a beat does may end the task: a failing check is logged with the session id
    and tried again at the next beat, so a session is never reaped because a check
    failed. If the task ends anyway, its socket should close for a reconnect.
    """

    def __init__(
        self,
        session_id: str,
        principal: Principal,
        *,
        observer: bool,
        expires_at: datetime,
        on_revoked: Callable[[], Awaitable[None]],
        on_expired: Callable[[], Awaitable[None]],
    ) -> None:
        self.session_id = session_id
        self.principal = principal
        self.observer = observer
        self.expires_at = expires_at
        self.on_revoked = on_revoked
        self.on_expired = on_expired

    def left(self) -> float:
        return (self.expires_at - timezone.now()).total_seconds()

    async def run(self) -> None:
        # A random phase: after a restart every page reconnects at once, and heartbeats
        # in step would hit the database and the cache together every interval.
        pause = random.uniform(0, settings.HEARTBEAT_INTERVAL)
        while (left := self.left()) > 0:
            await asyncio.sleep(min(left, pause))
            pause = settings.HEARTBEAT_INTERVAL
            if self.left() <= 0:
                break
            if not await self.beat():
                await self.on_revoked()
                return
        await self.on_expired()

    async def beat(self) -> bool:
        """One heartbeat; False when the principal's access was revoked."""
        if not self.observer:
            try:
                await heartbeat(self.session_id)
            except Exception:
                log.exception("session %s: heartbeat failed; trying again", self.session_id)
        try:
            return await access.still_valid(self.principal)
        except Exception:
            # The database went away (a restart), or something unexpected: drop a broken
            # connection and keep going; the check runs again next beat.
            log.exception("session %s: revocation check failed; trying again", self.session_id)
            with contextlib.suppress(Exception):
                await aclose_old_connections()
            return True
