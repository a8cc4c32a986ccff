"""Outbound webhooks (README "Webhooks"): the endpoints staff register, and one row per
event to deliver to one of them, the durable queue (sessions/services/webhooks.py sends).
"""

from __future__ import annotations

import secrets
import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    return WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)


class WebhookEvent(models.TextChoices):
    SESSION_STARTED = "session.started", "session.started"
    SESSION_CLOSED = "session.closed", "session.closed"
    EMBED_SESSION_CLOSED = "embed.session.closed", "embed.session.closed"


class WebhookEndpoint(models.Model):
    """Where events go. The secret signs every delivery: kept (a hash could not sign),
    shown once when made or rotated, never in a list, a form or a log."""

    name = models.CharField(max_length=100, help_text=_("Whose system it is, for staff."))
    url = models.URLField(max_length=1000)
    secret = models.CharField(max_length=100, default=new_secret, editable=False)
    events = models.JSONField(default=list, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("webhook endpoint")

    def __str__(self) -> str:
        return self.name

    def wants(self, event: str) -> bool:
        return self.active and event in self.events


class WebhookDelivery(models.Model):
    """One event for one endpoint: written where the session's state changes, sent (and
    retried) by the webhook pass until the receiver answers 2xx or the attempts run out."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    # Sent as X-Avatarsite-Delivery: receivers drop a delivery they already have by it.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    session_id_text = models.CharField("session", max_length=36, blank=True, db_index=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    # When it is due; while an attempt is under way, when that attempt's claim runs out.
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint_id} ({self.status})"
