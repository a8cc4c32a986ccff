"""The operator's LLM and moderation endpoint as the settings describe them: whether one
is set, and the configs the LLM client and the guardrails are handed."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from sessions.llm import guardrails
from sessions.llm.client import LlmConfig


def llm_enabled() -> bool:
    return bool(settings.LLM_BASE_URL)


def llm_config() -> LlmConfig:
    return LlmConfig(
        base_url=settings.LLM_BASE_URL,
        api_key=settings.LLM_API_KEY,
        model=settings.LLM_MODEL,
        connect_timeout=settings.LLM_CONNECT_TIMEOUT,
        read_timeout=settings.LLM_READ_TIMEOUT,
        retries=settings.LLM_RETRIES,
        max_tokens=settings.LLM_MAX_TOKENS,
        also_hide=(settings.AKOOL_API_KEY, settings.AKOOL_CLIENT_SECRET),
    )


def moderation_config() -> guardrails.ModerationConfig | None:
    """The moderation endpoint's settings, or None when there is none."""
    url = settings.LLM_MODERATION_URL
    if not url:
        return None
    key = settings.LLM_MODERATION_KEY
    if not key and _origin(url) == _origin(settings.LLM_BASE_URL):
        # The LLM's key goes to the LLM's own host only, never to a third party's.
        key = settings.LLM_API_KEY
    return guardrails.ModerationConfig(url, api_key=key, timeout=settings.LLM_MODERATION_TIMEOUT)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
