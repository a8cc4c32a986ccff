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
from typing import Any

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

# How long one fallback holds its session's lock: a close and a create wait for AKool at
# most their connect and read timeouts; a crash mid-fallback frees the lock after this.
FALLBACK_LOCK_SECONDS = 120


async def fall_back(principal: Principal, session_id: Any, network: str | None) -> AvatarSession:
    """Move the caller's live session to `network` (default: the first it may try).
    Raises DomainError; on an upstream failure the session has failed."""
    owned = AvatarSession.objects.owned_by(principal).select_related("preset")
    if not await owned.filter(pk=session_id).aexists():
        # Others' sessions, staff's included, are answered like missing ones.
        raise errors.NotFound("session_not_found", _("No such session."))
    lock = keys.falling_back(session_id)
    if not await shared_cache.add(lock, 1, FALLBACK_LOCK_SECONDS):
        raise errors.Conflict(
            "fallback_used", _("This session is already moving to another network.")
        )
    try:
        # Read after the lock: a fallback that just finished has marked the session.
        session = await owned.aget(pk=session_id)
        target = _target(session, network)
        return await _move(session, target)
    finally:
        await shared_cache.delete(lock)


def _target(session: AvatarSession, network: str | None) -> str:
    """The network to move to, or the refusal that says why not."""
    if session.status != Status.ACTIVE or _seconds_left(session) < 1:
        raise errors.Conflict(
            "session_not_live",
            _("This session is no longer running, so it cannot move to another network."),
        )
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
    if old_id:
        try:
            await lifecycle.close_upstream(provider, old_id)
        except ProviderError as exc:
            # The first upstream session may still run: its id stays on the failed row, so
            # the reaper's reconciliation closes it.
            await lifecycle.fail(
                session, f"moving to {target}: closing upstream failed: {exc.message}"
            )
            raise upstream_failed(exc) from exc
    await lifecycle.record_event(
        session.pk,
        SessionEvent.Kind.STATE,
        f"falling back from {old_network} to {target}: upstream session {old_id} closed",
        upstream_id=old_id,
        network=old_network,
    )
    # No upstream id while the new one is made: a create whose answer never comes is then
    # matched by the reaper (as on a first create) to this row's time of asking.
    session.upstream_id, session.network, session.rtc = "", target, {}
    if not await AvatarSession.objects.filter(pk=session.pk, status=Status.ACTIVE).aupdate(
        upstream_id="", network=target, rtc={}
    ):
        raise _ended_meanwhile()
    # The rest of its time: the session keeps its end (and its reserved minutes).
    upstream = await lifecycle.create_upstream(
        session,
        provider,
        session.preset,
        duration=_seconds_left(session),
        voice_url=await _voice_url(session),
    )
    rtc = {**rtc_dict(upstream.rtc), networks.FELL_BACK_FROM: old_network}
    if not await AvatarSession.objects.filter(pk=session.pk, status=Status.ACTIVE).aupdate(
        upstream_id=upstream.id, rtc=rtc
    ):
        await _close_orphan(session, provider, upstream.id)
        raise _ended_meanwhile()
    await lifecycle.record_event(
        session.pk,
        SessionEvent.Kind.STATE,
        f"fell back from {_name(old_network)} to {_name(target)}",
        old_upstream_id=old_id,
        upstream_id=upstream.id,
        old_network=old_network,
        network=target,
    )
    log.info(
        "session %s moved from %s (%s) to %s (%s)",
        *(session.pk, old_network, old_id, target, upstream.id),
    )
    return await AvatarSession.objects.aget(pk=session.pk)


async def _close_orphan(session: AvatarSession, provider: Any, upstream_id: str) -> None:
    """Ended (its user, its time, staff) while the new one was made: close that too, its
    id on the row first, so the reaper's reconciliation closes it if we cannot."""
    await AvatarSession.objects.filter(pk=session.pk).aupdate(upstream_id=upstream_id)
    try:
        await lifecycle.close_upstream(provider, upstream_id)
    except ProviderError as exc:
        log.warning("session %s: closing upstream %s failed: %s", session.pk, upstream_id, exc)


async def _voice_url(session: AvatarSession) -> str:
    """A cloned voice (sent by URL) leaves no voice id in the row: the preset's again."""
    if session.voice_id or not session.preset:
        return ""
    return (await catalog.start_voice(session.preset))[1]


def _ended_meanwhile() -> errors.DomainError:
    return errors.Conflict(
        "session_not_live", _("This session ended while it was moving to another network.")
    )


def _name(network: str) -> str:
    return NETWORKS.get(network, network or "an unrecorded network")
