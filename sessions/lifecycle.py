"""Opening and closing sessions: the only place that changes a session's state.

Every upstream session we open is closed again: on the user's end, on expiry, on an
admin's action, and, when the close itself fails, by retries (and the reaper).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from datetime import datetime, timedelta
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from . import limits, presence
from .errors import ApiError
from .models import (
    AvatarPreset,
    AvatarSession,
    CloseReason,
    SessionEvent,
    Status,
    TranscriptEntry,
)
from .principals import Principal
from .providers import get_provider
from .providers.base import (
    ProviderError,
    SessionRequest,
    UpstreamProtocolError,
    UpstreamRefused,
    UpstreamTimeout,
    UpstreamUnavailable,
)

log = logging.getLogger("avatarsite.lifecycle")


def session_group(session_id: Any) -> str:
    return f"session.{session_id}"


async def record_event(session_id: Any, kind: str, message: str, **data: Any) -> None:
    await SessionEvent.objects.acreate(
        session_id=session_id, kind=kind, message=message[:500], data=data
    )


async def broadcast_state(session: AvatarSession) -> None:
    """Tell every socket of the session (any process) about its new state."""
    await get_channel_layer().group_send(
        session_group(session.id),
        {
            "type": "session.state",
            "status": session.status,
            "expires_at": session.expires_at.isoformat() if session.expires_at else None,
            "close_reason": session.close_reason or None,
        },
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
) -> AvatarSession:
    """Reserve limits, create the upstream session and record it. Raises ApiError."""
    provider = get_provider()
    session = AvatarSession(
        owner=principal.user,
        principal=principal.key,
        visitor_key=principal.visitor_key,
        preset=preset,
        preset_slug=preset.slug,
        provider=provider.name,
        avatar_id=preset.avatar_id,
        voice_id=voice_id,
        language=language,
        mode=mode,
        background_url=preset.background_url,
        use_llm=use_llm,
        duration=duration,
    )
    # Concurrency first: a refused attempt must not burn the hourly quota.
    session.slots = await limits.acquire_session_slots(principal.key, str(session.id), duration)
    try:
        await limits.check_session_creation(principal.key)
    except ApiError:
        await limits.release_slots(session.slots, str(session.id))
        raise
    await session.asave(force_insert=True)
    await record_event(session.id, SessionEvent.Kind.STATE, "starting", provider=provider.name)

    request = SessionRequest(
        avatar_id=preset.avatar_id,
        duration=duration,
        voice_id=voice_id,
        language=language,
        mode=mode,
        background_url=preset.background_url,
        knowledge_id=preset.knowledge_id,
        voice_params=preset.voice_params or {},
    )
    sent_at = timezone.now()
    try:
        upstream = await provider.create_session(request)
    except ProviderError as exc:
        # Only a refusal proves that nothing was made: after a timeout, a dropped connection
        # or a garbled answer the upstream may run (and bill) a session we never heard of;
        # the reaper matches it to this row by its creation time and closes it.
        unanswered = (
            sent_at
            if isinstance(exc, UpstreamTimeout | UpstreamUnavailable | UpstreamProtocolError)
            else None
        )
        await _fail(session, exc.message, create_unanswered_at=unanswered)
        # The provider's message is already for a person (AKool's own msg included).
        raise ApiError(exc.status, exc.code, exc.message) from exc

    try:
        now = timezone.now()
        session.upstream_id = upstream.id
        session.rtc = _rtc_dict(upstream.rtc)
        session.status = Status.ACTIVE
        session.started_at = now
        session.expires_at = now + timedelta(seconds=duration)
        await session.asave()
        await record_event(session.id, SessionEvent.Kind.STATE, "active", upstream_id=upstream.id)
    except Exception as exc:
        # Our side failed after the upstream opened a session: close it, or it bills on.
        log.exception("recording session %s failed; closing upstream %s", session.id, upstream.id)
        try:
            await provider.close_session(upstream.id)
        except ProviderError:
            log.error("could not close upstream %s after a local failure", upstream.id)
        try:
            await _fail(session, "internal error while starting the session")
        except Exception:
            log.exception("recording the failure of session %s failed too", session.id)
        raise ApiError(503, "internal_error", "The session could not be started.") from exc
    log.info("session %s active (upstream %s, %s s)", session.id, upstream.id, duration)
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
                except ApiError:
                    return await AvatarSession.objects.aget(pk=session.id)
    await AvatarSession.objects.filter(pk=session.id).aupdate(served_by=presence.BOOT_ID)
    session.served_by = presence.BOOT_ID
    return session


def _rtc_dict(rtc: Any) -> dict[str, Any]:
    if rtc is None:
        return {}
    return {
        "provider": rtc.provider,
        "app_id": rtc.app_id,
        "channel": rtc.channel,
        "token": rtc.token,
        "uid": rtc.uid,
    }


async def _fail(
    session: AvatarSession, error: str, *, create_unanswered_at: datetime | None = None
) -> None:
    # Slots first: if the database is what failed, the slots must still come free.
    await limits.release_slots(session.slots, str(session.id))
    session.status = Status.FAILED
    if create_unanswered_at is not None:
        session.create_unanswered_at = create_unanswered_at
    session.error = error[:2000]
    session.close_reason = CloseReason.ERROR
    session.closed_at = timezone.now()
    await session.asave()
    await record_event(session.id, SessionEvent.Kind.ERROR, f"failed: {error}")
    await broadcast_state(session)


async def close_session(session_id: Any, reason: str) -> AvatarSession:
    """Close a session upstream and record why. Idempotent; raises ApiError if the
    upstream refuses (the session stays `closing` and is retried later)."""
    # Claim the close atomically, so two closers (button and expiry) don't both
    # record it; a session already `closing` is retried by whoever comes next.
    claimed = await AvatarSession.objects.filter(
        pk=session_id, status__in=(Status.STARTING, Status.ACTIVE)
    ).aupdate(status=Status.CLOSING, close_reason=reason)
    session = await AvatarSession.objects.aget(pk=session_id)
    if session.status in (Status.CLOSED, Status.FAILED):
        return session
    if claimed:
        await record_event(session.id, SessionEvent.Kind.STATE, "closing", reason=reason)
        await broadcast_state(session)

    if session.upstream_id:
        provider = get_provider(session.provider)
        try:
            await _close_upstream(provider, session.upstream_id)
        except ProviderError as exc:
            await AvatarSession.objects.filter(pk=session.pk).aupdate(
                close_attempts=session.close_attempts + 1, error=exc.message[:2000]
            )
            await record_event(session.id, SessionEvent.Kind.ERROR, f"close failed: {exc.message}")
            raise ApiError(
                exc.status,
                exc.code,
                f"The avatar service did not confirm the close ({exc.message}); "
                "it will be retried.",
            ) from exc

    session.status = Status.CLOSED
    session.closed_at = timezone.now()
    session.close_reason = session.close_reason or reason
    # A failure of an earlier attempt is no longer the session's state once it closed.
    finished = await AvatarSession.objects.filter(pk=session.pk, status=Status.CLOSING).aupdate(
        status=Status.CLOSED,
        closed_at=session.closed_at,
        close_reason=session.close_reason,
        error="",
    )
    if not finished:  # a concurrent closer got there first and recorded it
        return await AvatarSession.objects.aget(pk=session.pk)
    # Whatever the avatar was saying when the session ended was cut short.
    await TranscriptEntry.objects.filter(session_id=session.pk, role="avatar", final=False).aupdate(
        final=True, cut=True
    )
    await limits.release_slots(session.slots, str(session.id))
    await record_event(session.id, SessionEvent.Kind.STATE, "closed", reason=session.close_reason)
    await broadcast_state(session)
    log.info("session %s closed (%s)", session.id, session.close_reason)
    return session


async def close_quietly(session_id: Any, reason: str) -> AvatarSession:
    """Close, and if that fails (the upstream or our database), log it and leave it to
    the reaper's retries. Returns the session as it now stands."""
    try:
        return await close_session(session_id, reason)
    except Exception:
        log.exception("session %s: closing (%s) failed; the reaper retries", session_id, reason)
        return await AvatarSession.objects.aget(pk=session_id)


async def _close_upstream(provider: Any, upstream_id: str) -> None:
    """Close upstream; a refusal for a session the upstream already ended counts as done
    (AKool documents no code for "already closed", so ask it for the session's state)."""
    try:
        await provider.close_session(upstream_id)
    except UpstreamRefused:
        detail = await provider.session_detail(upstream_id)
        if detail.is_live:
            raise


# Background tasks must be referenced until done, or the loop may drop them.
_background: set[asyncio.Task] = set()


def in_background(coro: Any) -> asyncio.Task:
    """Run a coroutine after the current request is done.

    The task starts in an empty context: Django runs each request in its own
    thread-sensitive context whose executor is shut down when the request ends, and a
    task that inherited it could no longer reach the database.
    """
    loop = asyncio.get_running_loop()
    task = contextvars.Context().run(loop.create_task, coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


async def close_if_abandoned(
    session_id: Any,
    marker: str | None,
    *,
    grace: float | None = None,
    reason: str = CloseReason.ABANDONED,
) -> None:
    """Close the session after `grace` seconds unless a socket of it connected meanwhile
    (each connect sets a new presence marker). Used when the last socket drops, and
    after a page's pagehide beacon (with the shorter leave grace). Whichever fires first,
    a page that said goodbye is `page_closed`, one that just went is `abandoned`."""
    await asyncio.sleep(settings.SESSION_DISCONNECT_GRACE if grace is None else grace)
    if await presence.marker(session_id) != marker or await presence.owner_sockets(session_id):
        return  # someone came back: a reload, a flaky network, another tab
    if reason == CloseReason.ABANDONED and await presence.left_by_beacon(session_id, marker):
        reason = CloseReason.PAGE_CLOSED
    try:
        await close_session(session_id, reason)
    except ApiError:
        log.warning("closing abandoned session %s failed; the reaper retries", session_id)
