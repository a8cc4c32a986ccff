"""Opening and closing sessions: the only place that changes a session's state.

Every upstream session we open is closed again: on the user's end, on expiry, on an
admin's action, and, when the close itself fails, by retries (and the reaper).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from sessions import errors, keys, networks
from sessions.access import Principal, Quota
from sessions.models import (
    AvatarPreset,
    AvatarSession,
    CloseReason,
    EventKind,
    SessionEvent,
    Status,
)
from sessions.operations import metrics
from sessions.providers import get_provider
from sessions.providers.base import (
    ProviderError,
    SessionRequest,
    UpstreamProtocolError,
    UpstreamRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
    rtc_dict,
)
from sessions.services import knowledge, limits, presence, spend, webhooks
from sessions.services.background import in_background  # noqa: F401 (lifecycle.in_background)
from sessions.services.transcript import finish_avatar_lines, settled
from sessions.services.upstream_errors import upstream_failed, upstream_kind
from sessions.voice_params import usable_voice_params

log = logging.getLogger("avatarsite.lifecycle")
STARTED_FIELDS = ("upstream_id", "rtc", "status", "started_at", "expires_at")


async def record_event(session_id: Any, kind: str, message: str, **data: Any) -> None:
    await SessionEvent.objects.acreate(
        session_id=session_id, kind=kind, message=message[:500], data=data
    )


async def broadcast_state(session: AvatarSession) -> None:
    """Tell every socket of the session (any process) about its new state. Times travel
    as the JSON encoder writes them (channel layers carry no datetimes), so this frame
    and the one a socket builds from the row read the same."""
    expires_at = DjangoJSONEncoder().default(session.expires_at) if session.expires_at else None
    await get_channel_layer().group_send(
        keys.session_group(session.id),
        {
            "type": keys.SESSION_STATE,
            "status": session.status,
            "expires_at": expires_at,
            "close_reason": session.close_reason or None,
            "error": session.error or None,
        },
    )


async def count_traffic(session_id: Any, *, chats: int, frames: int, size: int) -> None:
    """A socket's counters, written once when it closes rather than per message."""
    await AvatarSession.objects.filter(pk=session_id).aupdate(
        chat_count=F("chat_count") + chats,
        frames_sent=F("frames_sent") + frames,
        bytes_sent=F("bytes_sent") + size,
    )


async def open_session(
    principal: Principal,
    *,
    preset: AvatarPreset,
    voice_id: str,
    language: str,
    mode: int,
    duration: int,
    use_llm: bool = False,
    voice_url: str = "",  # a cloned voice, sent instead of voice_id
    continues: AvatarSession | None = None,  # Extend: the background it had, its link
) -> AvatarSession:
    """Reserve limits, create the upstream session and record it. Raises DomainError."""
    provider = get_provider()
    session = AvatarSession(
        **principal.ownership(),
        preset=preset,
        preset_slug=preset.slug,
        provider=provider.name,
        avatar_id=preset.avatar_id,
        # A follow-on stays on the network its session ended up on (after a fallback too).
        network=(continues and continues.network) or networks.network_for(preset),
        voice_id=voice_id,
        language=language,
        mode=mode,
        background_url=continues.background_url if continues else preset.background_url,
        use_llm=use_llm,
        duration=duration,
        continues=continues,
    )
    await _reserve(session, principal.quotas)
    await session.asave(force_insert=True)
    await record_event(
        session.id, EventKind.STATE, "starting", state=Status.STARTING, provider=provider.name
    )
    upstream = await create_upstream(session, provider, preset, voice_url=voice_url)
    now = timezone.now()
    session.upstream_id, session.rtc = upstream.id, rtc_dict(upstream.rtc)
    session.status, session.started_at = Status.ACTIVE, now
    session.expires_at = now + timedelta(seconds=duration)
    try:
        # Only a row still starting: one closed meanwhile (its embed key turned off, a
        # close) must not come back to life, holding no slots.
        started = await AvatarSession.objects.filter(pk=session.pk, status=Status.STARTING).aupdate(
            **{name: getattr(session, name) for name in STARTED_FIELDS}
        )
        if started:
            await record_event(
                session.id, EventKind.STATE, "active", state=Status.ACTIVE, upstream_id=upstream.id
            )
            await webhooks.session_started(session, principal)  # queued, sent by the webhook pass
    except Exception as exc:
        await _undo_upstream(session, provider, upstream.id)
        raise errors.Unavailable("internal_error", _("The session could not be started.")) from exc
    if not started:
        await AvatarSession.objects.filter(pk=session.pk).aupdate(upstream_id=upstream.id)
        await close_upstream(provider, upstream.id)
        raise errors.Conflict("session_closed", _("The session was ended while it was starting."))
    log.info("session %s active (upstream %s, %s s)", session.id, upstream.id, duration)
    return session


async def _reserve(session: AvatarSession, quotas: tuple[Quota, ...]) -> None:
    """Take the session's concurrency slots, its minutes (spend caps, quotas' daily
    minutes: kept on the instance, a failed create gives them back) and its hourly quotas,
    in that order, so a refused attempt burns no hourly quota."""
    session.slots = await limits.acquire_session_slots(quotas, str(session.id), session.duration)
    try:
        session.spent = await spend.reserve(session.duration)
        session.day_minutes = await limits.take_daily_minutes(quotas, session.duration)
        await limits.check_session_creation(quotas)
    except errors.DomainError:
        await limits.release_slots(session.slots, str(session.id))
        await _give_back_minutes(session)
        raise


async def _give_back_minutes(session: AvatarSession) -> None:  # a failed create's
    await spend.give_back(getattr(session, "spent", None))
    await limits.give_back_minutes(getattr(session, "day_minutes", []), session.duration)
    session.day_minutes = []


async def create_upstream(
    session: AvatarSession,
    provider: Any,
    preset: AvatarPreset | None,
    duration: int = 0,
    voice_url: str = "",
) -> Any:
    """Ask the upstream for the session (on its `network`, for `duration` seconds, else
    the session's; a cloned voice by `voice_url`); on failure the row records why (and
    whether the upstream may have made a session anyway)."""
    request = SessionRequest(
        avatar_id=session.avatar_id,
        duration=duration or session.duration,
        stream_type=session.network or networks.network_for(preset),
        voice_id=session.voice_id,
        language=session.language,
        mode=session.mode,
        background_url=session.background_url,
        knowledge_id=await knowledge.upstream_id(preset) if preset else "",
        voice_url=voice_url,
        # As a set-params would send them: never a preset's that the schema refuses.
        voice_params=(
            usable_voice_params(preset.voice_params, preset_id=preset.pk) if preset else {}
        ),
    )
    sent_at = timezone.now()
    try:
        return await provider.create_session(request)
    except ProviderError as exc:
        # Only a refusal proves that nothing was made: after a timeout, a dropped connection
        # or a garbled answer the upstream may run (and bill) a session we never heard of;
        # the reaper matches it to this row by its creation time and closes it.
        unanswered = (
            sent_at
            if isinstance(exc, UpstreamTimeout | UpstreamUnavailable | UpstreamProtocolError)
            else None
        )
        await fail(session, exc.message, create_unanswered_at=unanswered)
        raise upstream_failed(exc) from exc


async def _undo_upstream(session: AvatarSession, provider: Any, upstream_id: str) -> None:
    """Our side failed after the upstream opened a session: close it, or it bills on."""
    log.exception("recording session %s failed; closing upstream %s", session.id, upstream_id)
    try:
        await provider.close_session(upstream_id)
    except ProviderError:
        log.error("could not close upstream %s after a local failure", upstream_id)
    try:
        await fail(session, "internal error while starting the session")
    except Exception:
        log.exception("recording the failure of session %s failed too", session.id)


async def resume(session_id: Any, *, owner: bool) -> AvatarSession:
    """A socket (re)connects: the session as it stands now, claimed for this process
    when it is the owner's (an observer claims nothing)."""
    # With the knowledge base: its instructions join an own-LLM session's system prompt.
    session = await AvatarSession.objects.select_related("preset__knowledge").aget(pk=session_id)
    if not owner or session.status != Status.ACTIVE:
        return session
    session = await claim_for_this_process(session)
    if session.expires_at and session.expires_at <= timezone.now():
        # Overdue (the process that held it died at the wrong moment): end it now rather
        # than tell the page it goes on.
        session = await close_quietly(session.pk, CloseReason.EXPIRED)
    return session


async def claim_for_this_process(session: AvatarSession) -> AvatarSession:
    """The owner's socket of an active session connected to this process: record that
    this process serves it now (presence tells crashes from departures by it).

    If the process that served it before has died, the session goes on only if the
    upstream still holds it; with the embedded defaults the sandbox's state died with
    that process, so the session is closed as `crashed` and the page is told so.
    """
    previous = session.served_by
    if previous == presence.BOOT_ID:
        return session
    if previous and session.upstream_id and not await presence.process_alive(previous):
        try:
            upstream = await get_provider(session.provider).session_detail(session.upstream_id)
        except Exception as exc:
            # Cannot tell now (the upstream failed, or answered nonsense): carry on; the
            # reaper settles it if the session is gone.
            log.warning("session %s: upstream check after a crash failed: %r", session.id, exc)
        else:
            if not upstream.is_live:
                await record_event(
                    session.id,
                    SessionEvent.Kind.STATE,
                    "the process that served it stopped, and the upstream session ended with it",
                    served_by=previous,
                )
                try:
                    return await close_session(session.id, CloseReason.CRASHED)
                except errors.DomainError:
                    return await AvatarSession.objects.aget(pk=session.id)
    await AvatarSession.objects.filter(pk=session.id).aupdate(served_by=presence.BOOT_ID)
    session.served_by = presence.BOOT_ID
    return session


async def fail(
    session: AvatarSession, error: str, *, create_unanswered_at: datetime | None = None
) -> None:
    # Slots first: if the database is what failed, the slots must still come free.
    await limits.release_slots(session.slots, str(session.id))
    if create_unanswered_at is None:
        await _give_back_minutes(session)
    # else the minutes stay counted: the upstream may have made (and billed) the session
    # (spend._recorded counts such rows too, so a recount keeps them).
    session.status = Status.FAILED
    # The join credentials are the owner's for a live session only: none outlives it.
    session.rtc = {}
    if create_unanswered_at is not None:
        session.create_unanswered_at = create_unanswered_at
    session.error = error[:2000]
    session.close_reason = CloseReason.ERROR
    session.closed_at = timezone.now()
    await session.asave()
    await record_event(session.id, SessionEvent.Kind.ERROR, f"failed: {error}")
    await webhooks.session_closed(session)  # queued, sent by the webhook pass
    await broadcast_state(session)


async def close_session(session_id: Any, reason: str) -> AvatarSession:
    """Close a session upstream and record why. Idempotent; raises UpstreamFailed if the
    upstream refuses (the session stays `closing` and is retried later)."""
    # Claimed atomically: two closers (button, expiry) never both record it.
    claimed = await AvatarSession.objects.filter(
        pk=session_id, status__in=(Status.STARTING, Status.ACTIVE)
    ).aupdate(status=Status.CLOSING, close_reason=reason)
    session = await AvatarSession.objects.aget(pk=session_id)
    if session.status in (Status.CLOSED, Status.FAILED):
        return session
    if claimed:
        await record_event(
            session.id, EventKind.STATE, "closing", state=Status.CLOSING, reason=reason
        )
        await broadcast_state(session)

    if session.upstream_id:
        provider = get_provider(session.provider)
        try:
            await close_upstream(provider, session.upstream_id)
        except ProviderError as exc:
            await AvatarSession.objects.filter(pk=session.pk).aupdate(
                close_attempts=session.close_attempts + 1, error=exc.message[:2000]
            )
            await record_event(session.id, SessionEvent.Kind.ERROR, f"close failed: {exc.message}")
            raise errors.UpstreamFailed(
                exc.code,
                _("The avatar service did not confirm the close (%(reason)s); it will be retried.")
                % {"reason": exc.message},
                kind=upstream_kind(exc),
            ) from exc

    session.status, session.rtc = Status.CLOSED, {}
    session.closed_at = timezone.now()
    session.close_reason = session.close_reason or reason
    # A failure of an earlier attempt is no longer the session's state once it closed.
    finished = await AvatarSession.objects.filter(pk=session.pk, status=Status.CLOSING).aupdate(
        status=Status.CLOSED,
        closed_at=session.closed_at,
        close_reason=session.close_reason,
        error="",
        # The join credentials are the owner's for a live session only: none outlives it.
        rtc={},
    )
    if not finished:  # a concurrent closer got there first and recorded it
        return await AvatarSession.objects.aget(pk=session.pk)
    # What this process has of the transcript is in before its end is told (webhooks):
    # written here, not before the close began, for the lines typed while it went on.
    await settled()
    # Whatever the avatar was saying when the session ended was cut short.
    await finish_avatar_lines(session.pk, cut=True)
    await limits.release_slots(session.slots, str(session.id))
    await record_event(
        session.id, EventKind.STATE, "closed", state=Status.CLOSED, reason=session.close_reason
    )
    await webhooks.session_closed(session)  # queued, sent by the webhook pass
    await broadcast_state(session)
    log.info("session %s closed (%s)", session.id, session.close_reason)
    metrics.session_closed(session.close_reason)
    return session


async def close_quietly(session_id: Any, reason: str) -> AvatarSession:
    """Close, and if that fails (the upstream or our database), log it and leave it to
    the reaper's retries. Returns the session as it now stands."""
    try:
        return await close_session(session_id, reason)
    except Exception:
        log.exception("session %s: closing (%s) failed; the reaper retries", session_id, reason)
        return await AvatarSession.objects.aget(pk=session_id)


async def close_upstream(provider: Any, upstream_id: str) -> None:
    """Close upstream; a refusal for a session the upstream already ended counts as done
    (AKool documents no code for "already closed", so ask it for the session's state)."""
    try:
        await provider.close_session(upstream_id)
    except UpstreamRefused:
        detail = await provider.session_detail(upstream_id)
        if detail.is_live:
            raise


async def close_if_abandoned(
    session_id: Any,
    marker: str | None,
    *,
    grace: float | None = None,
    reason: str = CloseReason.ABANDONED,
) -> None:
    """Close the session after `grace` seconds unless a socket of it connected meanwhile
    (each connect sets a new presence marker): after the last socket drops, or a page's
    pagehide beacon. A page that said goodbye is `page_closed` and gets the leave grace
    even when its socket closed after its beacon's own grace ran out (a slow network);
    one that just went is `abandoned`, after the disconnect grace."""
    if grace is None:
        said_goodbye = await presence.left_by_beacon(session_id, marker)
        grace = settings.SESSION_LEAVE_GRACE if said_goodbye else settings.SESSION_DISCONNECT_GRACE
    await asyncio.sleep(grace)
    if await presence.marker(session_id) != marker or await presence.owner_sockets(session_id):
        return  # someone came back: a reload, a flaky network, another tab
    if reason == CloseReason.ABANDONED and await presence.left_by_beacon(session_id, marker):
        reason = CloseReason.PAGE_CLOSED
    try:
        await close_session(session_id, reason)
    except errors.DomainError:
        log.warning("closing abandoned session %s failed; the reaper retries", session_id)
