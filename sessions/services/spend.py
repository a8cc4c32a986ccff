"""Spend control: account-wide caps on the minutes sessions reserve, per UTC day and per
UTC month (SPEND_MINUTES_PER_DAY, SPEND_MINUTES_PER_MONTH; 0 turns one off).

AKool charges a session's whole reserved duration when it is created, so that is what
counts, at creation. Each period's total is one cache counter (Redis in production):
a create adds its seconds with one atomic increment and keeps them only if the new total
is within the cap, so two processes creating at once can never both take the last
minutes (the one whose increment went past the cap takes its seconds back). A create
that fails gives its seconds back. A counter the cache does not hold (a first create of
the period, a restarted Redis) starts from the sessions the database recorded.

Alerts at 80 % and 100 % of each cap go to the log, the admin (a SpendAlert row, unique
per period and threshold, so once across processes) and, when ADMINS is set, by email.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.core.cache import cache
from django.core.mail import mail_admins
from django.db.models import QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from sessions import errors, keys, shared_cache
from sessions.models import AvatarSession, SpendAlert, Status

log = logging.getLogger("avatarsite.spend")

ALERT_PERCENTS = (80, 100)
# Counters and alert markers outlive their period a little (a day's is read the next
# morning by nobody; a month's by the usage page until the month ends).
COUNTER_TTL = {"day": 2 * 86400, "month": 33 * 86400}


@dataclass(frozen=True)
class Period:
    name: str  # "day" or "month"
    start: date  # its first day (UTC)
    resets_at: datetime  # when the next one starts (UTC midnight)
    cap: int  # minutes; 0: no cap

    @property
    def key(self) -> str:
        return keys.spend_total(self.name, self.start.isoformat())


@dataclass
class Reservation:
    """What one create counted, to give back if it fails."""

    seconds: int
    periods: list[Period] = field(default_factory=list)


def now() -> datetime:
    """The clock the periods are read from (tests move it to the next day or month)."""
    return timezone.now()


def periods(at: datetime | None = None) -> list[Period]:
    """Today and this month, in UTC, with their caps."""
    day = (at or now()).astimezone(dt_timezone.utc).date()
    month = day.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    return [
        Period("day", day, _midnight(day + timedelta(days=1)), settings.SPEND_MINUTES_PER_DAY),
        Period("month", month, _midnight(next_month), settings.SPEND_MINUTES_PER_MONTH),
    ]


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=dt_timezone.utc)


def _recorded(period: Period) -> QuerySet:
    """The sessions the database shows reserving time in the period: a failed create
    gave its time back, unless its create went unanswered (a timeout, a dropped
    connection), when AKool may have made and billed the session all the same."""
    created = {"created_at__gte": _midnight(period.start), "created_at__lt": period.resets_at}
    return AvatarSession.objects.filter(**created).exclude(
        status=Status.FAILED, create_unanswered_at__isnull=True
    )


async def _recorded_seconds(period: Period) -> int:
    return (await _recorded(period).aaggregate(total=Sum("duration")))["total"] or 0


async def _add(period: Period, seconds: int) -> int:
    """Add to the period's counter atomically; the new total."""
    ttl = COUNTER_TTL[period.name]
    if await shared_cache.get(period.key) is None:
        # add, not set: of processes starting the counter at once, one value stands.
        await shared_cache.add(period.key, await _recorded_seconds(period), timeout=ttl)
    return await shared_cache.counter_add(period.key, seconds, timeout=ttl)


async def reserve(seconds: int) -> Reservation:
    """Count a new session's reserved seconds against each cap; refuse (LimitExceeded,
    `spend_cap`) the create that would pass one, counting nothing."""
    reservation = Reservation(seconds)
    for period in periods():
        if not period.cap:
            continue
        total = await _add(period, seconds)
        if total > period.cap * 60:
            await _add(period, -seconds)
            await give_back(reservation)
            await _alert(period, 100, total - seconds)
            raise _refusal(period, total - seconds, seconds)
        reservation.periods.append(period)
        for percent in ALERT_PERCENTS:
            if total - seconds < period.cap * 60 * percent / 100 <= total:
                await _alert(period, percent, total)
    return reservation


async def give_back(reservation: Reservation | None) -> None:
    """A create that failed after reserving: its seconds are not spent."""
    if reservation is None:
        return
    for period in reservation.periods:
        await _add(period, -reservation.seconds)
    reservation.periods = []


def _wait_words(seconds: float) -> str:
    """How long until a reset, roughly, in words: "3 days", "5 hours", "12 minutes"."""
    minutes = max(1, math.ceil(seconds / 60))
    if minutes > 2880:
        count = math.ceil(minutes / 1440)
        return ngettext("%(count)d day", "%(count)d days", count) % {"count": count}
    if minutes > 120:
        count = math.ceil(minutes / 60)
        return ngettext("%(count)d hour", "%(count)d hours", count) % {"count": count}
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


def _refusal(period: Period, reserved: int, seconds: int) -> errors.LimitExceeded:
    left = max(0, period.cap - math.ceil(reserved / 60))
    need = math.ceil(seconds / 60)
    wait = (period.resets_at - now()).total_seconds()
    words = {"left": left, "cap": period.cap, "need": need, "wait": _wait_words(wait)}
    if period.name == "day":
        message = _(
            "This site has used its avatar time for today: %(left)d of its %(cap)d "
            "minutes are left, and this session needs %(need)d. New sessions can start "
            "again after midnight UTC, in about %(wait)s."
        )
    else:
        message = _(
            "This site has used its avatar time for this month: %(left)d of its %(cap)d "
            "minutes are left, and this session needs %(need)d. New sessions can start "
            "again on the first of next month (UTC), in about %(wait)s."
        )
    return errors.LimitExceeded("spend_cap", message % words, retry_after=wait)


async def _alert(period: Period, percent: int, reserved: int) -> None:
    """Raise one period's alert at `percent` once, across processes. Never fails a create:
    an alert that cannot be recorded is logged instead."""
    marker = keys.spend_alert(period.name, period.start.isoformat(), percent)
    if not await shared_cache.add(marker, 1, timeout=COUNTER_TTL[period.name]):
        return  # cheap gate; the row's unique constraint is what makes it once
    minutes = math.ceil(reserved / 60)
    try:
        _, created = await SpendAlert.objects.aget_or_create(
            period=period.name,
            period_start=period.start,
            percent=percent,
            defaults={"minutes": minutes, "cap": period.cap},
        )
        if not created:
            return
        subject = f"Avatar spending reached {percent} % of the {period.name}'s cap"
        text = (
            f"Sessions created this {period.name} (UTC, from {period.start}) have reserved "
            f"{minutes} of the {period.cap} minutes allowed. "
            + (
                "New sessions are refused until the cap resets."
                if percent >= 100
                else "At the cap, new sessions will be refused until it resets."
            )
        )
        log.warning("%s: %s", subject, text)
        if settings.ADMINS:
            await asyncio.to_thread(mail_admins, subject, text, fail_silently=True)
    except Exception:
        log.exception("the spend alert (%s, %s %%) could not be raised", period.name, percent)


@dataclass(frozen=True)
class Figure:
    """One period as the usage page shows it."""

    period: Period
    minutes: int  # reserved so far

    @property
    def percent(self) -> int | None:
        return round(100 * self.minutes / self.period.cap) if self.period.cap else None


def figures() -> list[Figure]:
    """Today and the month so far (the caps' own counters), for the staff usage page."""
    shown = []
    for period in periods():
        seconds = cache.get(period.key)
        if seconds is None:  # nothing counted since the cache started: the record's figure
            seconds = _recorded(period).aggregate(total=Sum("duration"))["total"] or 0
        shown.append(Figure(period, math.ceil(max(0, seconds) / 60)))
    return shown
