"""The read-only session audit: filters, the session page with its transcript, event log
and timings, exports, closing live sessions, and the URLs of the usage page and the live view.

The audit, its exports and the live view need view on avatar sessions; closing sessions
needs change; usage needs `avatar_sessions.view_usage`.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from sessions import display
from sessions.models import LIVE_STATUSES, AvatarSession, Status
from sessions.services import staff_actions
from sessions.staff import admin_tools, audit, exports, lookups, turn_timings
from sessions.staff import views as staff


def preset_words(session: AvatarSession) -> str:
    """The preset as its filter names it; its slug only when the preset is gone."""
    return display.preset_name(session) or "—"


@admin.register(AvatarSession)
class AvatarSessionAdmin(lookups.DeclaredFiltersOnly, admin.ModelAdmin):
    list_display = [
        "short_id",
        "owner",
        "preset_name",
        "status_badge",
        "close_reason",
        "created",
        "reserved",
        "used",
        "chats",
        "watch",
    ]
    list_filter = [
        "status",
        "close_reason",
        ("owner", admin.RelatedOnlyFieldListFilter),
        ("preset", admin.RelatedOnlyFieldListFilter),
        "provider",
        "created_at",
    ]
    list_select_related = ["owner", "preset"]
    search_fields = [
        "id",
        "upstream_id",
        "owner__username",
        "principal",
        "preset_slug",
    ]
    date_hierarchy = "created_at"
    # Beside the list's filters: one session (its page's export link) and the usage
    # page's per-preset rows.
    extra_lookups = ("id__exact", "preset_slug__exact")
    actions = ["close_live", "export_csv", "export_json"]
    exclude = ["rtc", "slots", "visitor_key"]
    inlines = [admin_tools.ToolCallInline]
    fieldsets = [
        (None, {"fields": ["id", "owner", "principal", "preset", "status", "close_reason"]}),
        # A website's visitor's session (issue 20): which embed key it came through.
        ("Website", {"fields": ["embed_key"]}),
        ("Time", {"fields": ["created_at", "started_at", "expires_at", "closed_at", "duration"]}),
        (
            "Avatar",
            {
                "fields": [
                    "provider",
                    "upstream_id",
                    "avatar_id",
                    "voice",
                    "language_shown",
                    "mode_shown",
                ]
            },
        ),
        (
            "More",
            {
                "classes": ["collapse"],
                "fields": [
                    "preset_slug",
                    "background_url",
                    "use_llm",
                    "error",
                    "close_attempts",
                    "chats",
                    "frames_sent",
                    "bytes_sent",
                ],
            },
        ),
    ]

    # The session page shows these in words (sessions/display.py) instead of the raw fields.
    WORDS = ["voice", "language_shown", "mode_shown", "chats"]

    def get_readonly_fields(self, request, obj=None):
        fields = [f.name for f in self.model._meta.fields if f.name not in self.exclude]
        return fields + self.WORDS

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    # --- URLs: usage, exports, live view, closing one session -----------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "usage/",
                wrap(lambda request: staff.usage_page(request, self)),
                name="avatar_sessions_avatarsession_usage",
            ),
            path(
                "export.<str:fmt>",
                wrap(self.export_view),
                name="avatar_sessions_avatarsession_export",
            ),
            path(
                "<uuid:object_id>/live/",
                wrap(lambda request, object_id: staff.live_page(request, self, object_id)),
                name="avatar_sessions_avatarsession_live",
            ),
            path(
                "<uuid:object_id>/close/",
                wrap(self.close_view),
                name="avatar_sessions_avatarsession_close",
            ),
            *super().get_urls(),
        ]

    # --- list columns -----------------------------------------------------------------------

    @admin.display(description="session")
    def short_id(self, obj: AvatarSession) -> str:
        return str(obj.pk)[:8]

    @admin.display(description="preset", ordering="preset__name")
    def preset_name(self, obj: AvatarSession) -> str:
        return preset_words(obj)

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: AvatarSession) -> str:
        return timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: AvatarSession) -> str:
        return format_html(
            '<span class="badge status-{}">{}</span>', obj.status, display.status_name(obj.status)
        )

    @admin.display(description="reserved", ordering="duration")
    def reserved(self, obj: AvatarSession) -> str:
        return f"{obj.duration // 60}:{obj.duration % 60:02d}"

    @admin.display(description="used")
    def used(self, obj: AvatarSession) -> str:
        used = obj.used_seconds
        return "—" if used is None else f"{used // 60}:{used % 60:02d}"

    @admin.display(description="chats", ordering="chat_count")
    def chats(self, obj: AvatarSession) -> str:
        sent, so_far = audit.chats_sent(obj)
        # A live session's stored count lags (audit.chats_sent): the words say "so far".
        return f"{sent} so far" if so_far else str(sent)

    @admin.display(description="voice")
    def voice(self, obj: AvatarSession) -> str:
        name = display.voice_names([obj.voice_id]).get(obj.voice_id)
        if not obj.voice_id:
            return "the avatar’s own"
        return f"{name} ({obj.voice_id})" if name else obj.voice_id

    @admin.display(description="language")
    def language_shown(self, obj: AvatarSession) -> str:
        name = display.language_name(obj.language)
        return f"{name} ({obj.language})" if obj.language and name != obj.language else name

    @admin.display(description="mode")
    def mode_shown(self, obj: AvatarSession) -> str:
        return display.mode_name(obj.mode, use_llm=obj.use_llm)

    @admin.display(description="")
    def watch(self, obj: AvatarSession) -> str:
        if obj.status != Status.ACTIVE:
            return ""
        return format_html(
            '<a class="watch-link" href="{}">Watch live</a>',
            reverse("admin:avatar_sessions_avatarsession_live", args=[obj.pk]),
        )

    # --- pages ---------------------------------------------------------------------------------

    def changelist_view(self, request: HttpRequest, extra_context=None):
        query = request.GET.copy()
        query.pop("p", None)  # an export is of every page
        suffix = f"?{query.urlencode()}" if query else ""
        extra_context = {
            **(extra_context or {}),
            "export_csv_url": self._export_url("csv") + suffix,
            "export_json_url": self._export_url("json") + suffix,
            "can_view_usage": request.user.has_perm(staff.USAGE_PERMISSION),
            "usage_url": reverse("admin:avatar_sessions_avatarsession_usage"),
            "title": "Session audit",
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        session = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if session is not None:
            owner = session.owner.get_username() if session.owner else "a visitor"
            if self.has_view_permission(request, session):  # else Django answers 403
                staff_actions.record(
                    request.user,
                    staff_actions.Kind.VIEW,
                    f"Read the record of session {session.pk}.",
                    session=session,
                )
            extra.update(
                title=_("Session %(id)s: %(preset)s with %(owner)s")
                % {"id": str(session.pk)[:8], "preset": preset_words(session), "owner": owner},
                timings=audit.display_rows(audit.session_timings(session))
                + turn_timings.session_rows(session),
                **audit.record_pages(session, request.GET),
                event_counts=audit.event_counts(session),
                speaker=session.owner.get_username() if session.owner else "visitor",
                is_live=session.status in LIVE_STATUSES,
                can_watch=session.status == Status.ACTIVE,
                can_close=session.status in LIVE_STATUSES
                and self.has_change_permission(request, session),
                live_url=reverse("admin:avatar_sessions_avatarsession_live", args=[session.pk]),
                close_url=reverse("admin:avatar_sessions_avatarsession_close", args=[session.pk]),
                export_json_url=self._export_url("json")
                + "?"
                + urlencode({"id__exact": str(session.pk)}),
                # Read-only: nothing to save.
                show_save=False,
                show_save_and_continue=False,
                show_save_and_add_another=False,
                show_delete=False,
            )
        return super().change_view(request, object_id, form_url, extra)

    def close_view(self, request: HttpRequest, object_id) -> HttpResponse:
        """GET: the confirmation page of ending one live session; POST (its form, with
        CSRF) ends it. Nothing ends a session on one click."""
        if request.method == "POST":
            return staff.close_one(request, self, object_id)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "POST"])
        session = get_object_or_404(AvatarSession.objects.select_related("owner"), pk=object_id)
        if not self.has_change_permission(request, session):
            raise PermissionDenied
        record_url = reverse("admin:avatar_sessions_avatarsession_change", args=[session.pk])
        if session.status not in LIVE_STATUSES:
            messages.info(request, "That session is not live any more: nothing to end.")
            return HttpResponseRedirect(record_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "End this live session?",
            "session": session,
            "owner": session.owner.get_username() if session.owner else "an anonymous visitor",
            "record_url": record_url,
        }
        return TemplateResponse(
            request, "admin/avatar_sessions/avatarsession/close_confirm.html", context
        )

    def _export_url(self, fmt: str) -> str:
        return reverse("admin:avatar_sessions_avatarsession_export", args=[fmt])

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponse:
        if fmt not in exports.FORMATS:
            raise Http404("No such export format.")
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            # The changelist's own filters, search and ordering (so its rule of which
            # filters staff may use): the export is exactly the sessions the list shows,
            # on every page.
            queryset = self.get_changelist_instance(request).queryset
        except (IncorrectLookupParameters, DisallowedModelAdminLookup):
            return HttpResponseBadRequest(lookups.REFUSED, content_type="text/plain; charset=utf-8")
        return exports.recorded_export(request, queryset, fmt)

    # --- actions -------------------------------------------------------------------------------

    @admin.action(description=gettext_lazy("End selected live sessions"), permissions=["change"])
    def close_live(self, request, queryset) -> None:
        staff.close_sessions(request, queryset.filter(status__in=LIVE_STATUSES), via="action")

    @admin.action(description=gettext_lazy("Export selected sessions with transcripts (CSV)"))
    def export_csv(self, request, queryset) -> HttpResponse:
        return exports.recorded_export(request, queryset, "csv")

    @admin.action(description=gettext_lazy("Export selected sessions with transcripts (JSON)"))
    def export_json(self, request, queryset) -> HttpResponse:
        return exports.recorded_export(request, queryset, "json")
