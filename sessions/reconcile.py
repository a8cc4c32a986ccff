"""The reaper's reconciliation with the upstream's own list of live sessions."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from . import lifecycle
from .models import LIVE_STATUSES, AvatarSession, SessionEvent, Status
from .providers import get_provider
from .providers.base import ProviderError

if TYPE_CHECKING:
    from .reaper import ReapResult

log = logging.getLogger("avatarsite.reaper")

# A create takes seconds; one still "starting" after this never finished.
from datetime import timedelta  # noqa: E402

STUCK_STARTING = timedelta(minutes=2)


async def reconcile(result: ReapResult, now) -> None:
    """Close upstream sessions that are live there but not live here."""
    provider = get_provider()
    try:
        upstream = [s for s in await provider.list_sessions() if s.is_live]
    except ProviderError as exc:
        result.errors.append(f"listing upstream sessions failed: {exc.message}")
        return
    if not upstream:
        return
    ours = {
        upstream_id
        async for upstream_id in AvatarSession.objects.filter(
            status__in=LIVE_STATUSES, upstream_id__in=[s.id for s in upstream]
        ).values_list("upstream_id", flat=True)
    }
    # A create in flight has an upstream session we have not recorded yet: while one
    # is young, leave unknown ones for the next pass.
    creating = await AvatarSession.objects.filter(
        status=Status.STARTING, created_at__gt=now - STUCK_STARTING
    ).aexists()
    for session in upstream:
        if session.id in ours:
            continue
        known = await AvatarSession.objects.filter(upstream_id=session.id).afirst()
        if known is None and creating:
            continue
        try:
            await provider.close_session(session.id)
        except ProviderError as exc:
            result.errors.append(f"closing upstream {session.id} failed: {exc.message}")
            continue
        result.reconciled += 1
        log.warning(
            "reaper: upstream session %s was live but is %s here; closed it",
            session.id,
            known.status if known else "unknown",
        )
        if known is not None:
            await lifecycle.record_event(
                known.pk, SessionEvent.Kind.STATE, "upstream still live: closed by the reaper"
            )
