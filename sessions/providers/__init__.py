"""Avatar providers: `akool` (production) and `sandbox` (embedded default)."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from sessions.providers.base import Provider, ProviderError  # noqa: F401  (re-exported)


@cache
def _build(name: str) -> Provider:
    if name == "sandbox":
        from sessions.providers.sandbox.provider import SandboxProvider

        return SandboxProvider()
    from sessions.providers.akool import AkoolProvider

    return AkoolProvider(
        base_url=settings.AKOOL_BASE_URL,
        api_key=settings.AKOOL_API_KEY,
        client_id=settings.AKOOL_CLIENT_ID,
        client_secret=settings.AKOOL_CLIENT_SECRET,
        connect_timeout=settings.AKOOL_CONNECT_TIMEOUT,
        read_timeout=settings.AKOOL_READ_TIMEOUT,
        retries=settings.AKOOL_RETRIES,
    )


def get_provider(name: str | None = None) -> Provider:
    """The configured provider (one instance per name and configuration)."""
    return _build(name or settings.AVATAR_PROVIDER)


def reset_providers() -> None:
    """Forget built providers (tests change settings between cases)."""
    _build.cache_clear()
