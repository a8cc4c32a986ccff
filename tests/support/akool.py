"""The app pointed at a fake AKool (tests/support/fakes/akool_server.py) for one test."""

from __future__ import annotations

from sessions.providers import reset_providers


def use_akool(settings, base_url: str, api_key: str) -> None:
    settings.AVATAR_PROVIDER = "akool"
    settings.AKOOL_BASE_URL = base_url
    settings.AKOOL_API_KEY = api_key
    settings.AKOOL_CLIENT_ID = ""
    settings.AKOOL_CLIENT_SECRET = ""
    settings.AKOOL_RETRIES = 0
    settings.AKOOL_READ_TIMEOUT = 0.5
    settings.AKOOL_CONNECT_TIMEOUT = 0.5
    reset_providers()
