"""The sandbox provider: a simulated avatar, no account, no network.

Creating a session hands out a channel name and a signed, expiring token, just as
AKool hands out Agora credentials. The page then talks to the simulated avatar over
`/ws/sandbox/<channel>/?token=...` (see `sessions/sandbox_consumer.py`), which
speaks the same data-stream protocol as the real avatar.
"""

from __future__ import annotations

import time
import uuid

from channels.layers import get_channel_layer
from django.core import signing

from sessions import keys, shared_cache
from sessions.providers.base import (
    CatalogAvatar,
    CatalogKnowledge,
    CatalogLanguage,
    CatalogVoice,
    KnowledgeRequest,
    ProviderError,
    SandboxRtc,
    SessionRequest,
    UpstreamSession,
)

TOKEN_SALT = "avatarsite.sandbox.rtc"  # noqa: S105 (a namespace, not a secret)
# Tokens outlive the session a little, as Agora's do, so a late reconnect still works
# until the session itself is closed.
TOKEN_GRACE_SECONDS = 120

# Status numbers as AKool uses them.
LIVE, COMPLETED = 2, 3


def make_token(channel: str, ttl: int) -> str:
    return signing.dumps({"ch": channel, "exp": int(time.time()) + ttl}, salt=TOKEN_SALT)


def channel_for_token(token: str) -> str | None:
    """The channel a sandbox token grants, or None if forged or expired."""
    try:
        data = signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("ch"), str):
        return None
    if not isinstance(data.get("exp"), int) or data["exp"] < time.time():
        return None
    return data["ch"]


async def live_channel(channel: str) -> dict | None:
    """The sandbox session behind a channel ({"upstream_id", "mode", "language"}) while it
    is live."""
    info = await shared_cache.get(keys.sandbox_channel(channel))
    if not info or await shared_cache.get(keys.sandbox_session(info["upstream_id"])) != LIVE:
        return None
    return info


# A small catalog of its own, so the catalog import works without an account.
SANDBOX_AVATARS = [
    CatalogAvatar("sandbox_ada", "Ada", voice_id="sandbox_voice_warm", gender="female"),
    CatalogAvatar("sandbox_ben", "Ben", voice_id="sandbox_voice_calm", gender="male"),
    CatalogAvatar("sandbox_cleo", "Cleo", voice_id="sandbox_voice_bright", gender="female"),
]
SANDBOX_VOICES = [
    CatalogVoice("sandbox_voice_warm", "Warm", language="en", gender="female"),
    CatalogVoice("sandbox_voice_calm", "Calm", language="en", gender="male"),
    CatalogVoice("sandbox_voice_bright", "Bright", language="en", gender="female"),
    CatalogVoice("sandbox_voice_lyon", "Lyon", language="fr", gender="male"),
]
SANDBOX_LANGUAGES = [
    CatalogLanguage("en", "English"),
    CatalogLanguage("fr", "French"),
    CatalogLanguage("de", "German"),
    CatalogLanguage("es", "Spanish"),
    CatalogLanguage("ja", "Japanese"),
]

# One knowledge base of its own, so the import brings one in without an account.
SANDBOX_KNOWLEDGE = [
    CatalogKnowledge(
        "sandbox_kb_tour",
        "Sandbox city tour",
        prologue="Welcome! I am your guide to the old town. Where shall we start?",
        prompt="You are a city guide. Talk about the old town, its museums and its food.",
    ),
]


class SandboxProvider:
    name = "sandbox"

    async def create_session(self, request: SessionRequest) -> UpstreamSession:
        upstream_id = "sbx_" + uuid.uuid4().hex
        channel = "sbx-" + uuid.uuid4().hex
        ttl = request.duration + TOKEN_GRACE_SECONDS
        # The session's state lives in the cache (Redis in production) so any process
        # can serve its sandbox socket.
        await shared_cache.set(keys.sandbox_session(upstream_id), LIVE, timeout=ttl)
        await shared_cache.set(
            keys.sandbox_channel(channel),
            {"upstream_id": upstream_id, "mode": request.mode},
            timeout=ttl,
        )
        await shared_cache.set(keys.sandbox_upstream_channel(upstream_id), channel, timeout=ttl)
        rtc = SandboxRtc(
            channel=channel,
            token=make_token(channel, ttl),
            uid=1,
            # The network it stands in for: the page runs that network's UI against it.
            network=request.stream_type,
        )
        return UpstreamSession(id=upstream_id, status=LIVE, rtc=rtc)

    async def close_session(self, upstream_id: str) -> None:
        if not upstream_id.startswith("sbx_"):
            raise ProviderError("Unknown sandbox session.", code="upstream_refused")
        await shared_cache.set(keys.sandbox_session(upstream_id), COMPLETED, timeout=3600)
        channel = await shared_cache.get(keys.sandbox_upstream_channel(upstream_id))
        if channel:
            # The simulated avatar leaves the channel, as the real one would.
            await get_channel_layer().group_send(
                keys.sandbox_group(channel), {"type": keys.SANDBOX_CLOSED}
            )

    async def session_detail(self, upstream_id: str) -> UpstreamSession:
        status = await shared_cache.get(keys.sandbox_session(upstream_id))
        if status is None:
            # Unknown or long gone: as good as completed.
            status = COMPLETED
        return UpstreamSession(id=upstream_id, status=status)

    async def list_sessions(self, status: int | None = None) -> list[UpstreamSession]:
        # The sandbox keeps no index of its sessions; reconciliation relies on our own
        # records for it, which is exact since nothing else can open sandbox sessions.
        return []

    async def list_avatars(self) -> list[CatalogAvatar]:
        return list(SANDBOX_AVATARS)

    async def list_voices(self) -> list[CatalogVoice]:
        return list(SANDBOX_VOICES)

    async def list_languages(self) -> list[CatalogLanguage]:
        return list(SANDBOX_LANGUAGES)

    async def list_knowledge(self) -> list[CatalogKnowledge]:
        return list(SANDBOX_KNOWLEDGE)

    async def create_knowledge(self, request: KnowledgeRequest) -> str:
        # Nothing upstream to create: the knowledge base lives in our row, the sandbox
        # avatar reads it from there (its opening line and instructions).
        return "sbx_kb_" + uuid.uuid4().hex
