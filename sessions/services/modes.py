"""Which modes a preset's sessions may run in: the one home of that rule.

A preset that answers with our LLM has its guardrails (declined topics, the moderation
endpoint) applied to our LLM's answers only: in dialogue mode (2) the avatar's own
assistant answers and nothing of ours checks it. So such a preset, when it has a
guardrail, allows retelling (1) only: a caller cannot switch its checks off by asking for
dialogue, neither at create nor mid-session (set_params). Other presets allow both.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext as _

from sessions import errors
from sessions.llm.guardrails import parse_topics
from sessions.models import AvatarPreset
from sessions.services.answers import llm_enabled

Mode = AvatarPreset.Mode
ALL_MODES = (Mode.RETELLING.value, Mode.DIALOGUE.value)


def guarded(preset: AvatarPreset | None) -> bool:
    """Our LLM answers this preset's sessions and a guardrail watches it."""
    if preset is None or not preset.use_llm or not llm_enabled():
        return False
    return bool(parse_topics(preset.declined_topics) or settings.LLM_MODERATION_URL)


def allowed_modes(preset: AvatarPreset | None) -> tuple[int, ...]:
    """The modes a session of `preset` may run in (the presets API lists them)."""
    return (Mode.RETELLING.value,) if guarded(preset) else ALL_MODES


def default_mode(preset: AvatarPreset) -> int:
    """The mode a session of `preset` starts in when nobody chooses one (the presets API
    reports it as the preset's `mode`; a session create without `mode` uses it). A preset
    that answers with our LLM starts in retelling (1), where our LLM answers, whatever its
    own mode says: in dialogue the avatar's own assistant would answer instead."""
    if preset.use_llm and llm_enabled():
        return Mode.RETELLING.value
    return preset.mode


def check_mode(preset: AvatarPreset | None, mode: int | None) -> None:
    """Refuse (BadInput: 400 / an error frame) a mode `preset` does not allow; None (the
    preset's own) is always fine."""
    if mode is not None and mode not in allowed_modes(preset):
        raise errors.BadInput(
            "mode_not_allowed",
            _(
                "This avatar answers with our own assistant, whose answers are checked, "
                "so it cannot be switched to the avatar's own dialogue mode."
            ),
        )
