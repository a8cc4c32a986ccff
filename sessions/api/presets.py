"""GET /presets: what a session may be started with."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from sessions.api.auth import principal_of
from sessions.api.http_errors import error_map
from sessions.api.schemas import PresetsOut
from sessions.models import VoicePreset
from sessions.services import catalog, modes

router = Router(tags=["presets"])


@router.get("/presets", response={200: PresetsOut, **error_map()})
async def presets(request: HttpRequest):
    """The active avatar and voice presets, and the languages a session may use."""
    avatars = [
        {
            "slug": p.slug,
            "name": p.name,
            "avatar_id": p.avatar_id,
            "thumbnail_url": p.thumbnail_url,
            "default_voice": p.default_voice.slug if p.default_voice else None,
            "language": p.language,
            "mode": modes.default_mode(p),  # our LLM answers in mode 1
            "background_url": p.background_url,
            "use_llm": p.use_llm,
            "consent_required": p.consent_required,
            "extend_allowed": p.extend_allowed,
            "modes": list(modes.allowed_modes(p)),
            "browser_speech": p.browser_speech,
        }
        async for p in catalog.offered_presets(principal_of(request)).select_related(
            "default_voice"
        )
    ]
    voices = [
        {
            "slug": v.slug,
            "name": v.name,
            "voice_id": v.voice_id,
            "language": v.language,
            "gender": v.gender,
            "preview_url": v.preview_url,
        }
        async for v in VoicePreset.objects.filter(active=True)
    ]
    return {"avatars": avatars, "voices": voices, "languages": catalog.languages()}
