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
from sessions.services import revocation

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


async def page_connected(session_id: Any) -> bool:
    """Whether an owner's page socket holds the session now. Its heartbeat must be fresh
    too: a process that died leaves its counter behind, but not its beats."""
    return await owner_sockets(session_id) > 0 and await is_alive(session_id)


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


async def first_beacon(session_id: Any) -> bool:
    """Whether this beacon is the first since the session's last (re)connect: the one
    whose close is pending. Atomic in every process (the cache's add); the key expires
    once that close has run."""
    pending = keys.leave_pending(session_id, await marker(session_id))
    return await shared_cache.add(pending, 1, timeout=settings.SESSION_LEAVE_GRACE + 60)


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
    alive), a check of the principal's access and of a cookie socket's sign-in each beat
    (revocations by bulk update send no signal, a signal may be missed), and the end of
    the session at `expires_at`.

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
        signin: str | None = None,
    ) -> None:
        self.session_id = session_id
        self.principal = principal
        self.observer = observer
        self.expires_at = expires_at
        self.on_revoked = on_revoked
        self.on_expired = on_expired
        self.signin = signin  # a cookie socket's Django session key: its sign-in
        self.why = access.access_lost_words(principal)

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
            if not await access.still_valid(self.principal):
                return False
            if self.signin and await revocation.signin_lost(self.signin, self.principal.user.pk):
                self.why = revocation.SIGNED_OUT
                return False
            return True
        except Exception:
            # The database went away (a restart), or something unexpected: drop a broken
            # connection and keep going; the check runs again next beat.
            log.exception("session %s: revocation check failed; trying again", self.session_id)
            with contextlib.suppress(Exception):
                await aclose_old_connections()
            return True


# --- the socket caps --------------------------------------------------------------------
# Each scope's open sockets are a list in the cache, oldest first: [channel name, boot id].
# A socket that connects is appended; beyond the scope's cap the oldest are taken off and
# told to close (the newest wins: a reload or a reconnect is never refused). A socket
# takes itself off as it disconnects; the entries of a process that died are dropped by
# the next connect (its beat is gone), and a list no socket touches expires.

# A lock holder that died lets go after this long.
LOCK_TTL = 5
LOCK_TRIES = 300  # 10 ms apart: 3 s, then the update goes ahead unlocked (logged)


def socket_scopes(
    session_id: Any, principal: Principal, *, observer: bool
) -> list[tuple[str, int]]:
    """The scopes a socket counts in, with their caps (settings.WS_*). Whose sockets: the
    user's, whichever API token or sign-in opened them (tokens do not multiply the cap);
    an anonymous visitor's own, never their IP's (one visitor must not push out another
    behind the same address)."""
    if principal.user is not None:
        owner_key = keys.user_principal(principal.user.pk)
    else:
        owner_key = f"visitor:{principal.visitor_key}"
    if observer:
        # Staff watching: a list of their own, so they never push out the owner.
        first = (f"observers:{session_id}", settings.WS_OBSERVERS_PER_SESSION)
    else:
        first = (f"session:{session_id}", settings.WS_SOCKETS_PER_SESSION)
    return [first, (f"owner:{owner_key}", settings.WS_SOCKETS_PER_PRINCIPAL)]


@contextlib.asynccontextmanager
async def _locked(scope: str):
    key, token = keys.socket_list_lock(scope), uuid.uuid4().hex
    for _ in range(LOCK_TRIES):
        if await shared_cache.add(key, token, timeout=LOCK_TTL):
            break
        await asyncio.sleep(0.01)
    else:
        log.warning("socket list %s: lock not acquired; updating it anyway", scope)
    try:
        yield
    finally:
        if await shared_cache.get(key) == token:
            await shared_cache.delete(key)


async def _live(entries: list[list[str]]) -> list[list[str]]:
    alive = {boot: await process_alive(boot) for boot in {boot for _, boot in entries}}
    return [entry for entry in entries if alive[entry[1]]]


async def admit_socket(channel: str, scopes: list[tuple[str, int]]) -> list[str]:
    """Count a new socket in its scopes; returns the channels of the older sockets it
    takes over (beyond a cap), which the caller tells to close."""
    taken_over: list[str] = []
    for scope, cap in scopes:
        async with _locked(scope):
            entries = await _live(await shared_cache.get(keys.socket_list(scope)) or [])
            entries.append([channel, BOOT_ID])
            taken_over += [name for name, _ in entries[:-cap]]
            await shared_cache.set(keys.socket_list(scope), entries[-cap:], timeout=COUNTER_TTL)
    return list(dict.fromkeys(name for name in taken_over if name != channel))


async def forget_socket(channel: str, scopes: list[tuple[str, int]]) -> None:
    for scope, _ in scopes:
        async with _locked(scope):
            entries = await shared_cache.get(keys.socket_list(scope)) or []
            kept = [entry for entry in entries if entry[0] != channel]
            if len(kept) != len(entries):
                await shared_cache.set(keys.socket_list(scope), kept, timeout=COUNTER_TTL)
