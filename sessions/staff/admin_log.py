"""The staff action log and the spend alerts in the admin: records to read, never to
write. Nobody (not even a superuser) may add, change or delete a row, and neither has
actions; rows come only from sessions.services.staff_actions and services.spend.

The staff action log is for superusers only: it says which staff member read whose
conversation. The spend alerts are for those who may see usage figures.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from sessions.models import SpendAlert, StaffAction
from sessions.staff import lookups

USAGE_PERMISSION = "avatar_sessions.view_usage"


class ReadOnlyAdmin(lookups.DeclaredFiltersOnly, admin.ModelAdmin):
    actions = None

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        extra = {**(extra_context or {}), "show_save": False, "show_delete": False}
        extra.update(show_save_and_continue=False, show_save_and_add_another=False)
        return super().change_view(request, object_id, form_url, extra)


class ActorFilter(admin.SimpleListFilter):
    """By the name recorded (the account may be gone since)."""

    title = "staff member"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        names = StaffAction.objects.order_by("actor_name").values_list("actor_name", flat=True)
        return [(name, name) for name in names.distinct()]

    def queryset(self, request, queryset):
        return queryset.filter(actor_name=self.value()) if self.value() else queryset


@admin.register(StaffAction)
class StaffActionAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_name", "kind", "what", "session_link"]
    list_filter = [ActorFilter, "kind", "at"]
    search_fields = ["actor_name", "what", "session_id_text"]
    date_hierarchy = "at"

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    @admin.display(description="session")
    def session_link(self, obj: StaffAction) -> str:
        if not obj.session_id_text:
            return ""
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:avatar_sessions_avatarsession_change", args=[obj.session_id_text]),
            obj.session_id_text[:8],
        )


@admin.register(SpendAlert)
class SpendAlertAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "period", "period_start", "percent", "minutes", "cap"]
    list_filter = ["period", "percent"]

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_active and request.user.has_perm(USAGE_PERMISSION)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)
