"""The reaper: nothing we opened upstream stays open.

One pass closes every session past its time, retries closes that failed, settles
sessions stuck starting, closes sessions nobody is connected to (their process died),
and reconciles with the upstream's own list of live sessions. Each served process runs
it from its background loop (`manage.py serve` starts the loop); `manage.py
reap_sessions` runs one pass (cron), or `--every N` as a process of its own.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from sessions import errors, keys, shared_cache
from sessions.models import AvatarSession, CloseReason, SessionEvent, Status
from sessions.operations import metrics
from sessions.services import lifecycle, presence, reconcile, retention, webhooks

log = logging.getLogger("avatarsite.reaper")

# A create takes seconds; one still "starting" after this never finished.
STUCK_STARTING = timedelta(minutes=2)


@dataclass
class ReapResult:
    expired: int = 0
    abandoned: int = 0
    crashed: int = 0
    retried: int = 0
    stuck: int = 0
    reconciled: int = 0
    transcripts_deleted: int = 0  # retention (TRANSCRIPT_RETENTION_DAYS)
    errors: list[str] = field(default_factory=list)

    @property
    def acted(self) -> bool:
        return any(
            (
                self.expired,
                self.abandoned,
                self.crashed,
                self.retried,
                self.stuck,
                self.reconciled,
                self.transcripts_deleted,
            )
        )

    def __str__(self) -> str:
        return (
            f"expired {self.expired}, abandoned {self.abandoned}, crashed {self.crashed}, "
            f"close retried "
            f"{self.retried}, stuck {self.stuck}, upstream-only closed {self.reconciled}, "
            f"transcripts deleted {self.transcripts_deleted}, errors {len(self.errors)}"
        )


async def _close(session_id, reason: str, why: str, result: ReapResult) -> bool:
    """Close one session, saying why in the log and in the session's event log."""
    log.info("reaper: closing session %s (%s): %s", session_id, reason, why)
    try:
        await lifecycle.record_event(session_id, SessionEvent.Kind.STATE, f"reaper: {why}")
        await lifecycle.close_session(session_id, reason)
        return True
    except errors.DomainError as exc:
        result.errors.append(f"{session_id}: {exc.message}")
        return False
    except Exception as exc:
        # Whatever went wrong with this one, the pass goes on with the others.
        log.exception("reaper: closing session %s failed", session_id)
        result.errors.append(f"{session_id}: {type(exc).__name__}")
        return False


async def _retain(result: ReapResult, now) -> None:
    """Delete the transcripts TRANSCRIPT_RETENTION_DAYS no longer keeps (a bounded share
    each pass: sessions/services/retention.py)."""
    try:
        result.transcripts_deleted = await retention.apurge_expired(now)
    except Exception as exc:
        # Retention waits for the next pass; closing sessions must not wait on it.
        log.exception("reaper: retention failed")
        result.errors.append(f"retention: {type(exc).__name__}")


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
            # The socket's own timer ends a session on time; this one had no socket.
            why = "its time was up and no socket of ours ended it"
            result.expired += await _close(session.pk, CloseReason.EXPIRED, why, result)
        elif (
            session.started_at
            and session.started_at <= now - grace
            and not await presence.is_alive(session.pk)
        ):
            if session.served_by and not await presence.process_alive(session.served_by):
                why = f"the process that served it ({session.served_by[:8]}) stopped"
                result.crashed += await _close(session.pk, CloseReason.CRASHED, why, result)
            else:
                why = f"no page connected for {grace.total_seconds():g} s"
                result.abandoned += await _close(session.pk, CloseReason.ABANDONED, why, result)

    async for session in AvatarSession.objects.filter(status=Status.CLOSING):
        why = "its close was not confirmed upstream yet: retried"
        reason = session.close_reason or CloseReason.ERROR
        result.retried += await _close(session.pk, reason, why, result)

    async for session in AvatarSession.objects.filter(
        status=Status.STARTING, created_at__lte=now - STUCK_STARTING
    ):
        result.stuck += 1
        if session.upstream_id:
            why = "it never finished starting"
            await _close(session.pk, CloseReason.ERROR, why, result)
        else:
            # Never got an upstream session; whatever the create did is for the
            # reconciliation below to find.
            await AvatarSession.objects.filter(pk=session.pk, status=Status.STARTING).aupdate(
                status=Status.FAILED,
                close_reason=CloseReason.ERROR,
                closed_at=now,
                error="never finished starting",
                # Whatever the create made upstream was made after this: the
                # reconciliation matches it to this row and closes it.
                create_unanswered_at=session.created_at,
            )

    await reconcile.reconcile(result, now)
    await _retain(result, now)
    await _passed(result)
    if result.acted:
        log.info("reaper: %s", result)
    for error in result.errors:
        log.warning("reaper: %s", error)
    return result


async def _passed(result: ReapResult) -> None:
    """A pass ran: when, for every process's /readyz (sessions/operations/health.py), and
    what it did, for the metrics."""
    metrics.reaped({k: v for k, v in vars(result).items() if isinstance(v, int)})
    await shared_cache.set(keys.REAPER_LAST_RUN, time.time(), timeout=None)


# --- the in-process loop --------------------------------------------------------
_task: asyncio.Task | None = None


async def _loop() -> None:
    """This process's background work: its presence beat every heartbeat interval (so
    the reaper can tell its sessions from those of a process that died) and, unless
    REAPER_INTERVAL is 0, a reaper pass every interval. A pass runs as a task of its
    own: a slow one (the upstream slow to answer) must not hold the beat back, or other
    processes would take this one for dead."""
    interval = settings.REAPER_INTERVAL
    # The first pass waits one disconnect grace: after a restart, pages reconnect
    # within it and keep their sessions; what is still unclaimed then was abandoned.
    next_pass = time.monotonic() + settings.SESSION_DISCONNECT_GRACE
    passing: asyncio.Task | None = None
    webhook_pass = _WebhookPass()
    while True:
        try:
            await presence.beat_process()
        except Exception:
            log.exception("presence beat failed; trying again")
        due = interval > 0 and time.monotonic() >= next_pass
        if due and (passing is None or passing.done()):
            next_pass = time.monotonic() + interval
            passing = asyncio.get_running_loop().create_task(_pass(interval))
        pause = settings.HEARTBEAT_INTERVAL
        if interval > 0:
            pause = min(pause, max(0.0, next_pass - time.monotonic()))
        pause = min(pause, webhook_pass.run_if_due())
        await asyncio.sleep(pause)


async def _pass(interval: float) -> None:
    try:
        # With several processes, one pass per interval is enough: take a lock.
        if await shared_cache.add(keys.REAPER_LOCK, 1, timeout=max(1, int(interval * 0.9))):
            await reap()
    except Exception:
        log.exception("reaper pass failed")


def ensure_started() -> None:
    """Start this process's background loop once, on the running loop: `manage.py serve`
    calls it as soon as it listens; under any other ASGI server the application calls it
    on its first connection."""
    global _task
    if _task is not None and not _task.done():
        return
    loop = asyncio.get_running_loop()
    _task = contextvars.Context().run(loop.create_task, _loop())


class _WebhookPass:
    """Webhook deliveries, sent by the same loop on a shorter clock of their own
    (WEBHOOK_POLL_SECONDS, 0: never) so that they wait seconds, not a reaper interval;
    one process per poll (sessions.services.webhooks.locked_pass takes the lock)."""

    def __init__(self) -> None:
        self.due = time.monotonic()
        self.task: asyncio.Task | None = None

    def run_if_due(self) -> float:
        """Start a pass when one is due and none runs; the seconds until the next."""
        poll = settings.WEBHOOK_POLL_SECONDS
        if poll <= 0:
            return float("inf")
        now = time.monotonic()
        if now >= self.due:
            self.due = now + poll  # a pass still running (a slow receiver) skips this one
            if self.task is None or self.task.done():
                self.task = asyncio.get_running_loop().create_task(webhooks.locked_pass(poll))
        return self.due - now
