"""The reaper's reconciliation with the upstream's own list of live sessions.

It closes only what is ours. The AKool account may be shared (AKool's console, a mobile
app, another deployment), and a live session we know nothing about is then someone else's.
So the reaper closes:
- an upstream session we recorded, whose row is no longer live here (closed or failed);
- an unknown one only when it matches a create of ours whose answer never came (timed out,
  dropped, garbled, or our process died meanwhile): its creation time lies between when
  that create was sent and when we gave up on it, give or take MATCH_SLACK;
- every unknown one when the operator declares the account ours alone
  (`AKOOL_ACCOUNT_DEDICATED`).
Every close says why in the log, and in the session's event log when we have a row.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings

from sessions.models import LIVE_STATUSES, AvatarSession, SessionEvent, Status
from sessions.providers import get_provider
from sessions.providers.base import Provider, ProviderError, UpstreamSession
from sessions.services import lifecycle

if TYPE_CHECKING:
    from sessions.services.reaper import ReapResult

log = logging.getLogger("avatarsite.reaper")

# How far an upstream creation time may lie outside [create sent, we gave up] and still
# match: the two clocks differ a little, and AKool may stamp a session just before it
# acknowledges the request. Small, so that a session someone else opened at about the same
# time is unlikely to fall in it.
MATCH_SLACK = timedelta(seconds=5)


async def reconcile(result: ReapResult, now: datetime) -> None:
    """Close the upstream sessions that are live there, not live here, and ours."""
    provider = get_provider()
    try:
        upstream = [s for s in await provider.list_sessions() if s.is_live]
    except ProviderError as exc:
        result.errors.append(f"listing upstream sessions failed: {exc.message}")
        return
    if not upstream:
        return
    # Creates in flight first, rows by upstream id second: a create that finishes meanwhile
    # (it records its upstream id in the same save that ends `starting`) is then seen by one
    # of the two queries. The reaper settles creates stuck starting before it reconciles,
    # so every row still starting without an upstream id is a create in flight; so is an
    # active one without (a fallback between its close and its create: services.fallback).
    in_flight = [
        created
        async for created in AvatarSession.objects.filter(
            status__in=(Status.STARTING, Status.ACTIVE), upstream_id=""
        ).values_list("created_at", flat=True)
    ]
    live_here, recorded = await _rows_of(upstream)
    # A provider without a request deadline (none ever times out) gets the slack alone.
    deadline = timedelta(seconds=getattr(provider, "request_deadline", 0))
    outcomes: Counter[str] = Counter()
    # Oldest first, so a row's match goes to the earliest session in its window.
    for session in sorted(upstream, key=lambda s: s.created_at or now):
        if session.id not in live_here:
            outcomes[await _settle(provider, session, result, recorded, in_flight, deadline)] += 1
    if outcomes["left"] or outcomes["deferred"]:
        # Once a pass, not once a session: they may stay live (and listed) for an hour.
        log.info(
            "reaper: left %d live upstream session(s) alone (%d not ours as far as we know: "
            "not recorded here, matching no create of ours whose answer never came; %d "
            "perhaps of a create still in flight, for the next pass)",
            outcomes["left"] + outcomes["deferred"],
            outcomes["left"],
            outcomes["deferred"],
        )


async def _rows_of(upstream: list[UpstreamSession]) -> tuple[set[str], dict[str, object]]:
    """The upstream ids live here, and those recorded here as ended (with a row's pk)."""
    live_here: set[str] = set()
    recorded: dict[str, object] = {}
    async for pk, upstream_id, status in AvatarSession.objects.filter(
        upstream_id__in=[s.id for s in upstream]
    ).values_list("pk", "upstream_id", "status"):
        if status in LIVE_STATUSES:
            live_here.add(upstream_id)
        else:
            recorded.setdefault(upstream_id, pk)
    return live_here, recorded


async def _settle(
    provider: Provider,
    session: UpstreamSession,
    result: ReapResult,
    recorded: dict[str, object],
    in_flight: list[datetime],
    deadline: timedelta,
) -> str:
    """Close one upstream session not live here if it is ours; says what was done."""
    if session.id in recorded:
        row = (recorded[session.id], "was still live though recorded here as closed")
        await _close(provider, session, result, "recorded here as closed", row)
        return "closed"
    if _may_be_in_flight(session, in_flight):
        # Its create may still answer: matching it (or, dedicated, closing it) now could
        # end a session a user is about to get. The next pass decides.
        return "deferred"
    if (pk := await _claim_unanswered_create(session, provider.name, deadline)) is not None:
        why = f"matched an unanswered create of session {pk}"
        row = (pk, "matched a create whose answer never came")
        await _close(provider, session, result, why, row)
        return "closed"
    if settings.AKOOL_ACCOUNT_DEDICATED:
        await _close(provider, session, result, "account dedicated")
        return "closed"
    return "left"


def _may_be_in_flight(session: UpstreamSession, in_flight: list[datetime]) -> bool:
    """Whether a create of ours still waiting for its answer may have made `session`."""
    if not in_flight:
        return False
    if session.created_at is None:
        return True
    return session.created_at >= min(in_flight) - MATCH_SLACK


async def _claim_unanswered_create(
    session: UpstreamSession, provider_name: str, deadline: timedelta
) -> object:
    """The pk of the row whose unanswered create explains `session`, now recording its
    upstream id; None when none does (or the entry carries no creation time)."""
    created = session.created_at
    if created is None:
        return None
    # Window [create sent - slack, gave up + slack], and never past the create call's own
    # deadline: the upstream cannot make a session after our request to it ended, however
    # late we noticed (a row stuck starting is settled by a later reaper pass).
    candidates = AvatarSession.objects.filter(
        provider=provider_name,
        upstream_id="",
        create_unanswered_at__isnull=False,
        create_unanswered_at__lte=created + MATCH_SLACK,
        create_unanswered_at__gte=created - MATCH_SLACK - deadline,
        closed_at__gte=created - MATCH_SLACK,
    ).order_by("-create_unanswered_at")  # the latest create sent before it is likeliest
    async for pk in candidates.values_list("pk", flat=True):
        # The conditional update claims the row: it matches at most one upstream session,
        # also against a concurrent pass. Once recorded, a failed close is retried by the
        # next pass as "recorded here as closed".
        if await AvatarSession.objects.filter(pk=pk, upstream_id="").aupdate(
            upstream_id=session.id
        ):
            return pk
    return None


async def _close(
    provider: Provider,
    session: UpstreamSession,
    result: ReapResult,
    why: str,
    row: tuple[object, str] | None = None,
) -> None:
    """Close `session` upstream; `why` goes to the log, and `row` (pk, the event's wording
    of why) to that session's event log."""
    try:
        await provider.close_session(session.id)
    except ProviderError as exc:
        result.errors.append(f"closing upstream {session.id} ({why}) failed: {exc.message}")
        return
    result.reconciled += 1
    log.warning("reaper: closed upstream session %s: %s", session.id, why)
    if row is not None:
        pk, event_why = row
        await lifecycle.record_event(
            pk,
            SessionEvent.Kind.STATE,
            f"upstream session {session.id} {event_why}: closed",
            upstream_id=session.id,
            reason=why,
        )
