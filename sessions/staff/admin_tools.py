"""The operator's tools in the admin: defined on the avatar preset's page (an inline), and
each call made shown on the session's page (read-only).

A tool's secret is write-only: it is never rendered back (not even after an error on the
form), never listed, filtered or searched (the tools have no list of their own, and the
preset list accepts only its declared filters: sessions.staff.lookups), and the admin's
history of a change names the field, never its value.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
from django import forms
from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from sessions.services import tool_urls
from sessions.tool_models import PresetTool, ToolCall

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MIN_TIMEOUT = 0.5  # seconds: below it a call can hardly connect


class PresetToolForm(forms.ModelForm):
    secret = forms.CharField(
        label=gettext_lazy("Signing secret"),
        required=False,
        max_length=200,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy(
            "Signs each call (HMAC-SHA256, see the README's Tools section). Never shown "
            "again: leave empty to keep the current secret."
        ),
    )

    endpoint = forms.URLField(
        max_length=1000,
        assume_scheme="https",
        # The admin's own wide URL input: a whole endpoint is readable at a glance.
        widget=forms.URLInput(attrs={"class": "vURLField"}),
        help_text=gettext_lazy(
            "Called with a POST of the arguments as JSON. https only, on a public address, "
            "unless the host is listed in TOOL_HTTP_HOSTS."
        ),
    )

    class Meta:
        model = PresetTool
        fields = ["name", "description", "parameters", "endpoint", "secret", "timeout_seconds"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if not NAME.match(name):
            raise forms.ValidationError(
                _("Use 1 to 64 letters, digits, underscores or hyphens, with no spaces.")
            )
        return name

    def clean_parameters(self) -> Any:
        schema = self.cleaned_data["parameters"]
        if schema in (None, ""):
            return {}
        if not isinstance(schema, dict) or (schema and schema.get("type") != "object"):
            raise forms.ValidationError(
                _('The parameters must be a JSON Schema object, e.g. {"type": "object"}.')
            )
        try:
            jsonschema_rs.meta.validate(schema)
        except (jsonschema_rs.ValidationError, ValueError) as exc:
            message = getattr(exc, "message", str(exc))
            raise forms.ValidationError(
                _("The parameters are not a valid JSON Schema: %(problem)s") % {"problem": message}
            ) from None
        return schema

    def clean_endpoint(self) -> str:
        endpoint = self.cleaned_data["endpoint"]
        if problem := tool_urls.endpoint_problem(endpoint):
            raise forms.ValidationError(problem)
        return endpoint

    def clean_timeout_seconds(self) -> float:
        seconds = self.cleaned_data["timeout_seconds"]
        most = settings.TOOL_MAX_TIMEOUT
        if seconds is None or not MIN_TIMEOUT <= seconds <= most:
            raise forms.ValidationError(
                _("The timeout must be between %(least)s and %(most)s seconds.")
                % {"least": f"{MIN_TIMEOUT:g}", "most": f"{most:g}"}
            )
        return seconds

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The stored secret is not even the form's initial value: nothing can render it,
        # and an empty field is no change.
        self.initial["secret"] = ""
        # Whether one is set (never what it is), so staff know what an empty field keeps.
        if self.instance.pk:
            state = _("A secret is set.") if self.instance.secret else _("No secret is set.")
            self.fields["secret"].help_text = f"{state} {self.fields['secret'].help_text}"

    def clean_secret(self) -> str:
        # Empty keeps what is stored: the form never shows it, so it cannot send it back.
        return self.cleaned_data["secret"] or (self.instance.secret if self.instance.pk else "")


class PresetToolInline(admin.StackedInline):
    """The preset's tools, on its page (added to AvatarPresetAdmin.inlines)."""

    model = PresetTool
    form = PresetToolForm
    extra = 0
    fields = [
        "name",
        "description",
        "parameters",
        "endpoint",
        "secret",
        "timeout_seconds",
        "active",
    ]
    readonly_fields = ["secret_state"]
    verbose_name = gettext_lazy("tool the LLM may call")
    verbose_name_plural = gettext_lazy("tools the LLM may call")

    def get_fields(self, request, obj=None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        if self.has_change_permission(request, obj):
            return [f for f in fields if f != "secret_state"]
        # Read-only, Django shows each field's stored value, the secret's too (a view-only
        # staff user would read it): only whether one is set is shown instead.
        return ["secret_state" if f == "secret" else f for f in fields if f != "secret_state"]

    @admin.display(description=gettext_lazy("Signing secret"))
    def secret_state(self, tool: PresetTool) -> str:
        return _("A secret is set.") if tool.secret else _("No secret is set.")


class ToolCallInline(admin.TabularInline):
    """Each tool call of a session, read-only, on the session's page."""

    model = ToolCall
    extra = 0
    can_delete = False
    fields = ["at", "tool_name", "outcome", "duration_ms", "arguments", "result", "error"]
    readonly_fields = fields
    verbose_name = gettext_lazy("tool call")
    verbose_name_plural = gettext_lazy("tool calls")

    def has_view_permission(self, request, obj=None) -> bool:
        # Part of the session's record: whoever may read the session reads its calls.
        return request.user.has_perm("avatar_sessions.view_avatarsession")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
