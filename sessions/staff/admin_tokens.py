"""API tokens in the admin: created with their secret shown once, listed by state, revoked
by an action (change permission).

A token acts as its owner, so who may mint one for whom is the users' own rule:
- a token for oneself, unless one may change users (`auth.change_user`), who may mint
  them for others;
- never for a superuser, unless one is;
- once created, its owner and its revocation are read-only (the revoke action revokes;
  nothing un-revokes).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from sessions.models import ApiToken
from sessions.services import staff_actions
from sessions.staff import lookups
from sessions.staff.shown_once import shown_once

# Who may mint tokens for other users (and pick the owner at all).
CHOOSE_OWNER_PERMISSION = "auth.change_user"


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
class ApiTokenAdmin(lookups.DeclaredFiltersOnly, admin.ModelAdmin):
    list_display = ["name", "owner", "prefix", "state", "created_at", "last_used"]
    list_filter = [TokenStateFilter, ("owner", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["owner"]
    search_fields = ["name", "owner__username", "prefix"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    autocomplete_fields = ["owner"]
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return ["owner", "name", "revoked_at", *self.readonly_fields] if obj else ["owner", "name"]

    def get_readonly_fields(self, request, obj=None):
        # Django ignores posted values of read-only fields: a change cannot move a token
        # to another user or clear its revocation.
        return ["owner", "revoked_at", *self.readonly_fields] if obj else []

    def changelist_view(self, request: HttpRequest, extra_context=None):
        # Django's "Select %s to change" has no article; "API token" needs "an".
        verb = "change" if self.has_change_permission(request) else "view"
        extra_context = {"title": f"Select an API token to {verb}", **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    @staticmethod
    def may_choose_owner(request: HttpRequest) -> bool:
        return request.user.has_perm(CHOOSE_OWNER_PERMISSION)

    def get_autocomplete_fields(self, request):
        # The user search lists everyone: only for those who may pick among them.
        return ["owner"] if self.may_choose_owner(request) else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "owner":
            # Anyone outside this queryset is "not one of the available choices": a
            # posted id of another user (or of a superuser) is a form error.
            users = db_field.remote_field.model._default_manager
            if not self.may_choose_owner(request):
                kwargs.update(queryset=users.filter(pk=request.user.pk), empty_label=None)
            elif not request.user.is_superuser:
                kwargs["queryset"] = users.filter(is_superuser=False)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

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
        if not change:
            staff_actions.record(
                request.user,
                staff_actions.Kind.TOKEN,
                f"Minted API token {obj.prefix} for a user.",
                token=obj.pk,
                action="mint",
                **staff_actions.about_user(obj.owner, name=obj.name),
            )

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue=None):
        raw = getattr(obj, "raw_secret", None)
        if raw is None:  # pragma: no cover - every add sets it
            return super().response_add(request, obj, post_url_continue)
        return shown_once(
            request,
            self.admin_site,
            self.model,
            "admin/avatar_sessions/apitoken/token_created.html",
            title="Token created",
            token=obj,
            secret=raw,
        )

    @admin.action(description=gettext_lazy("Revoke selected tokens"), permissions=["change"])
    def revoke(self, request, queryset) -> None:
        now, count = timezone.now(), 0
        for token in queryset.filter(revoked_at__isnull=True):
            # Saved one by one, not updated in bulk: saving a revoked token closes its live
            # sockets at once (sessions.services.revocation), a bulk update only at their
            # next heartbeat.
            token.revoked_at = now
            token.save(update_fields=["revoked_at"])
            staff_actions.record(
                request.user,
                staff_actions.Kind.TOKEN,
                f"Revoked API token {token.prefix} of a user.",
                token=token.pk,
                action="revoke",
                **staff_actions.about_user(token.owner, name=token.name),
            )
            count += 1
        messages.success(request, f"Revoked {count} token" + ("" if count == 1 else "s") + ".")
