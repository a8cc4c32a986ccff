"""Embed keys for staff: turning one off (the one home of what that does) and its usage.

Turning a key off stops its tokens at once (`embed_tokens.read` and `access.still_valid`
check `active`), and here its live sessions end with the reason `revoked`: each close
tells the session's sockets (lifecycle.close_session broadcasts the state), so the
website's visitors see why it ended instead of a frozen avatar.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time
from datetime import timezone as dt_timezone

from asgiref.sync import async_to_sync
from django.db.models import Count, Q, Sum

from sessions.embed_models import EmbedKey
from sessions.models import LIVE_STATUSES, AvatarSession, CloseReason
from sessions.services import lifecycle, spend

log = logging.getLogger("avatarsite.embed")


@dataclass(frozen=True)
class Revoked:
    closed: int  # live sessions ended now
    failed: int  # left to the reaper (the upstream did not confirm the close)


def revoke(key: EmbedKey) -> Revoked:
    """Turn `key` off and end every live session it started (reason `revoked`)."""
    if key.active:
        key.active = False
        key.save(update_fields=["active"])
    closed = failed = 0
    live = AvatarSession.objects.filter(embed_key=key, status__in=LIVE_STATUSES)
    for session_id in live.values_list("pk", flat=True):
        try:
            async_to_sync(lifecycle.close_session)(session_id, CloseReason.REVOKED)
            closed += 1
        except Exception:
            # One failure stops no other close; the session stays `closing` (or live
            # with a token that no longer works) and the reaper ends it.
            log.exception("embed key %s off: session %s not closed yet", key.pk, session_id)
            failed += 1
    return Revoked(closed, failed)


@dataclass(frozen=True)
class Usage:
    """A key's figures: sessions created and minutes reserved (what AKool charges, and
    what the key's minutes per day count) today and this month (UTC), sessions live now."""

    sessions_today: int
    minutes_today: int
    sessions_month: int
    minutes_month: int
    live: int
    minutes_per_day: int  # the key's cap; 0: none

    @property
    def percent_today(self) -> float | None:
        """Today's reserved minutes as a share of the key's daily cap (None without one)."""
        if not self.minutes_per_day:
            return None
        return 100 * self.minutes_today / self.minutes_per_day


def usage(key: EmbedKey) -> Usage:
    """`key`'s usage in one query."""
    # The same UTC day and month as the spend caps and the key's minutes per day.
    day, month = (
        datetime.combine(period.start, time.min, tzinfo=dt_timezone.utc)
        for period in spend.periods()
    )
    today, this_month = Q(created_at__gte=day), Q(created_at__gte=month)
    live = Q(status__in=LIVE_STATUSES)
    figures = AvatarSession.objects.filter(Q(embed_key=key) & (this_month | live)).aggregate(
        sessions_today=Count("pk", filter=today),
        seconds_today=Sum("duration", filter=today),
        sessions_month=Count("pk", filter=this_month),
        seconds_month=Sum("duration", filter=this_month),
        live=Count("pk", filter=live),
    )
    return Usage(
        sessions_today=figures["sessions_today"],
        minutes_today=(figures["seconds_today"] or 0) // 60,
        sessions_month=figures["sessions_month"],
        minutes_month=(figures["seconds_month"] or 0) // 60,
        live=figures["live"],
        minutes_per_day=key.key_minutes_per_day,
    )
