"""Fallback: a session whose page could not join its network moves, once, to another.

The same session (id, socket path, concurrency slot, transcript) gets a new upstream
session on another network of AKOOL_NETWORKS: the first upstream session is closed first
(two would bill at once, and count twice against AKool's concurrency), then a create with
the other `stream_type`. A failure on the way fails the session and frees its slot, as a
failed create does. Which networks a session may try: sessions.networks.
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from sessions import errors, keys, networks, shared_cache
from sessions.access import Principal
from sessions.models import AvatarSession, SessionEvent, Status
from sessions.providers import get_provider
from sessions.providers.base import NETWORKS, ProviderError, rtc_dict
from sessions.services import catalog, lifecycle
from sessions.services.upstream_errors import upstream_failed

log = logging.getLogger("avatarsite.fallback")

# The lock only spares AKool a second, doomed attempt: the database decides who moves
# (compare-and-set on the row), so a fallback that outlives its lock still loses cleanly.
# Its time is that of the slowest fallback (see _lock_seconds), plus this for our own work.
LOCK_MARGIN_SECONDS = 60


async def fall_back(principal: Principal, session_id: Any, network: str | None) -> AvatarSession:
    """Move the caller's live session to `network` (default: the first it may try).
    Raises DomainError; on an upstream failure the session has failed."""
    owned = AvatarSession.objects.owned_by(principal).select_related("preset")
    if not await owned.filter(pk=session_id).aexists():
        # Others' sessions, staff's included, are answered like missing ones.
        raise errors.NotFound("session_not_found", _("No such session."))
    lock, mine = keys.falling_back(session_id), uuid.uuid4().hex
    if not await shared_cache.add(lock, mine, _lock_seconds()):
        raise _moving()
    try:
        # Read after the lock: a fallback that just finished has marked the session.
        session = await owned.aget(pk=session_id)
        target = _target(session, network)
        return await _move(session, target)
    finally:
        # Only our own: a lock that expired may be another fallback's by now.
        if await shared_cache.get(lock) == mine:
            await shared_cache.delete(lock)


def _lock_seconds() -> float:
    """The longest a fallback can take: its close and, after a refusal, the session's
    state (each retried), a token fetch (retried) and its create (never retried), each
    attempt bounded by the client's deadline, with the pauses between attempts (under
    2**retries seconds with the client's backoff of 0.5 s)."""
    attempt = settings.AKOOL_CONNECT_TIMEOUT + 2 * settings.AKOOL_READ_TIMEOUT
    retried = (1 + settings.AKOOL_RETRIES) * attempt + 2**settings.AKOOL_RETRIES
    return 3 * retried + attempt + LOCK_MARGIN_SECONDS


def _moving() -> errors.DomainError:
    return errors.Conflict("fallback_used", _("This session is already moving to another network."))


def _target(session: AvatarSession, network: str | None) -> str:
    """The network to move to, or the refusal that says why not."""
    if session.status != Status.ACTIVE or _seconds_left(session) < 1:
        raise errors.Conflict(
            "session_not_live",
            _("This session is no longer running, so it cannot move to another network."),
        )
    if not session.upstream_id:
        # Between a fallback's close and its new session (or a fallback that failed there).
        raise _moving()
    if networks.fell_back(session):
        raise errors.Conflict(
            "fallback_used",
            _("This session has moved to another network once already; it cannot move again."),
        )
    offered = networks.fallback_networks(session)
    if not offered:
        raise errors.Conflict(
            "no_fallback", _("There is no other network to try for this session.")
        )
    if network is not None and network not in offered:
        raise errors.BadInput(
            "unknown_network",
            _("“%(name)s” is not a network this session can move to; it can move to %(offered)s.")
            % {"name": network[:40], "offered": ", ".join(offered)},
        )
    return network or offered[0]


def _seconds_left(session: AvatarSession) -> int:
    if session.expires_at is None:
        return session.duration
    return math.ceil((session.expires_at - timezone.now()).total_seconds())


async def _move(session: AvatarSession, target: str) -> AvatarSession:
    provider = get_provider(session.provider)
    old_id, old_network = session.upstream_id, session.network
    try:
        await lifecycle.close_upstream(provider, old_id)
    except ProviderError as exc:
        # The first upstream session may still run: its id stays on the failed row, so
        # the reaper's reconciliation closes it (unless another fallback took the row).
        if not await _still(session, old_id, old_network).aexists():
            raise await _lost(session) from exc
        await lifecycle.fail(session, f"moving to {target}: closing upstream failed: {exc.message}")
        raise upstream_failed(exc) from exc
    # The claim, compare-and-set: only while the row still holds the session we closed, so
    # of two fallbacks (or a fallback and a close) that raced past the lock one moves.
    # No upstream id while the new one is made: a create whose answer never comes is then
    # matched by the reaper (as on a first create) to this row's time of asking.
    if not await _still(session, old_id, old_network).aupdate(
        upstream_id="", network=target, rtc={}
    ):
        raise await _lost(session)
    session.upstream_id, session.network, session.rtc = "", target, {}
    await lifecycle.record_event(
        session.pk,
        SessionEvent.Kind.STATE,
        f"falling back from {old_network} to {target}: upstream session {old_id} closed",
        upstream_id=old_id,
        network=old_network,
    )
    # The rest of its time: the session keeps its end (and its reserved minutes).
    upstream = await lifecycle.create_upstream(
        session,
        provider,
        session.preset,
        duration=_seconds_left(session),
        voice_url=await _voice_url(session),
    )
    try:
        return await _record(session, upstream, old_id, old_network)
    except errors.DomainError:
        raise
    except Exception as exc:
        await _undo(session, provider, upstream.id)
        raise errors.Unavailable(
            "internal_error", _("The session could not move to another network.")
        ) from exc


def _still(session: AvatarSession, upstream_id: str, network: str) -> Any:
    """The session's row, if it is live and still on this upstream session and network."""
    return AvatarSession.objects.filter(
        pk=session.pk, status=Status.ACTIVE, upstream_id=upstream_id, network=network
    )


async def _record(
    session: AvatarSession, upstream: Any, old_id: str, old_network: str
) -> AvatarSession:
    """Save the new upstream session on the row this fallback claimed (else close it)."""
    provider = get_provider(session.provider)
    rtc = {**rtc_dict(upstream.rtc), networks.FELL_BACK_FROM: old_network}
    if not await _still(session, "", session.network).aupdate(upstream_id=upstream.id, rtc=rtc):
        await _close_orphan(session, provider, upstream.id)
        raise await _lost(session)
    await lifecycle.record_event(
        session.pk,
        SessionEvent.Kind.STATE,
        f"fell back from {_name(old_network)} to {_name(session.network)}",
        old_upstream_id=old_id,
        upstream_id=upstream.id,
        old_network=old_network,
        network=session.network,
    )
    log.info(
        "session %s moved from %s (%s) to %s (%s)",
        *(session.pk, old_network, old_id, session.network, upstream.id),
    )
    return await AvatarSession.objects.aget(pk=session.pk)


async def _undo(session: AvatarSession, provider: Any, upstream_id: str) -> None:
    """Our side failed after the new upstream session opened (it bills): close it and fail
    the row, its id kept on the row if the close failed, so the reaper closes it."""
    log.exception("session %s: recording its move failed; closing upstream", session.pk)
    try:
        await lifecycle.close_upstream(provider, upstream_id)
    except Exception:
        log.error("session %s: could not close upstream %s", session.pk, upstream_id)
        session.upstream_id = upstream_id
    # Ours to fail unless another fallback took it (it holds neither "" nor this id then).
    ours = AvatarSession.objects.filter(
        pk=session.pk, status=Status.ACTIVE, network=session.network
    ).filter(upstream_id__in=("", upstream_id))
    try:
        if await ours.aexists():
            await lifecycle.fail(session, "internal error while moving to another network")
    except Exception:
        log.exception("recording the failure of session %s failed too", session.pk)


async def _close_orphan(session: AvatarSession, provider: Any, upstream_id: str) -> None:
    """Ended (its user, its time, staff) while the new one was made, or taken by another
    fallback: close that too. The id goes on an ended row first, so the reaper's
    reconciliation closes it if we cannot (never on a live row: that is another's)."""
    await (
        AvatarSession.objects.filter(pk=session.pk, upstream_id="")
        .exclude(status=Status.ACTIVE)
        .aupdate(upstream_id=upstream_id)
    )
    try:
        await lifecycle.close_upstream(provider, upstream_id)
    except ProviderError as exc:
        log.warning("session %s: closing upstream %s failed: %s", session.pk, upstream_id, exc)


async def _voice_url(session: AvatarSession) -> str:
    """A cloned voice (sent by URL) leaves no voice id in the row: the preset's again."""
    if session.voice_id or not session.preset:
        return ""
    return (await catalog.start_voice(session.preset))[1]


async def _lost(session: AvatarSession) -> errors.DomainError:
    """Why a fallback lost its row: the session ended meanwhile, or another fallback (one
    that outlived its lock) moved it first."""
    if await AvatarSession.objects.filter(pk=session.pk, status=Status.ACTIVE).aexists():
        return _moving()
    return errors.Conflict(
        "session_not_live", _("This session ended while it was moving to another network.")
    )


def _name(network: str) -> str:
    return NETWORKS.get(network, network or "an unrecorded network")
