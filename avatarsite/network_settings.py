"""The RTC networks sessions stream on (AKool's `stream_type`), read from the environment
like the rest of avatarsite.settings (which imports them all). An unknown name refuses to
start."""

import environ
from django.core.exceptions import ImproperlyConfigured

from sessions.providers.base import NETWORKS  # plain Python: no Django, no app loading

env = environ.Env()

# The network a session streams on when its preset names none (AKool's `stream_type`).

AKOOL_STREAM_TYPE = env.str("AKOOL_STREAM_TYPE", default="agora").strip().lower()
# The networks a session may fall back to when the page cannot join its own (in order).
AKOOL_NETWORKS = list(
    dict.fromkeys(
        name.strip().lower()
        for name in env.list("AKOOL_NETWORKS", default=[AKOOL_STREAM_TYPE])
        if name.strip()
    )
)
# How long the page waits for a network's join before it gives up (and may offer another
# network): offline or behind a firewall that drops WebRTC, the SDKs retry for ever.
RTC_JOIN_TIMEOUT_SECONDS = max(1.0, env.float("RTC_JOIN_TIMEOUT_SECONDS", default=15.0))
# "offer": the page offers one retry on another network; "auto": it retries at once; "off".
AKOOL_FALLBACK = env.str("AKOOL_FALLBACK", default="offer").strip().lower()
# Sandbox only: sessions playing these networks cannot join (their avatar socket closes
# with 4503), so the fallback can be seen and tested offline.
SANDBOX_UNREACHABLE_NETWORKS = [
    name.strip().lower()
    for name in env.list("SANDBOX_UNREACHABLE_NETWORKS", default=[])
    if name.strip()
]
for _setting, _names in (
    ("AKOOL_STREAM_TYPE", [AKOOL_STREAM_TYPE]),
    ("AKOOL_NETWORKS", AKOOL_NETWORKS),
    ("SANDBOX_UNREACHABLE_NETWORKS", SANDBOX_UNREACHABLE_NETWORKS),
):
    _unknown = [name for name in _names if name not in NETWORKS]
    if _unknown:
        raise ImproperlyConfigured(
            f"{_setting}: not a network: {', '.join(_unknown)}; use one of {', '.join(NETWORKS)}."
        )
if not AKOOL_NETWORKS:
    raise ImproperlyConfigured(
        f"AKOOL_NETWORKS is empty; use one or more of {', '.join(NETWORKS)}."
    )
if AKOOL_FALLBACK not in ("offer", "auto", "off"):
    raise ImproperlyConfigured("AKOOL_FALLBACK must be 'offer', 'auto' or 'off'.")
