"""The session endpoints: start, extend, fall back, list, read, close, leave, transcript."""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any, Literal

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router
from ninja import Status as Reply
from pydantic import Field

from sessions import errors
from sessions.api.auth import keep_visitor_session, principal_of
from sessions.api.http_errors import CALLS_UPSTREAM, ONE_SESSION, TAKES_BODY, error_map
from sessions.api.schemas import (
    CloseSessionIn,
    CreateSessionIn,
    ExtendSessionIn,
    FallbackIn,
    SessionOut,
    SessionPage,
    TranscriptOut,
)
from sessions.models import AvatarSession, CloseReason, Mode, SessionEvent, Status
from sessions.services import catalog, consent, lifecycle, modes, presence, staff_actions
from sessions.services.answers import llm_enabled
from sessions.services.extend import extend_session
from sessions.services.fallback import fall_back
from sessions.services.transcript import finish_avatar_lines, settled

router = Router(tags=["sessions"])


async def _visible_session(request: HttpRequest, session_id: uuid.UUID) -> AvatarSession:
    visible = AvatarSession.objects.visible_to(principal_of(request))
    session = await visible.filter(pk=session_id).afirst()
    # Someone else's session is answered exactly like a missing one: ids leak nothing.
    if session is None:
        raise errors.NotFound("session_not_found", _("No such session."))
    return session


async def _record_staff_read(request: HttpRequest, session: AvatarSession, what: str) -> None:
    """Staff reading someone else's session through the API is on the record (README
    "Staff accountability"), before anything of it is shown. Owners read unrecorded."""
    principal = principal_of(request)
    if not principal.owns(session):
        await staff_actions.arecord(
            principal.user, staff_actions.Kind.VIEW, what, session=session, via="api"
        )


def _session_out(request: HttpRequest, session: AvatarSession) -> dict[str, Any]:
    return session.to_dict(include_rtc=principal_of(request).owns(session))


async def _session_seen(request: HttpRequest, session: AvatarSession) -> dict[str, Any]:
    """The session as read (GET): with `connected`, whether an owner's page holds it now."""
    out = _session_out(request, session)
    live = session.status in (Status.STARTING, Status.ACTIVE)
    out["connected"] = live and await presence.page_connected(session.pk)
    return out


@router.post(
    "/sessions",
    response={201: SessionOut, **error_map(*TAKES_BODY, 404, 409, 429, *CALLS_UPSTREAM)},
)
async def create_session(request: HttpRequest, payload: CreateSessionIn):
    """Start a live avatar session. Limits apply: 429 with Retry-After when one is hit."""
    preset = await catalog.active_preset(payload.preset, principal_of(request))
    if preset is None:
        raise errors.NotFound(
            "preset_not_found",
            _("No active avatar preset “%(name)s”.") % {"name": payload.preset},
        )
    consent.require_consent(preset, payload.consent)
    modes.check_mode(preset, payload.mode)  # dialogue would skip its guardrails
    chosen = None if payload.voice is None else await catalog.voice(payload.voice)
    voice_id, voice_url = await catalog.start_voice(preset, chosen)
    language = payload.language or preset.language
    catalog.check_language(language)  # the preset's may not be one the provider speaks
    duration = settings.SESSION_DEFAULT_DURATION if payload.duration is None else payload.duration
    low, high = settings.SESSION_MIN_DURATION, settings.SESSION_MAX_DURATION
    if not low <= duration <= high:
        raise errors.Invalid(
            "invalid_duration",
            _("The duration must be between %(low)d and %(high)d seconds.")
            % {"low": low, "high": high},
        )
    # A preset that answers with our LLM runs in retelling mode (the avatar speaks our
    # answer) unless the caller asks for the avatar's own dialogue mode (modes.default_mode).
    mode = payload.mode or modes.default_mode(preset)
    use_llm = preset.use_llm and llm_enabled() and mode != Mode.DIALOGUE
    session = await lifecycle.open_session(
        principal_of(request),
        preset=preset,
        voice_id=voice_id,
        voice_url=voice_url,
        language=language,
        mode=mode,
        duration=min(duration, high),
        use_llm=use_llm,
    )
    await keep_visitor_session(request)
    return Reply(201, _session_out(request, session))


@router.post(
    "/sessions/{session_id}/extend",
    # An optional body; size-checked (413) and CSRF-checked (403) like every API request.
    response={
        201: SessionOut,
        **error_map(*TAKES_BODY, 409, 429, *ONE_SESSION, *CALLS_UPSTREAM),
    },
)
async def extend(
    request: HttpRequest, session_id: uuid.UUID, payload: ExtendSessionIn | None = None
):
    """Go on in a follow-on session: a new session (same preset, voice, language, mode
    and background) that `continues` this one, which closes with reason `extended`. The
    preset must allow it and the usual limits apply; on a refusal this session goes on.
    A preset that requires the recording notice's tick needs `{"consent": true}` here
    too (400 `consent_required`), even if it did not when this session started."""
    consent = (payload or ExtendSessionIn()).consent
    session = await extend_session(principal_of(request), session_id, consent=consent)
    return Reply(201, _session_out(request, session))


@router.post(
    "/sessions/{session_id}/fallback",
    response={200: SessionOut, **error_map(*TAKES_BODY, 409, *ONE_SESSION, *CALLS_UPSTREAM)},
)
async def fallback(request: HttpRequest, session_id: uuid.UUID, payload: FallbackIn | None = None):
    """The page could not join the session's network: move the same session (id, socket,
    slot, transcript) to another network, once. The body is optional: `{"network": ...}`
    picks one of `fallback_networks` (default: the first). The first upstream session is
    closed, then one is made on the other network; the answer carries the new `rtc`. 409
    `session_not_live`, `fallback_used` (one per session) or `no_fallback`; 400
    `unknown_network`; an upstream failure (502/503/504) fails the session."""
    network = (payload or FallbackIn()).network
    session = await fall_back(principal_of(request), session_id, network)
    return _session_out(request, session)


@router.get("/sessions", response={200: SessionPage, **error_map(422)})
async def list_sessions(
    request: HttpRequest,
    page: Annotated[int, Field(ge=1, le=100000)] = 1,
    page_size: Annotated[int, Field(ge=1, le=100)] = 20,
    status: Literal["starting", "active", "closing", "closed", "failed"] | None = None,
):
    """The caller's own sessions, newest first."""
    sessions = AvatarSession.objects.owned_by(principal_of(request))
    if status:
        sessions = sessions.filter(status=status)
    count = await sessions.acount()
    start = (page - 1) * page_size
    items = [
        await _session_seen(request, s)
        async for s in sessions.order_by("-created_at")[start : start + page_size]
    ]
    return {
        "items": items,
        "count": count,
        "page": page,
        "pages": max(1, math.ceil(count / page_size)),
    }


@router.get("/sessions/{session_id}", response={200: SessionOut, **error_map(*ONE_SESSION)})
async def get_session(request: HttpRequest, session_id: uuid.UUID):
    session = await _visible_session(request, session_id)
    await _record_staff_read(
        request, session, f"Read the details of session {session.pk} through the API."
    )
    return await _session_seen(request, session)


@router.post(
    "/sessions/{session_id}/close",
    response={200: SessionOut, **error_map(*TAKES_BODY, *ONE_SESSION, *CALLS_UPSTREAM)},
)
async def close_session(
    request: HttpRequest, session_id: uuid.UUID, payload: CloseSessionIn | None = None
):
    """End the session (upstream too). Closing a closed session is fine. The body is
    optional: `{"reason": "error", "detail": "..."}` records that it failed on the
    client's side (staff closing someone else's session always record "admin")."""
    session = await _visible_session(request, session_id)
    principal = principal_of(request)
    if not principal.can_close(session):
        raise errors.Forbidden("forbidden", _("You may watch this session but not close it."))
    payload = payload or CloseSessionIn()
    if not principal.owns(session):
        reason = CloseReason.ADMIN
    elif payload.reason == "error":
        reason = CloseReason.ERROR
        if session.status in (Status.STARTING, Status.ACTIVE):
            await lifecycle.record_event(
                session.pk,
                SessionEvent.Kind.ERROR,
                f"the page failed: {payload.detail or 'no detail given'}",
            )
    else:
        reason = CloseReason.USER
    if reason != CloseReason.ADMIN:
        return _session_out(request, await lifecycle.close_session(session.pk, reason))
    return _session_out(request, await _staff_close(principal, session))


async def _staff_close(principal: Any, session: AvatarSession) -> AvatarSession:
    """Staff ending someone else's live session: recorded like the admin's close (with
    whether the upstream confirmed it). Closing an ended one changes nothing: no record."""
    if session.status not in (Status.STARTING, Status.ACTIVE, Status.CLOSING):
        return await lifecycle.close_session(session.pk, CloseReason.ADMIN)
    failure: errors.DomainError | None = None
    try:
        closed = await lifecycle.close_session(session.pk, CloseReason.ADMIN)
    except errors.DomainError as exc:
        failure = exc
    outcome = "not confirmed yet" if failure else "ended"
    await staff_actions.arecord(
        principal.user,
        staff_actions.Kind.CLOSE,
        f"Ended session {session.pk} through the API ({outcome}).",
        session=session,
        via="api",
        outcome=outcome,
    )
    if failure is not None:
        raise failure
    return closed


# A beacon: no JSON body, but cookie-signed (CSRF in a form field) and size-checked.
@router.post(
    "/sessions/{session_id}/leave", response={202: None, **error_map(403, 413, *ONE_SESSION)}
)
async def leave_session(request: HttpRequest, session_id: uuid.UUID):
    """The page went away (a `navigator.sendBeacon` on pagehide, with the CSRF token in
    a form field). The session closes after a short grace unless a socket of it
    reconnects, so a reload resumes it."""
    session = await _visible_session(request, session_id)
    if not principal_of(request).owns(session):
        # Only the owner's page leaves; staff end sessions with close (reason "admin").
        raise errors.Forbidden("forbidden", _("Only the session's owner can leave it."))
    if session.status != Status.ACTIVE or not await presence.first_beacon(session.pk):
        # One pending close per session: more beacons before a socket reconnects start
        # nothing and record nothing (2,000 beacons are one task, not 2,000).
        return Reply(202, None)
    await lifecycle.record_event(session.pk, SessionEvent.Kind.INFO, "page left (beacon)")
    # What the avatar was saying is cut: the page that passed its words on is gone (a
    # reload shows the line as interrupted; if the page comes back the line stays cut).
    # Not while another tab of the owner still passes them on (the leaving page's own
    # socket is still counted: the beacon comes before it closes).
    if await presence.owner_sockets(session.pk) <= 1:
        await finish_avatar_lines(session.pk, cut=True)
    lifecycle.in_background(
        lifecycle.close_if_abandoned(
            session.pk, await presence.page_left(session.pk), grace=settings.SESSION_LEAVE_GRACE
        )
    )
    return Reply(202, None)


@router.get(
    "/sessions/{session_id}/transcript", response={200: TranscriptOut, **error_map(*ONE_SESSION)}
)
async def transcript(request: HttpRequest, session_id: uuid.UUID):
    session = await _visible_session(request, session_id)
    await _record_staff_read(
        request, session, f"Read the transcript of session {session.pk} through the API."
    )
    await settled()  # lines typed a moment ago in this process too
    lines = [
        entry.to_dict()
        async for entry in session.transcript.exclude(text="", unspoken="").order_by(
            "created_at", "id"
        )
    ]
    return {"messages": lines}
