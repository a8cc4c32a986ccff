"""Embed keys in the admin (issue 20): a website's key with its origins, presets, what the
host page may ask and its limits; the snippet to paste; its usage; turning it off or on.

Everything needs the model's own permissions (view, add, change). Turning a key off, by
the form or the list's action (after a confirmation page), is sessions.services.embeds
.revoke: its live sessions end at once. Creating, changing and turning a key off or on is
recorded as a StaffAction.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.forms import Script
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from sessions.embed_models import EmbedKey
from sessions.models import LIVE_STATUSES
from sessions.services import embeds, spend, staff_actions
from sessions.staff import lookups


class EmbedKeyForm(forms.ModelForm):
    class Meta:
        model = EmbedKey
        fields = [
            "name",
            "active",
            "allowed_origins",
            "presets",
            "host_may_start",
            "host_may_end",
            "host_may_say",
            "visitor_sessions_per_hour",
            "visitor_concurrent",
            "visitor_minutes_per_day",
            "key_sessions_per_hour",
            "key_concurrent",
            "key_minutes_per_day",
        ]
        widgets = {
            "allowed_origins": forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
            "presets": forms.CheckboxSelectMultiple,
        }
        labels = {
            "allowed_origins": gettext_lazy("Allowed websites"),
            "host_may_start": gettext_lazy("The website may start a session"),
            "host_may_end": gettext_lazy("The website may end the session"),
            "host_may_say": gettext_lazy("The website may type for the visitor"),
            "visitor_sessions_per_hour": gettext_lazy("Sessions per hour"),
            "visitor_concurrent": gettext_lazy("Sessions at once"),
            "visitor_minutes_per_day": gettext_lazy("Minutes per day"),
            "key_sessions_per_hour": gettext_lazy("Sessions per hour"),
            "key_concurrent": gettext_lazy("Sessions at once"),
            "key_minutes_per_day": gettext_lazy("Minutes per day"),
        }
        # 0 means opposite things here (limits.take_daily_minutes: no cap; a slot or an
        # hourly count: no session at all): said beside each, so nobody sets 0 to stop a
        # key's spending and lifts its cap instead.
        help_texts = {
            **dict.fromkeys(
                ["visitor_minutes_per_day", "key_minutes_per_day"],
                gettext_lazy("0: no daily cap (the site's own spending caps still apply)."),
            ),
            **dict.fromkeys(
                [
                    "visitor_sessions_per_hour",
                    "visitor_concurrent",
                    "key_sessions_per_hour",
                    "key_concurrent",
                ],
                gettext_lazy("0: no session starts."),
            ),
        }

    def clean_allowed_origins(self) -> str:
        # The model's own rule (EmbedKey.clean), run here so its error shows on the field.
        probe = EmbedKey(allowed_origins=self.cleaned_data["allowed_origins"])
        try:
            probe.clean()
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return probe.allowed_origins

    def _update_errors(self, errors):
        # Once the field refused the origins, the model's clean() ran on the old ones (none
        # for a new key): its "List at least one origin." would only repeat the field's error.
        if self.has_error("allowed_origins") and hasattr(errors, "error_dict"):
            errors.error_dict.pop("allowed_origins", None)
            if not errors.error_dict:
                return
        super()._update_errors(errors)


def snippets(request: HttpRequest, key: EmbedKey) -> dict[str, str]:
    """What the website pastes: the one-line script tag, and the element form (for a
    page that places the avatar itself), with this site's origin as the request names it."""
    script = request.build_absolute_uri("/embed.js")
    label = escape(_("Talk to us"))
    return {
        "script": f'<script src="{script}" data-key="{key.public_key}" async></script>',
        "element": (
            f'<script src="{script}" async></script>\n'
            f'<avatar-embed key="{key.public_key}" label="{label}"></avatar-embed>'
        ),
    }


def _record(request: HttpRequest, key: EmbedKey, action: str, what: str, **data) -> None:
    staff_actions.record(
        request.user,
        staff_actions.Kind.EMBED,
        what,
        embed_key=key.pk,
        public_key=key.public_key,
        action=action,
        **data,
    )


def turn_off(request: HttpRequest, key: EmbedKey) -> embeds.Revoked:
    done = embeds.revoke(key)
    _record(
        request,
        key,
        "embed_off",
        f"Turned off embed key {key.public_key} ({key.name}): {done.closed} live sessions "
        f"ended, {done.failed} left to the reaper.",
        closed=done.closed,
        failed=done.failed,
    )
    return done


def _value(value):
    """A form value as the staff log keeps it (JSON): presets by slug, the rest as it is."""
    if isinstance(value, (list, tuple, QuerySet)):
        return sorted(str(getattr(item, "slug", item)) for item in value)
    return value


def changes(form: forms.ModelForm, fields: list[str]) -> dict[str, list]:
    """What each changed field was and became: the log must say which website was let
    in (or which cap was raised), not only that `allowed_origins` changed."""
    return {
        name: [_value(form.initial.get(name)), _value(form.cleaned_data.get(name))]
        for name in fields
    }


def _said(request: HttpRequest, done: list[embeds.Revoked]) -> None:
    keys, closed, failed = len(done), sum(d.closed for d in done), sum(d.failed for d in done)
    said = ngettext("Turned off %(keys)d key.", "Turned off %(keys)d keys.", keys)
    messages.success(request, said % {"keys": keys})
    if closed:
        said = ngettext("%(closed)d live session ended.", "%(closed)d live sessions ended.", closed)
        messages.success(request, said % {"closed": closed})
    if failed:
        said = ngettext(
            "%(failed)d session did not confirm the end yet: it will be ended shortly.",
            "%(failed)d sessions did not confirm the end yet: they will be ended shortly.",
            failed,
        )
        messages.warning(request, said % {"failed": failed})


class EmbedKeyFilter(admin.SimpleListFilter):
    """The session audit's filter by embed key. Its choices name each key by its name only
    and its value is the key's id: nothing of the key but what staff see in its list (a
    related-field filter would offer `embed_key__...` lookups; lookups.py is the rule)."""

    title = gettext_lazy("website")
    parameter_name = "embed_key"
    NONE = "none"

    def lookups(self, request, model_admin):
        keys = EmbedKey.objects.order_by("name").values_list("pk", "name")
        return [(self.NONE, _("not through a website")), *((str(pk), name) for pk, name in keys)]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if value == self.NONE:
            return queryset.filter(embed_key__isnull=True)
        if value.isdigit():
            return queryset.filter(embed_key_id=int(value))
        return queryset.none()  # not one of the choices: no session matches it


@admin.register(EmbedKey)
class EmbedKeyAdmin(lookups.DeclaredFiltersOnly, admin.ModelAdmin):
    form = EmbedKeyForm
    list_display = ["name", "public_key", "origins_shown", "active", "live_now", "today"]
    list_filter = ["active"]
    search_fields = ["name", "public_key", "allowed_origins"]
    readonly_fields = ["public_key", "created_at"]
    actions = ["turn_off_keys", "turn_on_keys"]
    fieldsets = [
        (None, {"fields": ["name", "public_key", "active", "created_at"]}),
        (gettext_lazy("Where and what"), {"fields": ["allowed_origins", "presets"]}),
        (
            gettext_lazy("What the host page may ask"),
            {"fields": ["host_may_start", "host_may_end", "host_may_say"]},
        ),
        (
            gettext_lazy("Per visitor"),
            {
                "fields": [
                    "visitor_sessions_per_hour",
                    "visitor_concurrent",
                    "visitor_minutes_per_day",
                ]
            },
        ),
        (
            gettext_lazy("For the whole key"),
            {"fields": ["key_sessions_per_hour", "key_concurrent", "key_minutes_per_day"]},
        ),
    ]

    class Media:
        # The snippet's copy button: the token page's script, as it is.
        js = [Script("js/staff_token.js", type="module")]

    def get_fieldsets(self, request, obj=None):
        # A new key's public key is made when it is saved: showing one before would show
        # a key that is never saved (staff copied it).
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None:
            return fieldsets
        (name, first), *rest = fieldsets
        first = {**first, "fields": [f for f in first["fields"] if f not in self.readonly_fields]}
        return [(name, first), *rest]

    def has_delete_permission(self, request, obj=None) -> bool:
        # Turned off, not deleted: its sessions keep naming it in the audit and the usage.
        return False

    def get_queryset(self, request):
        day = spend.periods()[0].start
        return (
            super()
            .get_queryset(request)
            .annotate(
                live_count=Count("sessions", filter=Q(sessions__status__in=LIVE_STATUSES)),
                today_count=Count("sessions", filter=Q(sessions__created_at__date=day)),
            )
        )

    @admin.display(description=gettext_lazy("websites"))
    def origins_shown(self, obj: EmbedKey) -> str:
        return ", ".join(obj.origins) or "—"

    @admin.display(description=gettext_lazy("live now"), ordering="live_count")
    def live_now(self, obj: EmbedKey) -> int:
        return obj.live_count

    @admin.display(description=gettext_lazy("sessions today"), ordering="today_count")
    def today(self, obj: EmbedKey) -> int:
        return obj.today_count

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        key = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if key is not None:
            extra.update(snippet=snippets(request, key), usage=embeds.usage(key))
        return super().change_view(request, object_id, form_url, extra)

    def save_model(self, request, obj: EmbedKey, form, change) -> None:
        turning_off = change and "active" in form.changed_data and not obj.active
        turning_on = change and "active" in form.changed_data and obj.active
        if turning_off:
            obj.active = True  # revoke() turns it off, after the other changes are saved
        super().save_model(request, obj, form, change)
        others = sorted(set(form.changed_data) - {"active"})
        if not change:
            _record(
                request,
                obj,
                "embed_create",
                f"Created embed key {obj.public_key}.",
                origins=obj.origins,
            )
        elif others:
            _record(
                request,
                obj,
                "embed_change",
                f"Changed embed key {obj.public_key}: {', '.join(others)}.",
                fields=others,
                changes=changes(form, others),
            )
        if turning_on:
            _record(request, obj, "embed_on", f"Turned on embed key {obj.public_key}.")
        if turning_off:
            _said(request, [turn_off(request, obj)])

    @admin.action(description=gettext_lazy("Turn off selected keys"), permissions=["change"])
    def turn_off_keys(self, request, queryset):
        keys = list(queryset.filter(active=True))
        if request.POST.get("post") == "yes":
            _said(request, [turn_off(request, key) for key in keys])
            return None
        # Django's confirmation page, as for deleting: nothing is turned off on one click.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Turn off these embed keys?"),
            "keys": keys,
            "queryset": queryset,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/avatar_sessions/embedkey/turn_off_confirm.html", context
        )

    @admin.action(description=gettext_lazy("Turn on selected keys"), permissions=["change"])
    def turn_on_keys(self, request, queryset) -> None:
        keys = list(queryset.filter(active=False))
        for key in keys:
            key.active = True
            key.save(update_fields=["active"])
            _record(request, key, "embed_on", f"Turned on embed key {key.public_key}.")
        messages.success(
            request,
            ngettext("Turned on %(keys)d key.", "Turned on %(keys)d keys.", len(keys))
            % {"keys": len(keys)},
        )
