"""What the session endpoints' tests share: the fields of a session, creating one
through the API, and rows written directly."""

from __future__ import annotations

from datetime import datetime

from sessions.models import AvatarSession
from tests.conftest import Api

SESSION_FIELDS = {
    "id",
    "status",
    "preset",
    "avatar_id",
    "voice_id",
    "language",
    "mode",
    "duration",
    "created_at",
    "started_at",
    "expires_at",
    "closed_at",
    "close_reason",
    "error",
    "background_url",
    "ws_path",
    "rtc",
    "network",
    "fallback_networks",
    "connected",
}


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def create(api: Api, **body) -> dict:
    response = api.post("/sessions", {"preset": "ada", **body})
    assert response.status_code == 201, response.content
    return response.json()


def stored_session(owner, **fields) -> AvatarSession:
    """A session row written directly, for listing tests (no limits, no upstream)."""
    defaults = {
        "owner": owner,
        "principal": f"user:{owner.pk}",
        "preset_slug": "ada",
        "provider": "sandbox",
        "avatar_id": "sandbox_ada",
        "duration": 600,
        "status": "closed",
    }
    return AvatarSession.objects.create(**{**defaults, **fields})
