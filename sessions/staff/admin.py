"""Staff tools in the admin: presets (with the catalog import), API tokens, and the
read-only session audit (filters, the session page with its transcript, event log and
timings, exports, closing live sessions), plus the usage page and the live view.

Every page and action stays within the user's Django permissions:
- presets and tokens: the model's own view/add/change permissions;
- the catalog import: add and change on both avatar and voice presets;
- the audit, its exports and the live view: view on avatar sessions;
- closing sessions: change on avatar sessions;
- usage: `avatar_sessions.view_usage`.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.forms import Script
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode

from sessions.models import (
    LIVE_STATUSES,
    ApiToken,
    AvatarPreset,
    AvatarSession,
    Status,
    VoicePreset,
)
from sessions.staff import audit, exports
from sessions.staff import views as staff

admin.site.site_header = "avatarsite staff"
admin.site.site_title = "avatarsite staff"
admin.site.index_title = "Staff tools"
# The staff bar (templates/admin/base_site.html) is the navigation; the sidebar would
# only take the width the audit's columns need.
admin.site.enable_nav_sidebar = False


# --- Presets ------------------------------------------------------------------------------


class CatalogImportMixin:
    """The import button (a POST to ./import/) and action on a preset changelist."""

    # Django 6 assumes https for scheme-less URLs; so do we, already.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "import/",
                self.admin_site.admin_view(lambda request: staff.import_catalog(request, self)),
                name=f"{opts.app_label}_{opts.model_name}_import",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_import": staff.can_import(request),
            "catalog_source": staff.catalog_source(),
            "import_url": reverse(
                f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_import"
            ),
        }
        return super().changelist_view(request, extra_context)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        if not staff.can_import(request):
            actions.pop("import_catalog", None)
        return actions

    @admin.action(description="Import or refresh the whole catalog (any selection will do)")
    def import_catalog(self, request: HttpRequest, queryset: QuerySet) -> None:
        staff.run_import(request)


@admin.register(VoicePreset)
class VoicePresetAdmin(CatalogImportMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "voice_id", "language", "gender", "active", "order", "preview"]
    list_editable = ["active", "order"]
    list_filter = ["active", "language", "gender"]
    search_fields = ["name", "slug", "voice_id"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["preview"]
    actions = ["import_catalog"]

    class Media:
        js = [Script("js/staff_presets.js", type="module")]

    @admin.display(description="preview")
    def preview(self, obj: VoicePreset) -> str:
        if obj.preview_url:
            return format_html(
                '<audio class="voice-preview" controls preload="none" src="{}" '
                'aria-label="Preview of {}"></audio>',
                obj.preview_url,
                obj.name,
            )
        if obj.voice_id.startswith("sandbox_"):
            # The sandbox avatar speaks with the browser's speech synthesis: so does this.
            return format_html(
                '<button type="button" class="button voice-sample" data-lang="{}" '
                'data-gender="{}" data-name="{}">▶ Sample</button>',
                obj.language or "en",
                obj.gender,
                obj.name,
            )
        return "—"


@admin.register(AvatarPreset)
class AvatarPresetAdmin(CatalogImportMixin, admin.ModelAdmin):
    list_display = [
        "thumbnail",
        "name",
        "slug",
        "avatar_id",
        "default_voice",
        "language",
        "mode",
        "active",
        "order",
    ]
    list_display_links = ["thumbnail", "name"]
    list_editable = ["active", "order"]
    list_filter = ["active", "mode", "language", "use_llm"]
    list_select_related = ["default_voice"]
    search_fields = ["name", "slug", "avatar_id"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["default_voice"]
    readonly_fields = ["thumbnail_preview"]
    actions = ["import_catalog"]

    class Media:
        js = [Script("js/staff_presets.js", type="module")]

    @admin.display(description="")
    def thumbnail(self, obj: AvatarPreset) -> str:
        if not obj.thumbnail_url:
            return format_html('<span class="preset-thumb preset-thumb-empty">{}</span>', "—")
        return format_html(
            '<img class="preset-thumb" src="{}" alt="" loading="lazy">', obj.thumbnail_url
        )

    @admin.display(description="thumbnail")
    def thumbnail_preview(self, obj: AvatarPreset) -> str:
        if not obj.thumbnail_url:
            return "—"
        return format_html(
            '<img class="preset-thumb-large" src="{}" alt="{}">', obj.thumbnail_url, obj.name
        )


# --- API tokens -----------------------------------------------------------------------------


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "active"), ("revoked", "revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "prefix", "state", "created_at", "last_used"]
    list_filter = [TokenStateFilter, ("owner", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["owner"]
    search_fields = ["name", "owner__username", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    autocomplete_fields = ["owner"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return ["owner", "name", "revoked_at", *self.readonly_fields] if obj else ["owner", "name"]

    @admin.display(description="state")
    def state(self, obj: ApiToken) -> str:
        return format_html(
            '<span class="badge {}">{}</span>',
            "state-revoked" if obj.revoked else "state-active",
            "revoked" if obj.revoked else "active",
        )

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj: ApiToken) -> str:
        return obj.last_used_at or "never"

    def save_model(self, request, obj: ApiToken, form, change) -> None:
        if not change:
            # Kept on this request's instance only: the page below shows it once.
            obj.raw_secret = obj.set_secret()  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue=None):
        raw = getattr(obj, "raw_secret", None)
        if raw is None:  # pragma: no cover - every add sets it
            return super().response_add(request, obj, post_url_continue)
        # Rendered here, never put in a message: messages travel in a cookie or the
        # session store, and the secret must exist nowhere but on this one page.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Token created",
            "token": obj,
            "raw": raw,
            "changelist_url": reverse("admin:avatar_sessions_apitoken_changelist"),
        }
        response = TemplateResponse(
            request, "admin/avatar_sessions/apitoken/token_created.html", context
        )
        response["Cache-Control"] = "no-store, private"
        return response

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        now, count = timezone.now(), 0
        for token in queryset.filter(revoked_at__isnull=True):
            # Saved one by one, not updated in bulk: saving a revoked token closes its
            # live sockets at once (sessions.revocation), a bulk update only at their
            # next heartbeat.
            token.revoked_at = now
            token.save(update_fields=["revoked_at"])
            count += 1
        messages.success(request, f"Revoked {count} token(s).")


# --- Session audit ----------------------------------------------------------------------------


@admin.register(AvatarSession)
class AvatarSessionAdmin(admin.ModelAdmin):
    list_display = [
        "short_id",
        "owner",
        "preset_slug",
        "status_badge",
        "close_reason",
        "created",
        "reserved",
        "used",
        "chat_count",
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
    list_select_related = ["owner"]
    search_fields = [
        "id",
        "upstream_id",
        "owner__username",
        "principal",
        "preset_slug",
        "transcript__text",
    ]
    date_hierarchy = "created_at"
    actions = ["close_live", "export_csv", "export_json"]
    exclude = ["rtc", "slots", "visitor_key"]
    fieldsets = [
        (None, {"fields": ["id", "owner", "principal", "preset", "status", "close_reason"]}),
        ("Time", {"fields": ["created_at", "started_at", "expires_at", "closed_at", "duration"]}),
        (
            "Avatar",
            {"fields": ["provider", "upstream_id", "avatar_id", "voice_id", "language", "mode"]},
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
                    "chat_count",
                    "frames_sent",
                    "bytes_sent",
                ],
            },
        ),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in self.exclude]

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
                wrap(lambda request, object_id: staff.close_one(request, self, object_id)),
                name="avatar_sessions_avatarsession_close",
            ),
            *super().get_urls(),
        ]

    # --- list columns -----------------------------------------------------------------------

    @admin.display(description="session")
    def short_id(self, obj: AvatarSession) -> str:
        return str(obj.pk)[:8]

    @admin.display(description="created", ordering="created_at")
    def created(self, obj: AvatarSession) -> str:
        return timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: AvatarSession) -> str:
        return format_html('<span class="badge status-{}">{}</span>', obj.status, obj.status)

    @admin.display(description="reserved", ordering="duration")
    def reserved(self, obj: AvatarSession) -> str:
        return f"{obj.duration // 60}:{obj.duration % 60:02d}"

    @admin.display(description="used")
    def used(self, obj: AvatarSession) -> str:
        used = obj.used_seconds
        return "—" if used is None else f"{used // 60}:{used % 60:02d}"

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
            transcript = list(session.transcript.order_by("created_at", "id"))
            events = list(session.events.order_by("created_at", "id"))
            owner = session.owner.get_username() if session.owner else "a visitor"
            extra.update(
                title=f"Session {str(session.pk)[:8]}: {session.preset_slug} with {owner}",
                timings=audit.display_rows(audit.timings(session, transcript, events)),
                transcript=transcript,
                events=events,
                event_counts=audit.event_counts(events),
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

    def _export_url(self, fmt: str) -> str:
        return reverse("admin:avatar_sessions_avatarsession_export", args=[fmt])

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponse:
        if fmt not in exports.FORMATS:
            raise Http404("No such export format.")
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            # The changelist's own filters, search and ordering: the export is exactly
            # the sessions the list shows, on every page.
            queryset = self.get_changelist_instance(request).queryset
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("Those filters are not valid.")
        return exports.export_response(queryset, fmt)

    # --- actions -------------------------------------------------------------------------------

    @admin.action(description="Close selected live sessions", permissions=["change"])
    def close_live(self, request, queryset) -> None:
        staff.close_sessions(request, queryset.filter(status__in=LIVE_STATUSES))

    @admin.action(description="Export selected sessions with transcripts (CSV)")
    def export_csv(self, request, queryset) -> HttpResponse:
        return exports.export_response(queryset, "csv")

    @admin.action(description="Export selected sessions with transcripts (JSON)")
    def export_json(self, request, queryset) -> HttpResponse:
        return exports.export_response(queryset, "json")
