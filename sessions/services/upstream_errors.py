"""A provider's failure as the API and the socket report it."""

from __future__ import annotations

from sessions import errors
from sessions.providers.base import (
    ProviderError,
    UpstreamProtocolError,
    UpstreamTimeout,
    UpstreamUnavailable,
)


def upstream_kind(exc: ProviderError) -> str:
    """What kind of upstream failure a provider error is (the edges pick a status)."""
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, UpstreamUnavailable):
        return "unavailable"
    if isinstance(exc, UpstreamProtocolError):
        return "bad_response"
    return "refused"


def upstream_failed(exc: ProviderError) -> errors.UpstreamFailed:
    # The provider's message is already for a person (AKool's own msg included).
    return errors.UpstreamFailed(exc.code, exc.message, kind=upstream_kind(exc))
