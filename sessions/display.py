"""A session's settings in a person's words: one home for History and the staff pages.

The voice by its preset's name, the language by its name, the mode by the name the setup
page gives it (static/js/setup.js MODE_TEXT), and durations as people say them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, pgettext_lazy

from sessions.models import AvatarSession, Mode, Status, VoicePreset
from sessions.services.catalog import KNOWN_LANGUAGES

# The setup page's names (static/js/setup.js MODE_TEXT; tests/test_display.py keeps them
# the same). A retelling session whose answers come from our LLM is "Own assistant" there.
# Lazy: each is put in the reader's language when shown.
MODE_NAMES = {Mode.DIALOGUE: gettext_lazy("Dialogue"), Mode.RETELLING: gettext_lazy("Retelling")}
OWN_ASSISTANT = gettext_lazy("Own assistant")


# A session's status as people say it: History's badges, the staff pages' (templates use
# the `status_name` filter, sessions/templatetags/session_words.py; the staff live page's
# script gets these in its config). Their own context: "Ended" elsewhere is a time's label.
STATUS_NAMES = {
    Status.STARTING: pgettext_lazy("session status", "Starting"),
    Status.ACTIVE: pgettext_lazy("session status", "Live"),
    Status.CLOSING: pgettext_lazy("session status", "Ending"),
    Status.CLOSED: pgettext_lazy("session status", "Ended"),
    Status.FAILED: pgettext_lazy("session status", "Failed"),
}


def status_name(status: str) -> str:
    """ "Live" for "active" (in the reader's language); an unknown status as it is."""
    return str(STATUS_NAMES.get(status, status))


def status_names() -> dict[str, str]:
    """Every status's name in the reader's language, as plain strings (for JSON)."""
    return {status: str(name) for status, name in STATUS_NAMES.items()}


def duration_words(seconds: int | float | None) -> str:
    """ "5 s", "1 min 5 s", "12 min", "1 h 2 min": what a person reads; "—" for none."""
    if seconds is None:
        return "—"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    values = {"hours": hours, "minutes": minutes, "seconds": secs}
    if hours:
        text = gettext("%(hours)d h %(minutes)d min") if minutes else gettext("%(hours)d h")
    elif minutes:
        text = gettext("%(minutes)d min %(seconds)d s") if secs else gettext("%(minutes)d min")
    else:
        text = gettext("%(seconds)d s")
    return text % values


def language_name(code: str) -> str:
    """ "French" for "fr" (in the reader's language); an unknown code as it is, none as "—"."""
    if not code:
        return "—"
    return gettext(KNOWN_LANGUAGES[code]) if code in KNOWN_LANGUAGES else code


def mode_name(mode: int, *, use_llm: bool = False) -> str:
    if mode == Mode.RETELLING and use_llm:
        return str(OWN_ASSISTANT)
    if mode in MODE_NAMES:
        return str(MODE_NAMES[mode])
    return gettext("mode %(number)s") % {"number": mode}


def voice_names(voice_ids: Iterable[str]) -> dict[str, str]:
    """Each voice id's preset name, in one query (ids no preset knows are left out)."""
    wanted = {v for v in voice_ids if v}
    if not wanted:
        return {}
    rows = VoicePreset.objects.filter(voice_id__in=wanted).order_by("-active", "order")
    names: dict[str, str] = {}
    for voice_id, name in rows.values_list("voice_id", "name"):
        names.setdefault(voice_id, name)  # an active preset's name first
    return names


def session_words(session: AvatarSession, voices: dict[str, str] | None = None) -> dict[str, Any]:
    """The session's settings for a page: `voices` is voice_names() of a whole list, so
    a page of sessions costs one query; without it this session's voice is looked up."""
    if voices is None:
        voices = voice_names([session.voice_id])
    return {
        "voice_name": voices.get(session.voice_id, session.voice_id) or gettext("the avatar’s own"),
        "language_name": language_name(session.language),
        "mode_name": mode_name(session.mode, use_llm=session.use_llm),
        "duration_used": duration_words(session.used_seconds),
    }


# A session's status as the staff pages and the admin say it (the stored values are
# protocol words: "active" is a live session).
def preset_name(session: AvatarSession) -> str:
    """The session's preset as people know it: its name; its slug once the preset is gone
    (empty when the session had none: each caller says what stands in)."""
    return session.preset.name if session.preset else session.preset_slug


def session_title(session: AvatarSession) -> str:
    """What the admin calls a session: "Guide: ended, started 2026-12-01 14:05" (its
    preset's name; its slug once the preset is gone; else its avatar)."""
    who = preset_name(session) or f"Avatar {session.avatar_id}"
    since, at = (
        ("started", session.started_at) if session.started_at else ("created", session.created_at)
    )
    when = timezone.localtime(at).strftime("%Y-%m-%d %H:%M")
    return f"{who}: {status_name(session.status).lower()}, {since} {when}"


def percent(value: float | int) -> str:
    """A share as the staff pages write it, one style everywhere: "18 %" (rounded)."""
    return f"{round(value)} %"
