"""The operator's tools (function calling) per preset, each call made, and how long each
turn took: what an own-LLM session did beyond speaking."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class PresetTool(models.Model):
    """A function the operator's LLM may call: the server POSTs its arguments to
    `endpoint`, signed with `secret` (HMAC), and hands the answer back to the LLM."""

    preset = models.ForeignKey("AvatarPreset", on_delete=models.CASCADE, related_name="tools")
    name = models.CharField(max_length=64, help_text="Letters, digits, _ and - (the LLM's name).")
    description = models.TextField(help_text="What it does and when to call it (for the LLM).")
    parameters = models.JSONField(
        "parameters (JSON Schema)",
        default=dict,
        blank=True,
        help_text='An object schema, e.g. {"type": "object", "properties": {...}}.',
    )
    endpoint = models.URLField(max_length=1000)
    # Never shown back, never logged: the admin only sets it.
    secret = models.CharField(max_length=200, blank=True)
    timeout_seconds = models.FloatField(default=5.0)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["preset", "name"], name="one_tool_name_per_preset")
        ]
        ordering = ["preset", "name"]

    def __str__(self) -> str:
        return self.name


class ToolCall(models.Model):
    """One call of a tool in a session: the audit of what the LLM asked and got."""

    class Outcome(models.TextChoices):
        OK = "ok", "Answered"
        FAILED = "failed", "Failed"
        TIMEOUT = "timeout", "Timed out"
        REFUSED = "refused", "Refused"
        # Written before the POST, so a call an interrupt cuts off is still audited.
        PENDING = "pending", "Under way"
        CANCELLED = "cancelled", "Cancelled"

    session = models.ForeignKey(
        "AvatarSession", on_delete=models.CASCADE, related_name="tool_calls"
    )
    tool_name = models.CharField(max_length=64)
    arguments = models.JSONField(default=dict, blank=True)
    result = models.TextField(blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at"]


class TurnTiming(models.Model):
    """One turn's latency: the end of the user's words (typed or spoken) -> the first
    frame sent -> the avatar's `audio_start`."""

    session = models.ForeignKey(
        "AvatarSession", on_delete=models.CASCADE, related_name="turn_timings"
    )
    spoken = models.BooleanField(default=False)
    asked_at = models.DateTimeField(default=timezone.now)
    first_frame_ms = models.PositiveIntegerField(null=True, blank=True)
    audio_start_ms = models.PositiveIntegerField(null=True, blank=True)
    interrupted = models.BooleanField(default=False)

    class Meta:
        ordering = ["asked_at"]
