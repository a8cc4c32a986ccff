"""Presets in the admin: voice and avatar presets, with the catalog import (a button and
an action on both changelists).

Editing a preset needs the model's own permissions; importing the catalog needs add and
change on both avatar and voice presets.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.forms import Script
from django.http import HttpRequest
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy

from sessions.models import AvatarPreset, VoicePreset
from sessions.staff import admin_tools, lookups
from sessions.staff import views as staff


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

    @admin.action(
        description=gettext_lazy("Import or refresh the whole catalog (any selection will do)")
    )
    def import_catalog(self, request: HttpRequest, queryset: QuerySet) -> None:
        staff.run_import(request)


@admin.register(VoicePreset)
class VoicePresetAdmin(lookups.DeclaredFiltersOnly, CatalogImportMixin, admin.ModelAdmin):
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


# The voice_params field's help (the model checks them: the same schema as the socket's
# set_params, so an invalid set is refused on the field).
VOICE_PARAMS_HELP = (
    "Sent to AKool when a session starts, and with every voice change. A JSON object with"
    ' any of: "speed" (0.5 to 2.0), "pron_map" (word to pronunciation, e.g. {"akool":'
    ' "ai ku er"}; up to 20 words), "stt_type" (e.g. "openai_realtime"), "turn_detection"'
    ' ({"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,'
    ' "silence_duration_ms": 500}). At most 600 bytes in all. ElevenLabs settings are not'
    " accepted: they can hold a key, and voice changes pass through the visitor's page."
)
# The declined_topics field's help: the rule llm.guardrails applies (README "Guardrails").
DECLINED_TOPICS_HELP = (
    "Topics the operator's LLM must decline, one per line. Each answer sentence that"
    " mentions one is never said: the avatar says a polite decline instead. A topic matches"
    ' as a whole word or phrase, in any case ("climate change" also matches'
    ' "Climate-change"); end it with * to match any ending ("politic*" matches'
    ' "politics" and "political"). Applies to presets answered with our LLM.'
)

# The mode field's help: what modes.default_mode does with it.
MODE_HELP = gettext_lazy(
    "The mode a session starts in when the visitor does not choose one. A preset that"
    " answers with our LLM starts its sessions in mode 1 (our own assistant) whatever is set"
    " here; the visitor may still choose the avatar's own dialogue."
)


@admin.register(AvatarPreset)
class AvatarPresetAdmin(lookups.DeclaredFiltersOnly, CatalogImportMixin, admin.ModelAdmin):
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
    inlines = [admin_tools.PresetToolInline]

    class Media:
        js = [Script("js/staff_presets.js", type="module")]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "voice_params":
            kwargs["help_text"] = VOICE_PARAMS_HELP
        elif db_field.name == "declined_topics":
            kwargs["help_text"] = DECLINED_TOPICS_HELP
        elif db_field.name == "mode":
            kwargs["help_text"] = MODE_HELP
        return super().formfield_for_dbfield(db_field, request, **kwargs)

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
