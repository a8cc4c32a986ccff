"""The site's pages: the avatar page and the user's session history."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from sessions import display
from sessions.access import user_principal
from sessions.models import AvatarSession, TranscriptEntry
from sessions.services import consent, retention
from sessions.services.answers import llm_enabled
from sessions.services.transcript import settled_now
from sessions.signin import SiteAuthenticationForm


def page_config(request: HttpRequest, embed: dict | None = None) -> dict:
    """What the page's JavaScript needs to know; never a secret. `embed`: the embed page's
    own part (sessions/embed_views.py), which then has no user, no sign-in and no CSRF
    token (it never uses cookies: its visitor token goes in a header)."""
    if embed is None:
        who = {
            "user": request.user.get_username() if request.user.is_authenticated else "",
            "csrfToken": get_token(request),
            "loginUrl": reverse("login"),  # offered when a socket says the sign-in ended
        }
    else:
        who = {"user": "", **embed}
    return {
        **who,
        "apiBase": "/api/v1",
        "agoraSdkUrl": static("vendor/agora/AgoraRTC_N-production.esm.mjs"),
        "agoraEventReport": settings.AGORA_EVENT_REPORT,
        # Each network's SDK, fetched only when a session uses it (static/js/transport.js).
        "livekitSdkUrl": static("vendor/livekit/livekit-client.esm.mjs"),
        "trtcSdkUrl": static("vendor/trtc/trtc.js"),
        "cameraEnabled": settings.CAMERA_ENABLED,
        # When the page cannot join a session's network: "offer" a retry on another,
        # retry at once ("auto"), or not at all ("off") (README "Networks").
        "fallback": settings.AKOOL_FALLBACK,
        "joinTimeoutMs": int(settings.RTC_JOIN_TIMEOUT_SECONDS * 1000),
        # The start page's cards preview the sandbox's drawn faces (thumbnails otherwise).
        "sandboxFaces": settings.AVATAR_PROVIDER == "sandbox",
        "llmAvailable": llm_enabled(),
        "defaultDuration": settings.SESSION_DEFAULT_DURATION,
        "maxDuration": settings.SESSION_MAX_DURATION,
        "minDuration": settings.SESSION_MIN_DURATION,
        "speechSynthesis": True,
        "chatMaxChars": settings.CHAT_MAX_CHARS,  # the chat box's cap and counter
        # The page paces the frames it passes on with the server's rule (static/js/pacing.js).
        "streamBytesPerSecond": settings.STREAM_BYTES_PER_SECOND,
        "streamJitterAllowance": settings.STREAM_JITTER_ALLOWANCE,
        # The recording notice above Start (static/js/consent.js) and the end warning's
        # lead (static/js/extend.js).
        "recordingNotice": consent.recording_notice(),
        "endWarningSeconds": settings.SESSION_END_WARNING,
        "noticeFadeSeconds": settings.NOTICE_FADE_SECONDS,  # static/js/notices.js
    }


def avatar_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated and not settings.ANONYMOUS_SESSIONS:
        return redirect_to_login(request.get_full_path())
    return render(request, "avatar.html", {"page_config": page_config(request)})


def _history_row(session: AvatarSession, voices: dict[str, str] | None = None) -> dict:
    row = session.to_dict()
    row["preset_name"] = display.preset_name(session)
    row.update(display.session_words(session, voices))
    row["transcript_deleted_at"] = session.transcript_deleted_at
    return row


@login_required
def history(request: HttpRequest) -> HttpResponse:
    mine = AvatarSession.objects.owned_by(user_principal(request.user))
    sessions = mine.select_related("preset")
    page_obj = Paginator(sessions, 20).get_page(request.GET.get("page"))
    voices = display.voice_names(s.voice_id for s in page_obj)
    return render(
        request,
        "history.html",
        {
            "sessions": [_history_row(s, voices) for s in page_obj],
            "page_obj": page_obj,
            "retention_days": settings.TRANSCRIPT_RETENTION_DAYS,
        },
    )


def _own_session(request: HttpRequest, session_id: uuid.UUID) -> AvatarSession:
    """The signed-in user's session; another's answers 404, exactly like a missing one."""
    session = (
        AvatarSession.objects.owned_by(user_principal(request.user))
        .filter(pk=session_id)
        .select_related("preset")
        .first()
    )
    if session is None:
        raise Http404(_("No such session."))
    return session


@login_required
def history_detail(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = _own_session(request, session_id)
    messages = [e.to_dict() for e in session.transcript.exclude(text="", unspoken="")]
    return render(
        request, "history_detail.html", {"session": _history_row(session), "messages": messages}
    )


@login_required
@require_http_methods(["GET", "POST"])
def delete_transcript(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    """GET asks for confirmation; POST (with its CSRF token) deletes. A live session's
    transcript is still being written: refused with a 409 saying so."""
    session = _own_session(request, session_id)
    context = {"session": _history_row(session)}
    try:
        if session.is_live:
            raise retention.SessionLive
        if request.method == "POST":
            retention.delete_own_transcript(session)
            return redirect("history-detail", session_id=session.pk)
    except retention.SessionLive:
        context["refused"] = _(
            "This session is still going on, so its transcript cannot be deleted yet. "
            "End the session first, then delete its transcript."
        )
        return render(request, "history_delete.html", context, status=409)
    return render(request, "history_delete.html", context)


@login_required
@never_cache
def export_history(request: HttpRequest) -> JsonResponse:
    """All the signed-in user's sessions (those started through their API tokens too)
    and their transcripts, as one JSON download; nobody else's."""
    mine = AvatarSession.objects.owned_by(user_principal(request.user)).order_by("created_at")
    settled_now()  # the lines typed a moment ago in this process too
    lines: dict[Any, list[dict]] = {}
    entries = TranscriptEntry.objects.filter(session__in=mine).exclude(text="", unspoken="")
    for entry in entries.order_by("created_at", "id").iterator():
        lines.setdefault(entry.session_id, []).append(entry.to_dict())
    sessions = []
    for session in mine.select_related("preset").iterator():
        row = session.to_dict()
        del row["rtc"], row["ws_path"]  # join credentials and socket paths are no record
        row["preset_name"] = display.preset_name(session)
        row["transcript_deleted_at"] = session.transcript_deleted_at
        row["transcript"] = lines.get(session.pk, [])
        sessions.append(row)
    body = {
        "user": request.user.get_username(),
        "exported_at": timezone.now(),
        "sessions": sessions,
    }
    response = JsonResponse(body, json_dumps_params={"indent": 1})
    stamp = timezone.now().strftime("%Y-%m-%d")
    response["Content-Disposition"] = f'attachment; filename="avatarsite-sessions-{stamp}.json"'
    return response


class SiteLoginView(LoginView):
    template_name = "registration/login.html"
    authentication_form = SiteAuthenticationForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled():
            response.status_code = 429  # the form says why, and for how long
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if settings.DEBUG:
            context["demo_hint"] = _(
                "Demo account: demo / demo-password (created by make run and manage.py seed_demo)."
            )
        return context
