"""Outbound webhooks in the admin (issue 21): endpoints with the events they want, their
secret shown once (when made and when rotated), and every delivery with its attempts,
re-sendable by hand.

Everything needs the models' own permissions: view, add and change on endpoints (rotating
a secret is a change); view on deliveries, change to re-send. A delivery's data (the
transcript of a session.closed) is not shown here: reading transcripts is the audit's,
which records it. Creating, changing, rotating and re-sending are recorded as StaffActions.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.forms import Script
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from sessions.services import staff_actions, tool_urls, webhooks
from sessions.staff import lookups
from sessions.staff.shown_once import shown_once
from sessions.webhook_models import WebhookDelivery, WebhookEndpoint, WebhookEvent, new_secret


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=1000, assume_scheme="https", label=gettext_lazy("URL"))
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        label=gettext_lazy("Events"),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "events", "active"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        # The tools' rule (https, public addresses, TOOL_HTTP_HOSTS): checked again at each send.
        if problem := tool_urls.endpoint_problem(url):
            raise forms.ValidationError(problem)
        return url


def _record(request: HttpRequest, endpoint: WebhookEndpoint, action: str, what: str) -> None:
    staff_actions.record(
        request.user, staff_actions.Kind.WEBHOOK, what, endpoint=endpoint.pk, action=action
    )


def _secret_page(request: HttpRequest, admin_site, endpoint: WebhookEndpoint, secret: str):
    return shown_once(
        request,
        admin_site,
        WebhookEndpoint,
        "admin/avatar_sessions/webhookendpoint/secret_shown.html",
        title=_("The endpoint's signing secret"),
        endpoint=endpoint,
        secret=secret,
    )


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(lookups.DeclaredFiltersOnly, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["name", "url", "events_shown", "active", "pending", "failed", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "url"]
    readonly_fields = ["created_at"]
    actions = ["rotate_secret"]

    class Media:
        js = [Script("js/staff_token.js", type="module")]  # the secret page's copy button

    def has_delete_permission(self, request, obj=None) -> bool:
        # Turned off, not deleted: its deliveries stay to be seen.
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending_count=Count("deliveries", filter=Q(deliveries__status="pending")),
                failed_count=Count("deliveries", filter=Q(deliveries__status="failed")),
            )
        )

    @admin.display(description=gettext_lazy("events"))
    def events_shown(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.events) or "—"

    @admin.display(description=gettext_lazy("waiting"), ordering="pending_count")
    def pending(self, obj: WebhookEndpoint) -> int:
        return obj.pending_count

    @admin.display(description=gettext_lazy("failed"), ordering="failed_count")
    def failed(self, obj: WebhookEndpoint) -> int:
        return obj.failed_count

    def save_model(self, request, obj: WebhookEndpoint, form, change) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            _record(request, obj, "webhook_create", f"Created webhook endpoint {obj.name}.")
        elif form.changed_data:
            fields = ", ".join(sorted(form.changed_data))
            what = f"Changed webhook endpoint {obj.name}: {fields}."
            _record(request, obj, "webhook_change", what)

    def response_add(self, request: HttpRequest, obj: WebhookEndpoint, post_url_continue=None):
        return _secret_page(request, self.admin_site, obj, obj.secret)

    @admin.action(description=gettext_lazy("Give the selected endpoint a new secret"))
    def rotate_secret(self, request, queryset):
        endpoints = list(queryset[:2])
        if len(endpoints) != 1:
            messages.error(request, _("Select one endpoint: its new secret is shown once."))
            return None
        endpoint = endpoints[0]
        endpoint.secret = new_secret()
        endpoint.save(update_fields=["secret"])
        _record(request, endpoint, "webhook_rotate", f"Rotated the secret of {endpoint.name}.")
        return _secret_page(request, self.admin_site, endpoint, endpoint.secret)

    rotate_secret.allowed_permissions = ["change"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(lookups.DeclaredFiltersOnly, admin.ModelAdmin):
    list_display = [
        "created_at",
        "event",
        "endpoint",
        "session_id_text",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event", "endpoint"]
    list_select_related = ["endpoint"]
    search_fields = ["session_id_text", "=id"]
    fields = [
        "id",
        "endpoint",
        "event",
        "session_id_text",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    ]
    readonly_fields = fields
    actions = ["send_again"]

    def has_add_permission(self, request) -> bool:
        return False  # events make deliveries; staff re-send them

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Send the selected deliveries again"))
    def send_again(self, request, queryset) -> None:
        deliveries = list(queryset.select_related("endpoint"))
        for delivery in deliveries:
            again = webhooks.resend(delivery)
            staff_actions.record(
                request.user,
                staff_actions.Kind.WEBHOOK,
                f"Sent {delivery.event} again to {delivery.endpoint.name}.",
                session=delivery.session_id_text or None,
                endpoint=delivery.endpoint_id,
                delivery=str(delivery.pk),
                new_delivery=str(again.pk),
                action="webhook_resend",
            )
        count = len(deliveries)
        messages.success(
            request,
            ngettext(
                "%(count)d delivery will be sent again.",
                "%(count)d deliveries will be sent again.",
                count,
            )
            % {"count": count},
        )

    send_again.allowed_permissions = ["change"]
