"""Extend: a live session carries on in a follow-on session rather than ending abruptly.

The follow-on is a new upstream session (AKool's durations are fixed at create), made
through the normal create path, so every cap (concurrency, hourly creates, spend) applies
to it as to any other; it continues the old one (`continues`) with the same preset,
voice, language, mode, background and owner, counted against the caller. Only once it is
live is the old one closed (reason `extended`): a refusal leaves the old session running
to its end.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from sessions import errors, keys, shared_cache
from sessions.access import Principal
from sessions.models import AvatarSession, CloseReason, SessionEvent, Status
from sessions.services import catalog, lifecycle
from sessions.services.consent import require_consent

log = logging.getLogger("avatarsite.extend")

# How long one Extend holds its session's lock: a create waits for AKool at most its
# connect and read timeouts; a crash mid-extend frees the lock after this.
EXTEND_LOCK_SECONDS = 120


async def _extendable(principal: Principal, session_id: Any, consent: bool) -> AvatarSession:
    """The caller's live session whose preset allows Extend, or the refusal that says why."""
    visible = AvatarSession.objects.visible_to(principal).select_related("preset")
    session = await visible.filter(pk=session_id).afirst()
    if session is None:  # someone else's is answered like a missing one
        raise errors.NotFound("session_not_found", _("No such session."))
    if not principal.owns(session):
        raise errors.Forbidden("forbidden", _("Only the session's owner can extend it."))
    preset = session.preset
    # A preset the caller may no longer start (turned off; for a website's visitor, taken
    # off its key) is not started again by Extend either: catalog.offered_presets is the rule.
    offered = preset is not None and (
        await catalog.offered_presets(principal).filter(pk=preset.pk).aexists()
    )
    if not offered or not preset.extend_allowed:
        raise errors.Forbidden(
            "extend_not_allowed", _("This avatar's sessions cannot be extended.")
        )
    # The tick is asked for now if the preset asks for it now (it may have been turned on
    # since the session started): the same rule as a create's.
    require_consent(preset, consent)
    if session.status != Status.ACTIVE or (
        session.expires_at is not None and session.expires_at <= timezone.now()
    ):
        raise errors.Conflict(
            "session_not_live",
            _("This session is no longer running, so it cannot be extended. Start a new one."),
        )
    return session


async def extend_session(
    principal: Principal, session_id: Any, *, consent: bool = False
) -> AvatarSession:
    """Open the follow-on of the caller's live session and close the old one. Raises
    DomainError (the old session goes on untouched)."""
    old = await _extendable(principal, session_id, consent)
    lock = keys.extending(old.pk)
    if not await shared_cache.add(lock, 1, EXTEND_LOCK_SECONDS):
        raise errors.Conflict("extend_in_progress", _("This session is already being extended."))
    try:
        # A cloned voice (sent by URL) leaves no voice id in the row: the preset's again.
        voice_id, voice_url = (
            (old.voice_id, "") if old.voice_id else await catalog.start_voice(old.preset)
        )
        new = await lifecycle.open_session(
            # The caller's own principal (this sign-in or token), never the old
            # session's: that token may have been revoked since. A token's sessions count
            # against its user's caps too, so the caps hold either way.
            principal,
            preset=old.preset,
            voice_id=voice_id,
            voice_url=voice_url,
            language=old.language,
            mode=old.mode,
            duration=old.duration,
            use_llm=old.use_llm,
            continues=old,
        )
    except BaseException:
        await shared_cache.delete(lock)  # refused or failed: a later Extend may try again
        raise
    await lifecycle.record_event(
        old.pk, SessionEvent.Kind.INFO, "extended: continued in a follow-on session", to=str(new.pk)
    )
    await lifecycle.record_event(
        new.pk, SessionEvent.Kind.INFO, "continues an extended session", continues=str(old.pk)
    )
    # The old session's pages are told by its closed frame (reason `extended`); a close
    # that fails upstream is retried by the reaper, as any other.
    await lifecycle.close_quietly(old.pk, CloseReason.EXTENDED)
    log.info("session %s extended into %s", old.pk, new.pk)
    return new
