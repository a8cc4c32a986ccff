"""Which RTC network a session streams on, and which it may still fall back to.

One home for both rules: the create (services.lifecycle), the fallback
(services.fallback), the session's JSON (models.AvatarSession.to_dict) and the admin's
check of a preset read them here.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from sessions.providers.base import NETWORKS  # noqa: F401  (named from here for the api)
from sessions.states import Status

# Kept in a live session's `rtc` (never shown: to_dict leaves it out) once it fell back:
# the network it left. One fallback per session; the credentials go when it ends.
FELL_BACK_FROM = "fell_back_from"


def network_for(preset: Any) -> str:
    """A new session's network: its preset's, else the operator's default."""
    return (getattr(preset, "network", "") or "") or settings.AKOOL_STREAM_TYPE


def fell_back(session: Any) -> bool:
    return bool((session.rtc or {}).get(FELL_BACK_FROM))


def fallback_networks(session: Any) -> list[str]:
    """The networks a live session may still fall back to: the other members of
    AKOOL_NETWORKS, in order; none once it fell back, while it moves (no upstream session
    between the close of its first and the create of its second), or with AKOOL_FALLBACK
    "off"."""
    if session.status != Status.ACTIVE or settings.AKOOL_FALLBACK == "off" or fell_back(session):
        return []
    if not session.upstream_id:
        return []
    return [name for name in settings.AKOOL_NETWORKS if name != session.network]


def public_rtc(rtc: dict[str, Any]) -> dict[str, Any]:
    """The join fields the owner's page gets (our own bookkeeping left out)."""
    return {key: value for key, value in rtc.items() if key != FELL_BACK_FROM}
