"""Knowledge bases: what an avatar knows (AKool's `knowledge_id`), imported from AKool's
list or created here and then upstream."""

from __future__ import annotations

from django.db import models


class KnowledgeBase(models.Model):
    class Source(models.TextChoices):
        IMPORTED = "imported", "Imported from AKool"
        CREATED = "created", "Created here"

    name = models.CharField(max_length=100)
    # AKool's id; empty until a knowledge base created here has been created upstream.
    knowledge_id = models.CharField("AKool knowledge id", max_length=200, blank=True)
    prologue = models.CharField(
        "opening line", max_length=100, blank=True, help_text="What the avatar says first."
    )
    prompt = models.TextField(
        "instructions", max_length=10000, blank=True, help_text="How the avatar answers."
    )
    # Document URLs (PDF, DOC(X), TXT, MD, JSON, XML, CSV), one per item.
    doc_urls = models.JSONField("document URLs", default=list, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CREATED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
