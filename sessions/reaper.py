"""The reaper: nothing we opened upstream stays open.

One pass closes every session past its time, retries closes that failed, settles
sessions stuck starting, closes sessions nobody is connected to (their process died),
and reconciles with the upstream's own list of live sessions. Each served process runs
it periodically (and once shortly after start-up); `manage.py reap_sessions` runs one
pass from cron.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from . import lifecycle, presence, reconcile, shared_cache
from .errors import ApiError
from .models import AvatarSession, CloseReason, SessionEvent, Status

log = logging.getLogger("avatarsite.reaper")

# A create takes seconds; one still "starting" after this never finished.
STUCK_STARTING = timedelta(minutes=2)


@dataclass
class ReapResult:
    expired: int = 0
    abandoned: int = 0
    retried: int = 0
    stuck: int = 0
    reconciled: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"expired {self.expired}, abandoned {self.abandoned}, close retried "
            f"{self.retried}, stuck {self.stuck}, upstream-only closed {self.reconciled}, "
            f"errors {len(self.errors)}"
        )


async def _close(session_id, reason: str, result: ReapResult) -> bool:
    try:
        await lifecycle.close_session(session_id, reason)
        return True
    except ApiError as exc:
        result.errors.append(f"{session_id}: {exc.message}")
        return False


async def reap(*, abandon_after: float | None = None) -> ReapResult:
    """One pass. `abandon_after`: seconds a session may go without any socket heartbeat
    before it counts as abandoned (default: the disconnect grace)."""
    result = ReapResult()
    now = timezone.now()
    grace = timedelta(
        seconds=settings.SESSION_DISCONNECT_GRACE if abandon_after is None else abandon_after
    )

    async for session in AvatarSession.objects.filter(status=Status.ACTIVE):
        if session.expires_at and session.expires_at <= now:
            result.expired += await _close(session.pk, CloseReason.EXPIRED, result)
        elif (
            session.started_at
            and session.started_at <= now - grace
            and not await presence.is_alive(session.pk)
        ):
            await lifecycle.record_event(
                session.pk, SessionEvent.Kind.STATE, "no socket and no heartbeat: reaped"
            )
            result.abandoned += await _close(session.pk, CloseReason.ABANDONED, result)

    async for session in AvatarSession.objects.filter(status=Status.CLOSING):
        result.retried += await _close(session.pk, session.close_reason or "reaper", result)

    async for session in AvatarSession.objects.filter(
        status=Status.STARTING, created_at__lte=now - STUCK_STARTING
    ):
        result.stuck += 1
        if session.upstream_id:
            await _close(session.pk, CloseReason.ABANDONED, result)
        else:
            # Never got an upstream session; whatever the create did is for the
            # reconciliation below to find.
            await AvatarSession.objects.filter(pk=session.pk, status=Status.STARTING).aupdate(
                status=Status.FAILED,
                close_reason=CloseReason.ABANDONED,
                closed_at=now,
                error="never finished starting",
            )

    await reconcile.reconcile(result, now)
    if result.expired or result.abandoned or result.retried or result.stuck or result.reconciled:
        log.info("reaper: %s", result)
    for error in result.errors:
        log.warning("reaper: %s", error)
    return result


# --- the in-process loop --------------------------------------------------------
_task: asyncio.Task | None = None
LOCK_KEY = "reaper:lock"


async def _loop(interval: float) -> None:
    # The first pass waits one disconnect grace: after a restart, pages reconnect
    # within it and keep their sessions; what is still unclaimed then was abandoned.
    await asyncio.sleep(settings.SESSION_DISCONNECT_GRACE)
    while True:
        # With several processes, one pass per interval is enough: take a lock.
        if await shared_cache.add(LOCK_KEY, 1, timeout=max(1, int(interval * 0.9))):
            try:
                await reap()
            except Exception:
                log.exception("reaper pass failed")
        await asyncio.sleep(interval)


def ensure_started() -> None:
    """Start this process's reaper once, on the running loop (daphne has no start-up
    hook, so the ASGI application calls this on its first connection)."""
    global _task
    interval = settings.REAPER_INTERVAL
    if interval <= 0 or (_task is not None and not _task.done()):
        return
    loop = asyncio.get_running_loop()
    _task = contextvars.Context().run(loop.create_task, _loop(interval))
