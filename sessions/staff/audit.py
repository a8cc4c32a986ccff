"""What the session audit derives from a session's record: its timings.

Nothing here is stored. The event log records state changes and commands, and each
transcript line is created when its first piece reaches the server, so:

- "start" is created_at -> started_at: how long the upstream took to open the session;
- "first avatar words" is started_at -> the avatar's first transcript line: when the
  first piece of the avatar's speech (its first data-stream chat frame, forwarded by the
  page) reached us; in dialogue mode the avatar speaks only after the user has;
- a "reply" is a user line -> the next avatar line: the time to the avatar's first frame
  of its answer to that line, as the server saw it (the page adds its own network hop);
- "close" is the `closing` event -> the `closed` event: how long the upstream took to
  confirm the close (retries included).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from sessions.models import LIVE_STATUSES, AvatarSession, SessionEvent, Status, TranscriptEntry
from sessions.services.transcript import settled_now

# What the session page and the exports tell staff about a line only the user's page
# reported (TranscriptEntry.reported_by_page).
PAGE_REPORTED_NOTE = "reported by the user's page: the server did not hear this"
# The session page's query parameters for the page of each paginated list.
LINES_PAGE, EVENTS_PAGE = "lines", "events"


@dataclass(frozen=True)
class Timings:
    reserved_seconds: int
    used_seconds: int | None
    start_seconds: float | None
    first_avatar_seconds: float | None
    replies: int
    first_reply_seconds: float | None
    median_reply_seconds: float | None
    max_reply_seconds: float | None
    close_seconds: float | None

    @property
    def reserved_minutes(self) -> float:
        return self.reserved_seconds / 60

    @property
    def used_minutes(self) -> float | None:
        return None if self.used_seconds is None else self.used_seconds / 60

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round(max(0.0, (end - start).total_seconds()), 3)


def reply_latencies(transcript: Iterable[TranscriptEntry]) -> list[float]:
    """Seconds from each answered user line to the avatar's next line.

    A user who sends two lines before the avatar answers waits from the later one: a new
    message cuts the answer in progress short, so the avatar answers the latest line.
    """
    latencies: list[float] = []
    asked: datetime | None = None
    for entry in sorted(transcript, key=lambda e: (e.created_at, e.pk or 0)):
        if entry.role == TranscriptEntry.Role.USER:
            asked = entry.created_at
        elif asked is not None:
            latencies.append(_seconds(asked, entry.created_at) or 0.0)
            asked = None
    return latencies


def timings(
    session: AvatarSession,
    transcript: Iterable[TranscriptEntry],
    events: Iterable[SessionEvent] = (),
) -> Timings:
    lines = list(transcript)
    first_avatar = min(
        (e.created_at for e in lines if e.role == TranscriptEntry.Role.AVATAR), default=None
    )
    latencies = reply_latencies(lines)
    closing = closed = None
    for event in events:
        if event.kind != SessionEvent.Kind.STATE:
            continue
        state = (event.data or {}).get("state")
        if state == Status.CLOSING and closing is None:
            closing = event.created_at
        elif state == Status.CLOSED:
            closed = event.created_at
    return Timings(
        reserved_seconds=session.duration,
        used_seconds=session.used_seconds,
        start_seconds=_seconds(session.created_at, session.started_at),
        first_avatar_seconds=_seconds(session.started_at, first_avatar),
        replies=len(latencies),
        first_reply_seconds=latencies[0] if latencies else None,
        median_reply_seconds=round(statistics.median(latencies), 3) if latencies else None,
        max_reply_seconds=max(latencies) if latencies else None,
        close_seconds=_seconds(closing, closed),
    )


def session_timings(session: AvatarSession) -> Timings:
    """The session's timings read from the database without loading its whole history:
    the lines' roles and times only (never their text), and the state changes only."""
    lines = session.transcript.only("id", "role", "created_at")
    states = session.events.filter(kind=SessionEvent.Kind.STATE).order_by("created_at", "id")
    return timings(session, lines, states.only("id", "kind", "data", "created_at"))


def event_counts(session: AvatarSession) -> dict[str, int]:
    """How many events of each kind, every kind present (zero when none): counted by the
    database, so a session with thousands of events loads none of them."""
    rows = session.events.order_by().values_list("kind").annotate(n=Count("id"))
    counts = Counter(dict(rows))
    return {kind: counts.get(kind, 0) for kind in SessionEvent.Kind.values}


def _page(queryset: Any, query: QueryDict, name: str, anchor: str) -> tuple[Page, dict[str, str]]:
    page = Paginator(queryset, settings.AUDIT_PAGE_SIZE).get_page(query.get(name))
    links = {}
    for rel, number in (
        ("previous", page.previous_page_number() if page.has_previous() else None),
        ("next", page.next_page_number() if page.has_next() else None),
    ):
        if number is not None:
            # The other list keeps its page.
            params = query.copy()
            params[name] = str(number)
            # ... and the link lands on its list's section, not the top of the page.
            links[rel] = f"?{params.urlencode()}#{anchor}"
    return page, links


def record_pages(session: AvatarSession, query: QueryDict) -> dict[str, Any]:
    """One page (AUDIT_PAGE_SIZE rows) of the session's transcript and one of its event
    log, each with its links to the previous and next page, for the session page."""
    settled_now()  # the lines typed a moment ago in this process too
    lines, line_links = _page(
        session.transcript.order_by("created_at", "id"), query, LINES_PAGE, "transcript-panel"
    )
    events, event_links = _page(
        session.events.order_by("created_at", "id"), query, EVENTS_PAGE, "events-panel"
    )
    return {
        "transcript": lines,
        "transcript_links": line_links,
        "events": events,
        "event_links": event_links,
        "page_reported_note": PAGE_REPORTED_NOTE,
        "any_page_reported": session.transcript.filter(reported_by_page=True).exists(),
    }


def chats_sent(session: AvatarSession) -> tuple[int, bool]:
    """How many messages the user sent, and whether that is a count so far. The stored
    counter is written when a socket leaves, so while the session is live it lags: then
    the user's transcript lines are counted instead (one per chat message)."""
    if session.status not in LIVE_STATUSES:
        return session.chat_count, False
    sent = session.transcript.filter(role=TranscriptEntry.Role.USER).count()
    return max(sent, session.chat_count), True


def _secs(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"


def _mins(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds // 60}:{seconds % 60:02d} min"


def display_rows(t: Timings) -> list[tuple[str, str, str]]:
    """The timings as the session page lists them: (label, value, what it measures)."""
    share = (
        _("%(percent)s%% of the reserved time")
        % {"percent": f"{100 * t.used_seconds / t.reserved_seconds:.0f}"}
        if t.used_seconds is not None and t.reserved_seconds
        else ""
    )
    replies = (
        _("first %(first)s, median %(median)s, slowest %(slowest)s")
        % {
            "first": _secs(t.first_reply_seconds),
            "median": _secs(t.median_reply_seconds),
            "slowest": _secs(t.max_reply_seconds),
        }
        if t.replies
        else "—"
    )
    # The labels have their own context: "Start" and "Close" are buttons elsewhere.
    return [
        (
            pgettext("timing", "Reserved"),
            _mins(t.reserved_seconds),
            _("the duration asked of the avatar service"),
        ),
        (
            pgettext("timing", "Used"),
            _mins(t.used_seconds),
            share or _("from active to closed (or now)"),
        ),
        (
            pgettext("timing", "Start"),
            _secs(t.start_seconds),
            _("created → active: the avatar service opening it"),
        ),
        (
            pgettext("timing", "First avatar words"),
            _secs(t.first_avatar_seconds),
            _("active → the first piece of the avatar's speech reaching the server"),
        ),
        (
            pgettext("timing", "Replies (%(count)d)") % {"count": t.replies},
            replies,
            _("each user line → the first piece of the avatar's answer"),
        ),
        (
            pgettext("timing", "Close"),
            _secs(t.close_seconds),
            _("closing → the avatar service confirming the close"),
        ),
    ]
