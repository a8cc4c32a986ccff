"""The recording notice shown above Start, and the tick a preset may require before it.

The notice is the site's promise about what happens to a conversation: that it is
recorded, for how long, and where it goes. One home for its words (the page shows them,
tests read them here); one home for the rule that a preset's tick is required (the API
refuses a create without it, so no client can skip what the page asks)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from sessions import errors
from sessions.models import AvatarPreset
from sessions.services.answers import llm_enabled


def _kept_sentence(days: int) -> str:
    if days <= 0:
        return _("The transcript is kept until it is deleted.")
    return ngettext(
        "The transcript is kept for %(days)d day, then deleted.",
        "The transcript is kept for %(days)d days, then deleted.",
        days,
    ) % {"days": days}


def _service_sentence() -> str:
    if settings.AVATAR_PROVIDER == "akool":
        return _("What you say and what the avatar says go to AKool, the avatar service.")
    # The sandbox's dialogue mode answers through the operator's LLM when one is set (it
    # stands in for AKool's own): then what is said does leave the site.
    host = llm_host()
    if host:
        return _(
            "The avatar is simulated on this site; in dialogue its answers come from the "
            "assistant at %(host)s, which receives what you say."
        ) % {"host": host}
    return _("The avatar is simulated on this site: what you say goes to no avatar service.")


def llm_host() -> str:
    """The host of the operator's LLM (never its key, path or credentials in the URL)."""
    if not llm_enabled():
        return ""
    return urlsplit(settings.LLM_BASE_URL).hostname or ""


def recording_notice() -> dict[str, str]:
    """The notice's words: `text` always, `llm_text` for a preset our own assistant
    answers (empty when no LLM is configured). Each is whole sentences, for translation."""
    text = settings.RECORDING_NOTICE.strip() or " ".join(
        [
            _("This conversation is recorded."),
            _kept_sentence(settings.TRANSCRIPT_RETENTION_DAYS),
            _service_sentence(),
        ]
    )
    host = llm_host()
    llm_text = (
        _("This avatar's answers come from our assistant at %(host)s, which receives what you say.")
        % {"host": host}
        if host
        else ""
    )
    return {"text": text, "llm_text": llm_text}


def require_consent(preset: AvatarPreset, consent: bool) -> None:
    """A preset that asks for the tick starts no session without it (BadInput: 400)."""
    if preset.consent_required and not consent:
        raise errors.BadInput(
            "consent_required",
            _(
                "This avatar needs your agreement to the recording notice before it starts: "
                'tick the box on the page (API: send "consent": true).'
            ),
        )
