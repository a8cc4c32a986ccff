"""Presets, API tokens, sessions and their audit trail."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from sessions import keys, networks
from sessions.access import SessionQuerySet
from sessions.providers.base import NETWORKS
from sessions.states import LIVE_STATUSES, CloseReason, Status  # noqa: F401 (named from here too)
from sessions.voice_params import checked_voice_params


class AvatarPreset(models.Model):
    """An avatar the site offers, with the defaults a session starts with."""

    class Mode(models.IntegerChoices):
        RETELLING = 1, "Retelling (speaks the text sent)"
        DIALOGUE = 2, "Dialogue (the avatar's own LLM answers)"

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    avatar_id = models.CharField("AKool avatar id", max_length=200)
    # A URL, absolute or site-relative (the demo presets use the site's own images).
    thumbnail_url = models.CharField(max_length=1000, blank=True)
    default_voice = models.ForeignKey(
        "VoicePreset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    language = models.CharField(max_length=20, default="en")
    mode = models.PositiveSmallIntegerField(choices=Mode.choices, default=Mode.DIALOGUE)
    background_url = models.URLField(max_length=1000, blank=True)
    # The RTC network AKool streams this avatar on (sent as `stream_type`).
    network = models.CharField(
        max_length=10,
        blank=True,
        choices=[(name, label) for name, label in NETWORKS.items()],
        help_text="Empty: the operator's default (AKOOL_STREAM_TYPE).",
    )
    knowledge = models.ForeignKey(
        "KnowledgeBase",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="presets",
        help_text="What the avatar knows: its opening line, instructions and documents.",
    )
    voice_url = models.URLField(
        max_length=1000,
        blank=True,
        help_text="A cloned voice's URL (AKool's voice_url); used instead of the voice id.",
    )
    voice_params = models.JSONField(default=dict, blank=True)
    system_prompt = models.TextField(blank=True)
    use_llm = models.BooleanField(
        "answer with our LLM",
        default=False,
        help_text="Answer with the operator's LLM (LLM_BASE_URL); sessions then run in mode 1.",
    )
    consent_required = models.BooleanField(
        "ask for a tick before Start",
        default=False,
        help_text="The page's recording notice must be ticked before a session starts.",
    )
    extend_allowed = models.BooleanField(
        "allow Extend",
        default=False,
        help_text="Near its end, a session may open a follow-on session (within the spend caps).",
    )
    declined_topics = models.TextField(
        blank=True,
        help_text="Topics the operator's LLM must decline, one per line.",
    )
    # Spoken questions (own-LLM sessions; issue 19).
    hear_quiet_ms = models.PositiveIntegerField(
        "quiet that ends a spoken question (ms)",
        default=800,
        help_text="When recognised speech carries no final piece, this quiet after the "
        "last one makes it a question.",
    )
    barge_in_min_chars = models.PositiveSmallIntegerField(
        "shortest speech that interrupts (characters)",
        default=4,
        help_text="Shorter user speech (a cough, an 'mm') does not interrupt the avatar.",
    )
    tool_filler = models.CharField(
        "line said while a tool runs",
        max_length=200,
        blank=True,
    )
    browser_speech = models.BooleanField(
        "let the page use the browser's speech recognition",
        default=False,
        help_text="Sandbox only. The browser sends the microphone's audio to its vendor; "
        "the page says so.",
    )
    active = models.BooleanField(default=True)
    order = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name

    def clean_fields(self, exclude: Any = None) -> None:
        """The fields' own checks, then voice_params against the one voice-params
        schema (what the socket's set_params accepts too). Skipped when voice_params is
        excluded (a form without it, e.g. the admin list's active/order)."""
        errors: dict[str, Any] = {}
        try:
            super().clean_fields(exclude)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if "voice_params" not in (exclude or ()) and "voice_params" not in errors:
            try:
                self.voice_params = checked_voice_params(self.voice_params)
            except ValidationError as exc:
                errors["voice_params"] = exc.error_list
        if errors:
            raise ValidationError(errors)


class VoicePreset(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    voice_id = models.CharField("AKool voice id", max_length=200, blank=True)
    # A cloned voice by URL (AKool's voice_url at create, vurl in set-params).
    voice_url = models.URLField(
        max_length=1000, blank=True, help_text="A cloned voice's URL; instead of the voice id."
    )
    language = models.CharField(max_length=20, blank=True)
    gender = models.CharField(max_length=20, blank=True)
    preview_url = models.URLField(max_length=1000, blank=True)
    active = models.BooleanField(default=True)
    order = models.IntegerField(default=0)

    class Meta:
        ordering = ["order", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """A voice is either AKool's (its id) or a cloned one (its URL): exactly one."""
        if bool(self.voice_id) == bool(self.voice_url):
            raise ValidationError(
                _("Give either the AKool voice id or the cloned voice's URL, not both or neither.")
            )


class AvatarSession(models.Model):
    """One live avatar session, from create to close, and what it cost."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="avatar_sessions",
    )
    # Who is billed for limits: "user:<id>", "token:<id>" or "ip:<address>".
    principal = models.CharField(max_length=100, db_index=True)
    # For anonymous visitors: a hash of their Django session key, which proves ownership.
    visitor_key = models.CharField(max_length=64, blank=True, db_index=True)
    preset = models.ForeignKey(
        AvatarPreset, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    preset_slug = models.SlugField(blank=True)
    provider = models.CharField(max_length=20)
    # The RTC network the session streams on (after a fallback: the one it fell back to).
    network = models.CharField(max_length=10, blank=True)
    upstream_id = models.CharField(max_length=200, blank=True, db_index=True)
    avatar_id = models.CharField(max_length=200)
    voice_id = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=20, blank=True)
    mode = models.PositiveSmallIntegerField(default=2)
    background_url = models.URLField(max_length=1000, blank=True)
    use_llm = models.BooleanField(default=False)
    duration = models.PositiveIntegerField(help_text="Seconds reserved upstream.")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.STARTING, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    close_reason = models.CharField(max_length=12, choices=CloseReason.choices, blank=True)
    # The boot id of the process whose socket last held the session (presence.BOOT_ID):
    # lets the reaper tell a crash of ours from a page that left.
    served_by = models.CharField(max_length=32, blank=True)
    # When a create was sent whose answer never came (a timeout, a dropped connection, a
    # crash mid-create): the upstream may have opened a session we never heard of, which
    # the reaper may close when it finds one created at about this time.
    create_unanswered_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # The per-session data-stream credentials (never the account's own secrets).
    rtc = models.JSONField(default=dict, blank=True)
    # Ids of the concurrency slots it holds (released on close; keys from sessions/keys.py).
    slots = models.JSONField(default=list, blank=True)
    close_attempts = models.PositiveIntegerField(default=0)
    chat_count = models.PositiveIntegerField(default=0)
    frames_sent = models.PositiveIntegerField(default=0)
    bytes_sent = models.PositiveIntegerField(default=0)
    # The session this one carries on from ("Extend": a new upstream session, the same
    # conversation).
    continues = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="followed_by"
    )
    # When its transcript, pieces and event details were deleted (retention or its owner);
    # the row stays for usage figures.
    transcript_deleted_at = models.DateTimeField(null=True, blank=True)
    # Started from a website's embed (README "Embedding"); turning the key off ends it.
    embed_key = models.ForeignKey(
        "avatar_sessions.EmbedKey", models.SET_NULL, null=True, blank=True, related_name="sessions"
    )

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["principal", "status"])]
        # Usage figures are business data: a permission apart from reading the audit.
        permissions = [("view_usage", "Can view usage reports")]

    def __str__(self) -> str:
        from sessions import display  # display reads this module's models

        return display.session_title(self)

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def ws_path(self) -> str:
        return f"/ws/sessions/{self.id}/"

    @property
    def used_seconds(self) -> int | None:
        if not self.started_at:
            return None
        # Never past the reserved time: the upstream ends a session at its duration,
        # however late our close (or a close still being retried) is recorded.
        end = min(self.closed_at or timezone.now(), self.expires_at or timezone.now())
        return max(0, int((end - self.started_at).total_seconds()))

    @property
    def budget_key(self) -> str:
        """Who pays for what is said (chat and LLM budgets): the owner, whichever token or
        sign-in talks, else the visitor it was created for; never the socket's caller."""
        return keys.user_principal(self.owner_id) if self.owner_id else self.principal

    def to_dict(self, *, include_rtc: bool = False) -> dict[str, Any]:
        """The session as the API and the websocket show it: one shape everywhere.

        `rtc` goes only to the owner, and only while the session is active.
        """
        return {
            "id": str(self.id),
            "status": self.status,
            "preset": self.preset_slug,
            "avatar_id": self.avatar_id,
            "voice_id": self.voice_id,
            "language": self.language,
            "mode": self.mode,
            "duration": self.duration,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "expires_at": self.expires_at,
            "closed_at": self.closed_at,
            "close_reason": self.close_reason or None,
            "error": self.error or None,
            "background_url": self.background_url,
            "ws_path": self.ws_path,
            "rtc": (
                networks.public_rtc(self.rtc)
                if include_rtc and self.status == Status.ACTIVE and self.rtc
                else None
            ),
            # The network it streams on (in the sandbox: the one it plays), and those it
            # may still fall back to if the page cannot join it (sessions.networks).
            "network": self.network or None,
            "fallback_networks": networks.fallback_networks(self),
        }


class TranscriptEntry(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        AVATAR = "avatar"

    # No index of its own: the unique (session, role, mid) starts with it (one fewer to update).
    session = models.ForeignKey(
        AvatarSession, on_delete=models.CASCADE, related_name="transcript", db_index=False
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    mid = models.CharField(max_length=100)
    text = models.TextField(blank=True)
    final = models.BooleanField(default=False)
    cut = models.BooleanField(default=False)  # the avatar's answer was cut short
    # Of an answer of ours cut short: what was sent but never said (the avatar did not
    # begin it); `text` is then what it said. Kept apart, so nobody reads it as said.
    unspoken = models.TextField(blank=True, default="")
    # Only the page witnessed it (nothing else hears an AKool avatar): marked in exports.
    reported_by_page = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "role", "mid"], name="one_line_per_mid")
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "mid": self.mid,
            "text": self.text,
            "at": self.created_at,
            "cut": self.cut,
            "unspoken": self.unspoken,
        }


class TranscriptPiece(models.Model):
    """One numbered piece (`idx`) of a line the avatar speaks, as the page forwarded it.

    A line's text is its pieces in `idx` order, whatever order they arrive in: a page's
    pieces can reach two processes (a reconnect), and one that was stalled may record
    its piece after later ones. The unique key also makes a piece forwarded twice (two
    tabs, a resend) count once.

    A sender that cuts by UTF-16 code units leaves half a character at a piece's edge,
    a lone surrogate no database stores: `text` holds the piece without it, and the half
    is kept escaped (``\\ud83d``) beside it until the line is rebuilt with its partner.
    """

    session = models.ForeignKey(AvatarSession, on_delete=models.CASCADE, related_name="pieces")
    role = models.CharField(max_length=10, choices=TranscriptEntry.Role.choices)
    mid = models.CharField(max_length=100)
    idx = models.PositiveIntegerField()
    text = models.TextField(blank=True)
    #: The low surrogate the piece opened with (its high half ends the piece before), escaped.
    opening_half = models.CharField(max_length=6, blank=True, default="")
    #: The high surrogate the piece ended with (its low half opens the next piece), escaped.
    closing_half = models.CharField(max_length=6, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session", "role", "mid", "idx"], name="one_piece_per_idx"
            )
        ]


class SessionEvent(models.Model):
    """The audit trail: state changes, commands, limits hit and errors."""

    class Kind(models.TextChoices):
        STATE = "state"
        COMMAND = "command"
        LIMIT = "limit"
        ERROR = "error"
        INFO = "info"

    session = models.ForeignKey(AvatarSession, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    message = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


# The enums by the names the rest of the code uses: one home for each set of values.
Mode = AvatarPreset.Mode
Role = TranscriptEntry.Role
EventKind = SessionEvent.Kind

# The trust records (issue 16) live in their own module; imported here so that Django
# finds them and the rest of the code names every model from one place.
from sessions.embed_models import EmbedKey  # noqa: E402, F401
from sessions.knowledge_models import KnowledgeBase  # noqa: E402, F401
from sessions.token_models import TOKEN_PREFIX, ApiToken, hash_token  # noqa: E402, F401
from sessions.tool_models import PresetTool, ToolCall, TurnTiming  # noqa: E402, F401
from sessions.trust_models import SpendAlert, StaffAction  # noqa: E402, F401
from sessions.webhook_models import WebhookDelivery, WebhookEndpoint  # noqa: E402, F401
