"""API tokens: per-user, stored hashed, revocable, shown once."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.db import models

TOKEN_PREFIX = "avs_"  # noqa: S105 (a prefix, not a secret)


def hash_token(raw: str) -> str:
    # Tokens are 256-bit random strings, so a fast unsalted hash is enough to make a
    # stolen database useless; a password hash would only slow every request down.
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True, owner__is_active=True)


class ApiToken(models.Model):
    """A per-user API token. Only its hash is stored; the token is shown once."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, editable=False, help_text="For recognising it.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"  # not "api token" from the class name; plural adds "s"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def set_secret(self) -> str:
        """Give the token a new random secret; returns it (only its hash is kept)."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.prefix, self.digest = raw[:10], hash_token(raw)
        return raw

    @classmethod
    def issue(cls, owner: Any, name: str) -> tuple[ApiToken, str]:
        """Create a token; returns it with the raw secret, which is never stored."""
        token = cls(owner=owner, name=name)
        raw = token.set_secret()
        token.save()
        return token, raw

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
