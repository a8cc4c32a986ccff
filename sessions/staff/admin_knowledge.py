"""Knowledge bases in the admin: list, create and edit them, with the catalog import.

A knowledge base is sent to AKool as the session's `knowledge_id`, so it must exist
upstream. Saving one that has no id yet (created here) creates it upstream first and keeps
the id AKool returns. AKool documents no update (or delete) call, so saving a change to
what AKool holds (name, opening line, instructions, documents) of a base that exists
upstream creates it anew there and keeps the new id; the old one stays in AKool's console.
When the upstream refuses or cannot be reached, the form says why and nothing is saved.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db.models import Count
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from sessions.knowledge_models import KnowledgeBase
from sessions.providers import ProviderError, get_provider
from sessions.providers.base import KnowledgeRequest
from sessions.staff import lookups
from sessions.staff.admin_presets import CatalogImportMixin

# What AKool holds of a knowledge base: a change to any of these needs a new one upstream.
UPSTREAM_FIELDS = ("name", "prologue", "prompt")  # and the document URLs
MAX_URL_CHARS = 1000
_HTTP_URL = URLValidator(schemes=["http", "https"])


def checked_doc_urls(text: str) -> list[str]:
    """The document URLs of a knowledge base, one per line (blank lines skipped): each an
    http(s) URL of at most MAX_URL_CHARS, at most KNOWLEDGE_MAX_DOCUMENTS of them."""
    urls = [line.strip() for line in text.splitlines() if line.strip()]
    problems = []
    for number, url in enumerate(urls, start=1):
        try:
            if len(url) > MAX_URL_CHARS:
                raise ValidationError("too long")
            _HTTP_URL(url)
        except ValidationError:
            problems.append(
                _("Line %(line)d is not a web address (http or https, up to %(max)d characters).")
                % {"line": number, "max": MAX_URL_CHARS}
            )
    limit = settings.KNOWLEDGE_MAX_DOCUMENTS
    if len(urls) > limit:
        problems.append(
            _("List at most %(limit)d documents; there are %(count)d.")
            % {"limit": limit, "count": len(urls)}
        )
    if problems:
        raise ValidationError(problems)
    return urls


class KnowledgeBaseForm(forms.ModelForm):
    documents = forms.CharField(
        label=gettext_lazy("Document URLs"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy(
            "One web address per line (PDF, DOC, DOCX, TXT, MD, JSON, XML or CSV; AKool "
            "takes up to 100 MB each and 500 MB in all)."
        ),
    )

    class Meta:
        model = KnowledgeBase
        fields = ["name", "prologue", "prompt"]
        widgets = {"prompt": forms.Textarea(attrs={"rows": 8})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["documents"].initial = "\n".join(self.instance.doc_urls or [])
        self.created_upstream = False

    def clean_documents(self) -> list[str]:
        return checked_doc_urls(self.cleaned_data.get("documents", ""))

    def clean(self) -> dict[str, Any]:
        """Last, once every field is valid: create the knowledge base upstream when it has
        no id yet or what AKool holds of it changed; a failure is the form's error."""
        cleaned = super().clean()
        if self.errors:
            return cleaned
        changed = (
            not self.instance.knowledge_id
            or any(name in self.changed_data for name in UPSTREAM_FIELDS)
            or cleaned["documents"] != list(self.instance.doc_urls or [])
        )
        if changed:
            self._create_upstream(cleaned)
        self.instance.doc_urls = cleaned["documents"]
        return cleaned

    def _create_upstream(self, cleaned: dict[str, Any]) -> None:
        request = KnowledgeRequest(
            name=cleaned["name"],
            prologue=cleaned.get("prologue", ""),
            prompt=cleaned.get("prompt", ""),
            doc_urls=tuple(cleaned["documents"]),
        )
        try:
            knowledge_id = async_to_sync(get_provider().create_knowledge)(request)
        except ProviderError as exc:
            raise ValidationError(
                _("AKool could not create the knowledge base, so nothing was saved: %(why)s")
                % {"why": exc.message}
            ) from exc
        self.instance.knowledge_id = knowledge_id
        self.instance.source = KnowledgeBase.Source.CREATED
        self.created_upstream = True


@admin.register(KnowledgeBase)
class KnowledgeBaseAdmin(lookups.DeclaredFiltersOnly, CatalogImportMixin, admin.ModelAdmin):
    form = KnowledgeBaseForm
    list_display = ["name", "prologue", "source", "knowledge_id", "preset_count", "updated_at"]
    list_filter = ["source"]
    ordering = ["name"]
    search_fields = ["name", "knowledge_id", "prologue"]
    readonly_fields = ["knowledge_id", "source", "created_at", "updated_at"]
    actions = ["import_catalog"]
    fieldsets = [
        (
            None,
            {
                "fields": ["name", "prologue", "prompt", "documents"],
                "description": gettext_lazy(
                    "Saving creates this knowledge base on AKool and keeps its id. AKool "
                    "cannot change a knowledge base, so saving a change to any of these "
                    "fields creates a new one there; the old one stays in AKool's console."
                ),
            },
        ),
        (gettext_lazy("On AKool"), {"fields": readonly_fields}),
    ]

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).annotate(preset_total=Count("presets"))

    @admin.display(description=gettext_lazy("presets"), ordering="preset_total")
    def preset_count(self, obj: KnowledgeBase) -> int:
        return obj.preset_total

    def save_model(self, request: HttpRequest, obj: KnowledgeBase, form: Any, change: bool):
        super().save_model(request, obj, form, change)
        if change and form.created_upstream:
            messages.info(
                request,
                _("AKool holds this knowledge base under a new id now: %(id)s.")
                % {"id": obj.knowledge_id},
            )
