"""The records that make staff and spending answerable: what staff did with users' data
and money, and the spend alerts raised."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class StaffAction(models.Model):
    """What a staff member did with users' data or the account's money: watched a live
    session, exported, closed, minted or revoked a token, imported the catalog. Written
    once, read by superusers only, edited by nobody."""

    class Kind(models.TextChoices):
        WATCH = "watch", "Watched a live session"
        EXPORT = "export", "Exported"
        CLOSE = "close", "Closed a session"
        TOKEN = "token", "Token action"
        IMPORT = "import", "Imported the catalog"
        VIEW = "view", "Viewed a transcript"
        EMBED = "embed", "Embed key action"
        WEBHOOK = "webhook", "Webhook action"

    # Kept as text too: the record outlives the account.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    what = models.CharField(max_length=500)
    session_id_text = models.CharField("session", max_length=36, blank=True, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "staff action"

    def __str__(self) -> str:
        return f"{self.actor_name}: {self.what}"


class SpendAlert(models.Model):
    """One alert per period and threshold (80 % or 100 % of a spend cap): the unique
    constraint makes it once across processes."""

    class Period(models.TextChoices):
        DAY = "day"
        MONTH = "month"

    period = models.CharField(max_length=5, choices=Period.choices)
    period_start = models.DateField()
    percent = models.PositiveSmallIntegerField()
    minutes = models.PositiveIntegerField(help_text="Minutes reserved when it was raised.")
    cap = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["period", "period_start", "percent"], name="one_alert_per_threshold"
            )
        ]

    def __str__(self) -> str:
        return f"{self.percent} % of the {self.period}'s cap ({self.minutes}/{self.cap} min)"
