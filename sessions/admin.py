"""Staff tools: presets, API tokens, and a read-only audit of sessions."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from . import lifecycle
from .errors import ApiError
from .models import (
    LIVE_STATUSES,
    ApiToken,
    AvatarPreset,
    AvatarSession,
    CloseReason,
    SessionEvent,
    TranscriptEntry,
    VoicePreset,
)


@admin.register(VoicePreset)
class VoicePresetAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "voice_id", "language", "gender", "active", "order", "preview"]
    list_editable = ["active", "order"]
    list_filter = ["active", "language", "gender"]
    search_fields = ["name", "slug", "voice_id"]
    prepopulated_fields = {"slug": ["name"]}

    @admin.display(description="preview")
    def preview(self, obj: VoicePreset) -> str:
        if not obj.preview_url:
            return "—"
        return format_html('<audio controls preload="none" src="{}"></audio>', obj.preview_url)


@admin.register(AvatarPreset)
class AvatarPresetAdmin(admin.ModelAdmin):
    list_display = ["thumbnail", "name", "slug", "avatar_id", "language", "mode", "active", "order"]
    list_display_links = ["thumbnail", "name"]
    list_editable = ["active", "order"]
    list_filter = ["active", "mode", "language", "use_llm"]
    search_fields = ["name", "slug", "avatar_id"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["default_voice"]

    @admin.display(description="")
    def thumbnail(self, obj: AvatarPreset) -> str:
        if not obj.thumbnail_url:
            return "—"
        return format_html('<img src="{}" alt="" style="height:40px">', obj.thumbnail_url)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "owner__username", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return ["owner", "name", "revoked_at", *self.readonly_fields] if obj else ["owner", "name"]

    def save_model(self, request, obj: ApiToken, form, change) -> None:
        raw = None if change else obj.set_secret()
        super().save_model(request, obj, form, change)
        if raw:
            # Shown once: only its hash is stored.
            messages.warning(
                request, f"The new token is {raw} — copy it now; it is not shown again."
            )

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        messages.success(request, f"Revoked {count} token(s).")


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class TranscriptInline(ReadOnlyInline):
    model = TranscriptEntry
    fields = ["created_at", "role", "text", "final", "cut"]
    readonly_fields = fields


class EventInline(ReadOnlyInline):
    model = SessionEvent
    fields = ["created_at", "kind", "message", "data"]
    readonly_fields = fields


@admin.register(AvatarSession)
class AvatarSessionAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "owner",
        "preset_slug",
        "status",
        "close_reason",
        "created_at",
        "duration",
        "used",
    ]
    list_filter = ["status", "close_reason", "provider", "preset", "created_at"]
    search_fields = ["id", "upstream_id", "owner__username", "principal", "preset_slug"]
    date_hierarchy = "created_at"
    inlines = [TranscriptInline, EventInline]
    actions = ["close_live"]
    exclude = ["rtc", "slots", "visitor_key"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name not in self.exclude]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="used")
    def used(self, obj: AvatarSession) -> str:
        used = obj.used_seconds
        return "—" if used is None else f"{used // 60}:{used % 60:02d}"

    @admin.action(description="Close selected live sessions", permissions=["change"])
    def close_live(self, request, queryset) -> None:
        closed, failed = 0, 0
        for session in queryset.filter(status__in=LIVE_STATUSES):
            try:
                async_to_sync(lifecycle.close_session)(session.pk, CloseReason.ADMIN)
                closed += 1
            except ApiError as exc:
                failed += 1
                messages.error(request, f"{session.pk}: {exc.message}")
        messages.success(request, f"Closed {closed} session(s); {failed} failed.")
