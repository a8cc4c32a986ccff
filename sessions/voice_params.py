"""A preset's voice parameters as the one voice-params schema reads them."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from pydantic import ValidationError as PydanticError

log = logging.getLogger("avatarsite.presets")


def checked_voice_params(value: Any) -> dict[str, Any]:
    """`value` as api.schemas.VoiceParams reads it (the fields given), or a
    ValidationError saying what is wrong, one message per problem."""
    # Imported here: the schemas import this module.
    from sessions.api.schemas import VoiceParams, voice_params_problems

    try:
        return VoiceParams.model_validate(value).as_data()
    except PydanticError as exc:
        raise ValidationError(voice_params_problems(exc)) from None


def usable_voice_params(stored: Any, *, preset_id: Any) -> dict[str, Any]:
    """A preset's voice parameters as they may be sent (at create and on a change): the
    schema's reading, or none at all for a preset saved before the schema checked them
    (logged, never sent half-valid)."""
    try:
        return checked_voice_params(stored or {})
    except ValidationError as exc:
        log.warning("preset %s: voice_params ignored (%s)", preset_id, "; ".join(exc.messages))
        return {}
