"""Usage figures for staff: sessions and minutes per day, per user, per preset, and how
sessions ended, over a date range. Aggregated in the database, one query per table.

Minutes reserved are what each session asked the upstream for (its `duration`); minutes
used run from `started_at` to `closed_at` (to now for a session still live). A session
that never started (it failed while being created) used nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, DateTimeField, DurationField, F, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Least, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from sessions import display
from sessions.models import AvatarSession, CloseReason
from sessions.staff.charts import BarChart, bar_chart
from sessions.staff.turn_timings import PresetTurns, per_preset

TOP_ROWS = 25
MAX_DAYS = 366
# The days a report may cover: before the site there was nothing to count, and the last
# day of the calendar has no next midnight to end its window (an OverflowError, a 500).
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date.max - timedelta(days=1)


@dataclass
class Row:
    label: str
    sessions: int
    reserved_minutes: float
    used_minutes: float
    # The audit list's filter for this row ("owner__id__exact=3"), when there is one.
    query: str = ""

    @property
    def utilisation(self) -> float | None:
        if not self.reserved_minutes:
            return None
        return self.used_minutes / self.reserved_minutes

    @property
    def percent(self) -> str:
        """Used of reserved in words ("18 %"), empty when nothing was reserved."""
        share = self.utilisation
        return "" if share is None else display.percent(share * 100)


@dataclass
class DayRow(Row):
    day: date = date.min


@dataclass
class Report:
    start: date
    end: date  # inclusive
    totals: Row
    days: list[DayRow]
    users: list[Row]
    user_count: int
    presets: list[Row]
    reasons: list[Row]
    charts: list[BarChart] = field(default_factory=list)
    turns: list[PresetTurns] = field(default_factory=list)  # turn latency per preset


def _minutes(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return round(value.total_seconds() / 60, 1)
    return round(float(value) / 60, 1)


def window(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def _measures(now: datetime) -> dict[str, Any]:
    """Sessions, seconds reserved and time used: the same three figures for every table."""
    # Never past the reserved time: the upstream ends a session at its duration, however
    # late our close (or a close still being retried) is recorded.
    closed = Coalesce("closed_at", Value(now, DateTimeField()))
    end = Least(closed, Coalesce("expires_at", closed))
    return {
        "n": Count("id"),
        "reserved": Sum("duration"),
        "used": Sum(end - F("started_at"), output_field=DurationField()),
    }


def _figures(values: QuerySet, now: datetime) -> QuerySet:
    return values.annotate(**_measures(now))


def _row(label: str, values: dict[str, Any], query: str = "") -> Row:
    return Row(
        label=label,
        sessions=values["n"],
        reserved_minutes=_minutes(values["reserved"]),
        used_minutes=_minutes(values["used"]),
        query=query,
    )


def report(start: date, end: date) -> Report:
    """Usage of sessions created from `start` to `end` (both included, local dates)."""
    now = timezone.now()
    low, high = window(start, end)
    sessions = AvatarSession.objects.filter(created_at__gte=low, created_at__lt=high).order_by()
    total = sessions.aggregate(**_measures(now))
    days = _days(sessions, now, start, end)
    result = Report(
        start=start,
        end=end,
        totals=_row("total", total),
        days=days,
        users=_users(sessions, now),
        user_count=sessions.values("owner_id").distinct().count(),
        presets=_presets(sessions, now),
        reasons=_reasons(sessions, now),
    )
    result.charts = charts(days)
    result.turns = per_preset(sessions)
    return result


def _days(sessions: QuerySet, now: datetime, start: date, end: date) -> list[DayRow]:
    """One row for every day of the range, days without a session included."""
    by_day = {
        row["day"]: row
        for row in _figures(
            sessions.annotate(day=TruncDate("created_at")).values("day"), now
        ).values("day", "n", "reserved", "used")
    }
    days = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        values = by_day.get(day, {"n": 0, "reserved": 0, "used": None})
        row = _row(day.isoformat(), values)
        days.append(DayRow(**row.__dict__, day=day))
    return days


def _users(sessions: QuerySet, now: datetime) -> list[Row]:
    users = _figures(sessions.values("owner_id", "owner__username"), now).order_by(
        F("used").desc(nulls_last=True), "-n", "owner__username"
    )
    return [
        _row(
            u["owner__username"] or _("anonymous visitors"),
            u,
            f"owner__id__exact={u['owner_id']}" if u["owner_id"] else "owner__isnull=True",
        )
        for u in users[:TOP_ROWS]
    ]


def _presets(sessions: QuerySet, now: datetime) -> list[Row]:
    return [
        # The preset's name, as staff know it; its slug once the preset is gone.
        _row(
            p["preset__name"] or p["preset_slug"] or _("(none)"),
            p,
            f"preset_slug__exact={p['preset_slug']}",
        )
        for p in _figures(sessions.values("preset_slug", "preset__name"), now).order_by(
            F("used").desc(nulls_last=True), "-n", "preset_slug"
        )
    ]


def _reasons(sessions: QuerySet, now: datetime) -> list[Row]:
    labels = dict(CloseReason.choices)
    return [
        _row(
            labels.get(r["close_reason"], r["close_reason"])
            if r["close_reason"]
            else _("not closed yet"),
            r,
            f"close_reason__exact={r['close_reason']}",
        )
        for r in _figures(sessions.values("close_reason"), now).order_by("-n", "close_reason")
    ]


def charts(days: list[DayRow]) -> list[BarChart]:
    labels = [d.day.strftime("%b %d") for d in days]
    titles = [
        _("%(day)s: %(sessions)d sessions, %(reserved)s min reserved, %(used)s min used")
        % {
            "day": d.day.isoformat(),
            "sessions": d.sessions,
            "reserved": f"{d.reserved_minutes:g}",
            "used": f"{d.used_minutes:g}",
        }
        for d in days
    ]
    return [
        bar_chart(
            key="minutes",
            title=_("Minutes per day"),
            description=_("Minutes reserved (wide bars) and minutes used (narrow bars) per day."),
            labels=labels,
            series=[
                ("bar-reserved", _("minutes reserved"), [d.reserved_minutes for d in days]),
                ("bar-used", _("minutes used"), [d.used_minutes for d in days]),
            ],
            titles=titles,
        ),
        bar_chart(
            key="sessions",
            title=_("Sessions per day"),
            description=_("Sessions created per day."),
            labels=labels,
            series=[("bar-sessions", _("sessions"), [d.sessions for d in days])],
            titles=titles,
        ),
    ]
