"""The JSON API under /api/v1/ (django-ninja: the same pydantic schemas validate
requests and generate /api/v1/openapi.json)."""

from __future__ import annotations

import json
import logging
import math
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest
from ninja import NinjaAPI, Schema
from ninja import Status as Reply
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security.base import AuthBase
from ninja.utils import check_csrf
from pydantic import BeforeValidator, ConfigDict, Field

from . import catalog, lifecycle, presence
from .answers import llm_enabled
from .errors import ApiError, api_error_response, error_response
from .models import (
    AvatarPreset,
    AvatarSession,
    CloseReason,
    SessionEvent,
    Status,
    TranscriptEntry,
    VoicePreset,
)
from .principals import (
    Principal,
    anonymous_allowed,
    bearer_from_header,
    client_ip,
    token_principal,
    user_principal,
    visitor_principal,
)

log = logging.getLogger("avatarsite.api")


# --- Authentication -----------------------------------------------------------
class ApiAuth(AuthBase):
    """Bearer API token, or the site's session cookie (with CSRF on unsafe methods).

    Sync on purpose: ninja runs it in a thread for async views, where the ORM and the
    lazy `request.user` are safe to touch.
    """

    openapi_type = "http"
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> Principal | None:
        header = request.headers.get("Authorization")
        if header is not None:
            raw = bearer_from_header(header)
            principal = token_principal(raw) if raw else None
            if principal is None:
                raise ApiError(401, "invalid_token", "The API token is invalid or revoked.")
            return principal
        user = request.user
        if not user.is_authenticated and not anonymous_allowed():
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS") and check_csrf(request):
            raise ApiError(
                403,
                "csrf_failed",
                "CSRF check failed: send the X-CSRFToken header with the csrftoken cookie.",
            )
        if user.is_authenticated:
            return user_principal(user)
        if request.session.session_key is None:
            request.session.save()
        ip = client_ip(
            request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", "")
        )
        return visitor_principal(request.session.session_key, ip)


api = NinjaAPI(
    title="avatarsite API",
    version="1",
    description=(
        "Start, follow and end live avatar sessions. Authenticate with "
        "'Authorization: Bearer <token>' (or the site's session cookie and X-CSRFToken)."
    ),
    auth=ApiAuth(),
    urls_namespace="api",
    docs_url="/docs",
)


# --- Errors: one shape everywhere ---------------------------------------------------
@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError):
    return api_error_response(exc)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError):
    return error_response(
        401,
        "not_authenticated",
        "Sign in, or send an API token as 'Authorization: Bearer <token>'.",
    )


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "data"))
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", ""))


def _specific(error: dict[str, Any], request: HttpRequest) -> tuple[str, str] | None:
    """The errors a client can act on get their own code and a plainer message."""
    field, kind = str(error.get("loc", ("",))[-1]), error.get("type")
    if field == "duration" and kind in ("greater_than_equal", "less_than_equal"):
        low, high = settings.SESSION_MIN_DURATION, settings.SESSION_MAX_DURATION
        return "invalid_duration", f"duration must be between {low} and {high} seconds."
    if field == "language" and kind == "literal_error":
        try:  # ninja's errors leave the input out; the body has it
            given = str(json.loads(request.body).get("language"))[:20]
        except (ValueError, AttributeError):
            given = "?"
        known = ", ".join(catalog.KNOWN_LANGUAGES)
        return "invalid_language", f"Unknown language '{given}'; use one of {known}."
    return None


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError):
    specific = _specific(exc.errors[0], request) if len(exc.errors) == 1 else None
    if specific:
        return error_response(422, *specific)
    details = "; ".join(_describe(e) for e in exc.errors[:5]) or "invalid request"
    return error_response(422, "invalid_request", f"The request is not valid: {details}.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError):
    if exc.status_code == 400:
        return error_response(400, "bad_json", "The request body is not valid JSON.")
    return error_response(exc.status_code, "http_error", str(exc))


@api.exception_handler(OperationalError)
def _database_unavailable(request: HttpRequest, exc: OperationalError):
    # The database is unreachable or every pooled connection is busy: try again soon.
    log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
    response = error_response(
        503, "database_unavailable", "The service is busy right now; please try again shortly."
    )
    response["Retry-After"] = "5"
    return response


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception):
    log.exception("unexpected error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", "Something went wrong on our side.")


# --- Schemas ---------------------------------------------------------------
class ErrorDetail(Schema):
    code: str
    message: str


class ErrorOut(Schema):
    error: ErrorDetail


class RtcOut(Schema):
    provider: Literal["agora", "sandbox"]
    app_id: str
    channel: str
    token: str
    uid: int | str


class SessionOut(Schema):
    id: uuid.UUID
    status: Literal["starting", "active", "closing", "closed", "failed"]
    preset: str
    avatar_id: str
    voice_id: str
    language: str
    mode: int
    duration: int
    created_at: datetime
    started_at: datetime | None
    expires_at: datetime | None
    closed_at: datetime | None
    close_reason: Literal[tuple(CloseReason.values)] | None  # type: ignore[valid-type]
    error: str | None
    background_url: str
    ws_path: str
    rtc: RtcOut | None


class SessionPage(Schema):
    items: list[SessionOut]
    count: int
    page: int
    pages: int


def _integral(value: Any) -> Any:
    """JSON has one number type: 600.0 is the integer 600, but true and "600" are not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


def integral(low: int, high: int) -> Any:
    # The bounds go on the int itself, before the validator wraps it, so the schema says
    # minimum/maximum.
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_integral)]


Language = Literal[tuple(catalog.KNOWN_LANGUAGES)]  # type: ignore[valid-type]


class CreateSessionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    preset: Annotated[str, Field(min_length=1, max_length=50)]
    voice: Annotated[str, Field(max_length=200)] | None = None
    language: Language | None = None
    mode: integral(1, 2) | None = None  # type: ignore[valid-type]
    # Bounds as configured at start-up (the view checks the live setting again).
    duration: integral(settings.SESSION_MIN_DURATION, settings.SESSION_MAX_DURATION) | None = None  # type: ignore[valid-type]


class CloseSessionIn(Schema):
    """Why the owner ends the session: by choice ("user", the default) or because it
    failed on their side ("error", e.g. the video channel could not be joined)."""

    model_config = ConfigDict(extra="forbid")

    reason: Literal["user", "error"] = "user"
    detail: Annotated[str, Field(max_length=300)] = ""


class AvatarPresetOut(Schema):
    slug: str
    name: str
    avatar_id: str
    thumbnail_url: str
    default_voice: str | None
    language: str
    mode: int
    background_url: str
    use_llm: bool


class VoicePresetOut(Schema):
    slug: str
    name: str
    voice_id: str
    language: str
    gender: str
    preview_url: str


class LanguageOut(Schema):
    code: str
    name: str


class PresetsOut(Schema):
    avatars: list[AvatarPresetOut]
    voices: list[VoicePresetOut]
    languages: list[LanguageOut]


class TranscriptLine(Schema):
    role: Literal["user", "avatar"]
    mid: str
    text: str
    at: datetime
    cut: bool  # the avatar was cut short (an interrupt, the end of the time, a reload)


class TranscriptOut(Schema):
    messages: list[TranscriptLine]


ERRORS: dict[int, type[Schema]] = {
    code: ErrorOut for code in (400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 502, 503, 504)
}


# --- Helpers ---------------------------------------------------------------
def _principal(request: HttpRequest) -> Principal:
    return request.auth  # type: ignore[attr-defined,return-value]


async def _visible_session(request: HttpRequest, session_id: uuid.UUID) -> AvatarSession:
    session = await AvatarSession.objects.filter(pk=session_id).afirst()
    # Someone else's session is answered exactly like a missing one: ids leak nothing.
    if session is None or not await _principal(request).can_see(session):
        raise ApiError(404, "session_not_found", "No such session.")
    return session


def _session_out(request: HttpRequest, session: AvatarSession) -> dict[str, Any]:
    return session.to_dict(include_rtc=_principal(request).owns(session))


# --- Operations -----------------------------------------------------------
@api.get("/presets", response={200: PresetsOut, **ERRORS}, tags=["presets"])
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
            "mode": p.mode,
            "background_url": p.background_url,
            "use_llm": p.use_llm,
        }
        async for p in AvatarPreset.objects.filter(active=True).select_related("default_voice")
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


@api.post("/sessions", response={201: SessionOut, **ERRORS}, tags=["sessions"])
async def create_session(request: HttpRequest, payload: CreateSessionIn):
    """Start a live avatar session. Limits apply: 429 with Retry-After when one is hit."""
    preset = await catalog.active_preset(payload.preset)
    if preset is None:
        raise ApiError(404, "preset_not_found", f"No active avatar preset '{payload.preset}'.")
    voice_id = preset.default_voice.voice_id if preset.default_voice else ""
    if payload.voice is not None:
        voice = await catalog.active_voice(payload.voice)
        if voice is None:
            raise ApiError(404, "voice_not_found", f"No active voice preset '{payload.voice}'.")
        voice_id = voice.voice_id
    language = payload.language or preset.language
    if language not in catalog.KNOWN_LANGUAGES:
        raise ApiError(422, "invalid_language", f"Unknown language '{language}'.")
    duration = settings.SESSION_DEFAULT_DURATION if payload.duration is None else payload.duration
    low, high = settings.SESSION_MIN_DURATION, settings.SESSION_MAX_DURATION
    if not low <= duration <= high:
        raise ApiError(
            422, "invalid_duration", f"duration must be between {low} and {high} seconds."
        )
    # A preset that answers with our LLM runs in retelling mode (the avatar speaks our
    # answer) unless the caller asks for the avatar's own dialogue mode.
    use_llm = preset.use_llm and llm_enabled() and payload.mode != 2
    mode = 1 if use_llm else (payload.mode or preset.mode)
    session = await lifecycle.open_session(
        _principal(request),
        preset=preset,
        voice_id=voice_id,
        language=language,
        mode=mode,
        duration=min(duration, high),
        use_llm=use_llm,
    )
    return Reply(201, _session_out(request, session))


@api.get("/sessions", response={200: SessionPage, **ERRORS}, tags=["sessions"])
async def list_sessions(
    request: HttpRequest,
    page: Annotated[int, Field(ge=1, le=100000)] = 1,
    page_size: Annotated[int, Field(ge=1, le=100)] = 20,
    status: Literal["starting", "active", "closing", "closed", "failed"] | None = None,
):
    """The caller's own sessions, newest first."""
    principal = _principal(request)
    if principal.user is not None:
        sessions = AvatarSession.objects.filter(owner=principal.user)
    else:
        sessions = AvatarSession.objects.filter(visitor_key=principal.visitor_key)
    if status:
        sessions = sessions.filter(status=status)
    count = await sessions.acount()
    start = (page - 1) * page_size
    items = [
        _session_out(request, s)
        async for s in sessions.order_by("-created_at")[start : start + page_size]
    ]
    return {
        "items": items,
        "count": count,
        "page": page,
        "pages": max(1, math.ceil(count / page_size)),
    }


@api.get("/sessions/{session_id}", response={200: SessionOut, **ERRORS}, tags=["sessions"])
async def get_session(request: HttpRequest, session_id: uuid.UUID):
    session = await _visible_session(request, session_id)
    return _session_out(request, session)


@api.post("/sessions/{session_id}/close", response={200: SessionOut, **ERRORS}, tags=["sessions"])
async def close_session(
    request: HttpRequest, session_id: uuid.UUID, payload: CloseSessionIn | None = None
):
    """End the session (upstream too). Closing a closed session is fine. The body is
    optional: `{"reason": "error", "detail": "..."}` records that it failed on the
    client's side (staff closing someone else's session always record "admin")."""
    session = await _visible_session(request, session_id)
    principal = _principal(request)
    if not await principal.can_close(session):
        raise ApiError(403, "forbidden", "You may watch this session but not close it.")
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
    session = await lifecycle.close_session(session.pk, reason)
    return _session_out(request, session)


@api.post("/sessions/{session_id}/leave", response={202: None, **ERRORS}, tags=["sessions"])
async def leave_session(request: HttpRequest, session_id: uuid.UUID):
    """The page went away (a `navigator.sendBeacon` on pagehide, with the CSRF token in
    a form field). The session closes after a short grace unless a socket of it
    reconnects, so a reload resumes it."""
    session = await _visible_session(request, session_id)
    if not _principal(request).owns(session):
        # Only the owner's page leaves; staff end sessions with close (reason "admin").
        raise ApiError(403, "forbidden", "Only the session's owner can leave it.")
    if session.status != Status.ACTIVE:
        return Reply(202, None)
    await lifecycle.record_event(session.pk, SessionEvent.Kind.INFO, "page left (beacon)")
    # What the avatar was saying is cut: the page that passed its words on is gone (a
    # reload shows the line as interrupted; if the page comes back the line stays cut).
    await TranscriptEntry.objects.filter(session=session, role="avatar", final=False).aupdate(
        final=True, cut=True
    )
    lifecycle.in_background(
        lifecycle.close_if_abandoned(
            session.pk, await presence.page_left(session.pk), grace=settings.SESSION_LEAVE_GRACE
        )
    )
    return Reply(202, None)


@api.get(
    "/sessions/{session_id}/transcript", response={200: TranscriptOut, **ERRORS}, tags=["sessions"]
)
async def transcript(request: HttpRequest, session_id: uuid.UUID):
    session = await _visible_session(request, session_id)
    lines = [
        entry.to_dict()
        async for entry in session.transcript.exclude(text="").order_by("created_at", "id")
    ]
    return {"messages": lines}
