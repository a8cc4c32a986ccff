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

import uuid
from typing import Any

from django.conf import settings

from . import shared_cache

# This process, as presence knows it: a new id on every start.
BOOT_ID = uuid.uuid4().hex

# Counters expire eventually, so a crashed process cannot leave one stuck forever.
COUNTER_TTL = 4 * 3600


def _count_key(session_id: Any) -> str:
    return f"presence:count:{session_id}"


def _owner_count_key(session_id: Any) -> str:
    return f"presence:owners:{session_id}"


def _marker_key(session_id: Any) -> str:
    return f"presence:marker:{session_id}"


def _alive_key(session_id: Any) -> str:
    return f"presence:alive:{session_id}"


def _process_key(boot_id: str) -> str:
    return f"presence:process:{boot_id}"


def _beat_ttl() -> int:
    # Three beats may go missing (a stalled loop, a slow cache) before one counts as gone.
    return max(1, int(3 * settings.HEARTBEAT_INTERVAL + 1))


async def _add(key: str, delta: int) -> int:
    return max(0, await shared_cache.counter_add(key, delta, timeout=COUNTER_TTL))


async def joined(session_id: Any, *, owner: bool) -> None:
    await _add(_count_key(session_id), 1)
    if owner:
        await _add(_owner_count_key(session_id), 1)
        await shared_cache.set(_marker_key(session_id), uuid.uuid4().hex, timeout=COUNTER_TTL)
        await heartbeat(session_id)


async def left(session_id: Any, *, owner: bool) -> int:
    """One socket fewer; returns how many sockets the session's owner still has."""
    await _add(_count_key(session_id), -1)
    if owner:
        return await _add(_owner_count_key(session_id), -1)
    return await owner_sockets(session_id)


async def owner_sockets(session_id: Any) -> int:
    return await shared_cache.get(_owner_count_key(session_id)) or 0


async def sockets(session_id: Any) -> int:
    return await shared_cache.get(_count_key(session_id)) or 0


async def marker(session_id: Any) -> str | None:
    return await shared_cache.get(_marker_key(session_id))


def _left_key(session_id: Any) -> str:
    return f"presence:left:{session_id}"


async def page_left(session_id: Any) -> str | None:
    """The page's pagehide beacon came: remember it against the current marker (a
    socket that connects afterwards makes it stale). Returns that marker."""
    current = await marker(session_id)
    await shared_cache.set(_left_key(session_id), current, timeout=COUNTER_TTL)
    return current


async def left_by_beacon(session_id: Any, marker_seen: str | None) -> bool:
    """Whether the page that held `marker_seen` said goodbye with its beacon."""
    return await shared_cache.get(_left_key(session_id)) == marker_seen


async def heartbeat(session_id: Any) -> None:
    await shared_cache.set(_alive_key(session_id), BOOT_ID, timeout=_beat_ttl())


async def is_alive(session_id: Any) -> bool:
    return bool(await shared_cache.get(_alive_key(session_id)))


async def beat_process() -> None:
    """This process is alive (the background loop calls it every heartbeat interval)."""
    await shared_cache.set(_process_key(BOOT_ID), 1, timeout=_beat_ttl())


async def process_alive(boot_id: str) -> bool:
    """Whether the process that served a session still runs. Ours does, by definition;
    another one does while its beat is fresh."""
    return boot_id == BOOT_ID or bool(await shared_cache.get(_process_key(boot_id)))
