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
import weakref
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


async def heartbeat(*session_ids: Any) -> None:
    """These sessions' pages are here: one cache call however many (the process beat)."""
    alive = dict.fromkeys((keys.presence_alive(sid) for sid in session_ids), BOOT_ID)
    await shared_cache.set_many(alive, timeout=_beat_ttl())


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
    """One socket's presence while it is open: a heartbeat every HEARTBEAT_INTERVAL
    (unless the socket is a staff observer's: watching keeps nothing alive), a check of
    the principal's access and of a cookie socket's sign-in each beat (revocations by
    bulk update send no signal, a signal may be missed), and the end of the session at
    `expires_at`. The beats are the process's (`_ProcessBeat`): `run` registers the
    socket and waits for its revocation or its time.

    Nothing a beat does may end the socket: a failing check is logged with the session
    id and tried again at the next beat, so a session is never reaped because a check
    failed. If `run` ends with an exception anyway, its socket should close for a
    reconnect.
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
        self.due = 0.0  # the loop's clock: when this socket's next beat is due
        self.revoked: asyncio.Future[None] | None = None  # done: revoked, or the beat died
        self.signin_check: asyncio.Task[None] | None = None

    def left(self) -> float:
        return (self.expires_at - timezone.now()).total_seconds()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.revoked = loop.create_future()
        # A random phase: after a restart every page reconnects at once, and heartbeats
        # in step would hit the database and the cache together every interval.
        self.due = loop.time() + random.uniform(0, settings.HEARTBEAT_INTERVAL)
        beat = _ProcessBeat.joined(self, loop)
        try:
            while (left := self.left()) > 0 and not self.revoked.done():
                await asyncio.wait([self.revoked], timeout=left)
        finally:
            beat.sockets.pop(self, None)
            if self.signin_check is not None:
                self.signin_check.cancel()
        if self.revoked.done():
            self.revoked.result()  # raises if the process beat died
            await self.on_revoked()
        else:
            await self.on_expired()

    def revoke(self, error: BaseException | None = None) -> None:
        if self.revoked is not None and not self.revoked.done():
            if error is None:
                self.revoked.set_result(None)
            else:
                self.revoked.set_exception(error)

    def check_signin(self) -> None:
        """A cookie socket's sign-in, checked in a task of its own (its re-check waits a
        second): one at a time."""
        if self.signin and (self.signin_check is None or self.signin_check.done()):
            self.signin_check = asyncio.ensure_future(self._check_signin())

    async def _check_signin(self) -> None:
        try:
            if await revocation.signin_lost(self.signin, self.principal.user.pk):
                self.why = revocation.SIGNED_OUT
                self.revoke()
        except Exception:
            _check_failed([self])
            with contextlib.suppress(Exception):
                await aclose_old_connections()


def _check_failed(presences: list[SocketPresence], what: str = "revocation check") -> None:
    for session_id in dict.fromkeys(presence.session_id for presence in presences):
        log.exception("session %s: %s failed; trying again", session_id, what)


class _ProcessBeat:
    """The presence beats of every socket of this process on one event loop (tests run
    many loops), in one task: every min(1 s, HEARTBEAT_INTERVAL) it takes the sockets
    that are due (each on its own phase) and beats them at once: one cache call for
    their heartbeats, one query per kind of principal for their access. Per socket, a
    thousand sockets cost a thread hop and a query each every interval.

    It runs while sockets are registered. If it dies (a bug), its sockets' `run` raise,
    their sockets close for a reconnect, and the next socket starts a new beat."""

    _on_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ProcessBeat] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sockets: dict[SocketPresence, None] = {}  # ordered, unlike a set
        self.task = loop.create_task(self._run())
        self.task.add_done_callback(self._stopped)

    @classmethod
    def joined(cls, presence: SocketPresence, loop: asyncio.AbstractEventLoop) -> _ProcessBeat:
        beat = cls._on_loop.get(loop)
        if beat is None or beat.task.done():
            beat = cls._on_loop[loop] = cls(loop)
        beat.sockets[presence] = None
        return beat

    async def _run(self) -> None:
        while self.sockets:
            await asyncio.sleep(min(1.0, settings.HEARTBEAT_INTERVAL))
            now, interval = self.loop.time(), settings.HEARTBEAT_INTERVAL
            due = [presence for presence in self.sockets if presence.due <= now]
            for presence in due:
                # Its own phase kept; after a stall, due again at the next tick.
                presence.due = max(presence.due + interval, now)
            if due:
                await self.beat(due)
        # Gone before the next socket looks (no await between): it starts a new beat.
        if self._on_loop.get(self.loop) is self:
            del self._on_loop[self.loop]

    async def beat(self, due: list[SocketPresence]) -> None:
        beating = [presence for presence in due if not presence.observer]
        if beating:
            try:
                await heartbeat(*(presence.session_id for presence in beating))
            except Exception:
                _check_failed(beating, "heartbeat")
        try:
            valid = await access.still_valid_many([presence.principal for presence in due])
        except Exception:
            # The database went away (a restart), or something unexpected: drop a broken
            # connection and keep going; the checks run again next beat.
            _check_failed(due)
            with contextlib.suppress(Exception):
                await aclose_old_connections()
            return
        for presence, ok in zip(due, valid, strict=True):
            if presence not in self.sockets:
                continue  # its socket went meanwhile
            if not ok:
                presence.revoke()
            else:
                presence.check_signin()

    def _stopped(self, task: asyncio.Task[None]) -> None:
        if self._on_loop.get(self.loop) is self:
            del self._on_loop[self.loop]
        died = task.cancelled() or task.exception() is not None
        if died and self.sockets:
            error = RuntimeError("the process's presence beat stopped")
            if not task.cancelled():
                error.__cause__ = task.exception()
            for presence in list(self.sockets):
                presence.revoke(error)


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
