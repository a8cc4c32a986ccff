"""What is kept of a conversation, and for how long: the only home of deleting a
session's words.

A transcript (its lines and the pieces they were built from), the arguments and answers
of its tool calls, and the details of its event log (each event's data, and any message
that may quote what the page or the avatar said) are deleted when the session has been
closed for longer than TRANSCRIPT_RETENTION_DAYS (the reaper's pass), when its owner
deletes it from History, or when the owner's account is deleted. The session row stays, with
`transcript_deleted_at` set, for the usage figures. A live session is never touched.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from sessions.models import (
    LIVE_STATUSES,
    AvatarSession,
    SessionEvent,
    Status,
    TranscriptEntry,
    TranscriptPiece,
)
from sessions.tool_models import ToolCall

log = logging.getLogger("avatarsite.retention")

# Sessions handled per batch, and rows per delete statement: each statement is its own
# short transaction, so a pass never holds the database (or SQLite's one writer) long
# whatever a transcript's size.
SESSIONS_PER_BATCH = 50
ROWS_PER_STATEMENT = 1000
# Batches one reaper pass handles at most; what is left waits for the next pass.
BATCHES_PER_PASS = 20

# State events are our own words (closing, closed, the reaper's reasons); every other
# event's message may quote the page, the avatar or the upstream.
DETAILS_DELETED = "details deleted with the transcript"


class SessionLive(Exception):
    """The session is still live: its transcript is still being written."""


def _delete_rows(model: Any, session_ids: list[Any]) -> int:
    deleted = 0
    while True:
        pks = list(
            model.objects.filter(session_id__in=session_ids).values_list("pk", flat=True)[
                :ROWS_PER_STATEMENT
            ]
        )
        if not pks:
            return deleted
        deleted += model.objects.filter(pk__in=pks).delete()[0]


def delete_transcripts(session_ids: Iterable[Any], why: str) -> int:
    """Delete the words of these sessions and mark them; one still starting or active is
    skipped (its sockets still write). Returns how many sessions were marked. Sync."""
    ids = list(
        AvatarSession.objects.filter(pk__in=list(session_ids))
        .exclude(status__in=(Status.STARTING, Status.ACTIVE))
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    _delete_rows(TranscriptEntry, ids)
    _delete_rows(TranscriptPiece, ids)
    # A tool call's arguments and answer may quote the user; which tool, when and how it
    # went stay for the audit.
    calls = ToolCall.objects.filter(session_id__in=ids)
    calls.update(arguments={}, result="")
    calls.exclude(error="").update(error=DETAILS_DELETED)
    events = SessionEvent.objects.filter(session_id__in=ids)
    events.update(data={})
    events.exclude(kind=SessionEvent.Kind.STATE).update(message=DETAILS_DELETED)
    # The session's last error may quote the upstream or the page too.
    marked = AvatarSession.objects.filter(pk__in=ids).update(
        transcript_deleted_at=timezone.now(), error=""
    )
    SessionEvent.objects.bulk_create(
        SessionEvent(
            session_id=pk, kind=SessionEvent.Kind.STATE, message=f"transcript deleted: {why}"
        )
        for pk in ids
    )
    return marked


def delete_own_transcript(session: AvatarSession) -> None:
    """Its owner deletes one session's transcript; refused while the session is live
    (as it stands in the database now, not as the caller last read it)."""
    if AvatarSession.objects.filter(pk=session.pk, status__in=LIVE_STATUSES).exists():
        raise SessionLive
    delete_transcripts([session.pk], "by its owner")


def expired_sessions(now: Any = None) -> Any:
    """Closed sessions whose transcript is older than TRANSCRIPT_RETENTION_DAYS allows
    (none when it is 0: kept forever)."""
    days = settings.TRANSCRIPT_RETENTION_DAYS
    if days <= 0:
        return AvatarSession.objects.none()
    cutoff = (now or timezone.now()) - timedelta(days=days)
    # A failed session may never have recorded a close time: its creation counts then.
    ended = Q(closed_at__lt=cutoff) | Q(closed_at__isnull=True, created_at__lt=cutoff)
    return (
        AvatarSession.objects.filter(ended, transcript_deleted_at__isnull=True)
        .exclude(status__in=LIVE_STATUSES)
        .order_by("closed_at", "pk")
    )


def purge_expired(now: Any = None) -> int:
    """One pass's share of retention: at most BATCHES_PER_PASS batches. Sync."""
    done = 0
    for _ in range(BATCHES_PER_PASS):
        batch = list(expired_sessions(now).values_list("pk", flat=True)[:SESSIONS_PER_BATCH])
        if not batch:
            break
        done += delete_transcripts(batch, "retention")
    if done:
        log.info(
            "retention: deleted the transcripts of %d sessions closed over %d days ago",
            done,
            settings.TRANSCRIPT_RETENTION_DAYS,
        )
    return done


apurge_expired = database_sync_to_async(purge_expired)
