"""The site's pages: the avatar page and the user's session history."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView, redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse

from sessions import display
from sessions.access import user_principal
from sessions.models import AvatarSession
from sessions.services import consent
from sessions.services.answers import llm_enabled
from sessions.signin import SiteAuthenticationForm


def page_config(request: HttpRequest) -> dict:
    """What the page's JavaScript needs to know; never a secret."""
    return {
        "user": request.user.get_username() if request.user.is_authenticated else "",
        "csrfToken": get_token(request),
        "loginUrl": reverse("login"),  # offered when a socket says the sign-in ended
        "apiBase": "/api/v1",
        "agoraSdkUrl": static("vendor/agora/AgoraRTC_N-production.esm.mjs"),
        "agoraEventReport": settings.AGORA_EVENT_REPORT,
        "cameraEnabled": settings.CAMERA_ENABLED,
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
    }


def avatar_page(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated and not settings.ANONYMOUS_SESSIONS:
        return redirect_to_login(request.get_full_path())
    return render(request, "avatar.html", {"page_config": page_config(request)})


def _history_row(session: AvatarSession, voices: dict[str, str] | None = None) -> dict:
    row = session.to_dict()
    row["preset_name"] = session.preset.name if session.preset else session.preset_slug
    row.update(display.session_words(session, voices))
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
        {"sessions": [_history_row(s, voices) for s in page_obj], "page_obj": page_obj},
    )


@login_required
def history_detail(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = (
        AvatarSession.objects.owned_by(user_principal(request.user))
        .filter(pk=session_id)
        .select_related("preset")
        .first()
    )
    if session is None:
        raise Http404("No such session.")
    messages = [e.to_dict() for e in session.transcript.exclude(text="")]
    return render(
        request, "history_detail.html", {"session": _history_row(session), "messages": messages}
    )


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
            context["demo_hint"] = (
                "Demo account: demo / demo-password (created by make run and manage.py seed_demo)."
            )
        return context
