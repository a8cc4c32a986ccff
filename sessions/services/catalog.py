"""What a session may be set to: voices from presets, languages from the active
provider's catalog."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext as _

from sessions import errors
from sessions.access import Principal
from sessions.models import AvatarPreset, VoicePreset
from sessions.providers.sandbox.provider import SANDBOX_LANGUAGES

# Languages AKool's live avatars speak (its language list). The sandbox speaks only its own
# catalog's (SANDBOX_LANGUAGES), each of them answered in by its responder. The names are
# marked for translation and put in the reader's language where shown (languages(),
# display.py).
KNOWN_LANGUAGES: dict[str, str] = {
    "en": gettext_noop("English"),
    "zh": gettext_noop("Chinese"),
    "es": gettext_noop("Spanish"),
    "fr": gettext_noop("French"),
    "de": gettext_noop("German"),
    "it": gettext_noop("Italian"),
    "pt": gettext_noop("Portuguese"),
    "ja": gettext_noop("Japanese"),
    "ko": gettext_noop("Korean"),
    "ru": gettext_noop("Russian"),
    "ar": gettext_noop("Arabic"),
    "hi": gettext_noop("Hindi"),
    "nl": gettext_noop("Dutch"),
    "pl": gettext_noop("Polish"),
    "tr": gettext_noop("Turkish"),
    "id": gettext_noop("Indonesian"),
    "vi": gettext_noop("Vietnamese"),
    "th": gettext_noop("Thai"),
}


def languages() -> list[dict[str, str]]:
    """The languages the active provider's avatars speak, as the page offers them: the
    sandbox's own catalog, or AKool's known list (its catalog needs a network call)."""
    if settings.AVATAR_PROVIDER == "sandbox":
        return [{"code": lang.code, "name": gettext(lang.name)} for lang in SANDBOX_LANGUAGES]
    return [{"code": code, "name": gettext(name)} for code, name in KNOWN_LANGUAGES.items()]


def check_language(code: str) -> None:
    """Refuse a language the active provider's avatars do not speak: the same rule for
    the API's create and the socket's set_params, and the same list the page offers."""
    offered = [lang["code"] for lang in languages()]
    if code not in offered:
        raise errors.Invalid(
            "invalid_language",
            _("Unknown language “%(code)s”; use one of %(offered)s.")
            % {"code": code[:20], "offered": ", ".join(offered)},
        )


async def active_voice(slug_or_id: str) -> VoicePreset | None:
    """A voice preset by slug, or by its upstream voice id (set_params accepts both)."""
    voice = await VoicePreset.objects.filter(active=True, slug=slug_or_id).afirst()
    if voice is None:
        voice = await VoicePreset.objects.filter(active=True, voice_id=slug_or_id).afirst()
    return voice


async def voice(slug_or_id: str) -> VoicePreset:
    """The active voice a caller names, or NotFound: the same error for the API's create
    and the socket's set_params."""
    found = await active_voice(slug_or_id)
    if found is None:
        raise errors.NotFound(
            "voice_not_found", _("No active voice preset “%(name)s”.") % {"name": slug_or_id[:200]}
        )
    return found


def offered_presets(principal: Principal | None = None) -> QuerySet[AvatarPreset]:
    """The presets a caller may start: the active ones; for a website's embed, only
    those its key offers."""
    presets = AvatarPreset.objects.filter(active=True)
    if principal is not None and principal.embed is not None:
        presets = presets.filter(pk__in=principal.embed.preset_ids)
    return presets


async def active_preset(slug: str, principal: Principal | None = None) -> AvatarPreset | None:
    return (
        await offered_presets(principal).filter(slug=slug).select_related("default_voice").afirst()
    )


async def start_voice(preset: AvatarPreset, chosen: VoicePreset | None = None) -> tuple[str, str]:
    """The voice a session starts with, as (voice_id, voice_url), one of them empty: the
    caller's choice, else the preset's own cloned voice (its voice_url wins over its
    default voice), else its default voice. A cloned voice is sent by its URL."""
    if chosen is None and preset.voice_url:
        return "", preset.voice_url
    if chosen is None and preset.default_voice_id is not None:
        chosen = await VoicePreset.objects.filter(pk=preset.default_voice_id).afirst()
    if chosen is None:
        return "", ""
    return (chosen.voice_id, "") if chosen.voice_id else ("", chosen.voice_url)
