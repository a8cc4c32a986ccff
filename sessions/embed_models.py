"""Embed keys: one per website that puts the avatar on its pages (README "Embedding").

The key itself (`ek_...`) is public: it is written in the website's HTML. What it allows
is decided here: the origins that may frame the avatar, the presets it offers, what the
host page may ask of it, and its own limits, per visitor and for the whole key.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

import idna
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

EMBED_KEY_PREFIX = "ek_"


def new_public_key() -> str:
    return EMBED_KEY_PREFIX + secrets.token_urlsafe(18)


# A host as a CSP source may name it (CSP3 host-char: letters, digits, "-"), label by
# label: no wildcard, no ";" or quote that would end or add a directive, no IPv6 literal.
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _ascii_host(host: str) -> str:
    """`host` as browsers name it in an origin (an internationalised name in its xn--
    form), or ValueError when it is no plain host name or IPv4 address: the key's origins
    go as they are into the page's frame-ancestors header."""
    try:
        # IDNA 2008 with UTS 46, as browsers map names ("ß" stays, as xn--zca; Python's
        # own "idna" codec is IDNA 2003 and makes it "ss", another host).
        ascii_host = idna.encode(host, uts46=True).decode("ascii") if host else ""
    except (idna.IDNAError, UnicodeError):
        raise ValueError(host) from None
    if not all(_HOST_LABEL.fullmatch(label) for label in ascii_host.split(".")):
        raise ValueError(host)
    return ascii_host


def normalise_origin(value: str) -> str:
    """`scheme://host[:port]`, lower case, no path; raises ValueError otherwise. A browser
    names an origin exactly so (the default port left out, an internationalised name as
    xn--), and so must a key's list."""
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(text)
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(text)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(text) from None
    if port == 0:
        raise ValueError(text)
    default = {"http": 80, "https": 443}[parts.scheme]
    host = _ascii_host(parts.hostname.lower())
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def parse_origins(text: str) -> list[str]:
    """The origins one per line (or separated by spaces or commas), normalised; raises
    ValidationError naming the first that is not an origin."""
    origins: list[str] = []
    for item in text.replace(",", " ").split():
        try:
            origin = normalise_origin(item)
        except ValueError:
            raise ValidationError(
                _("“%(value)s” is not an origin: write scheme://host[:port], nothing after it."),
                params={"value": item[:100]},
            ) from None
        if origin not in origins:
            origins.append(origin)
    return origins


class EmbedKeyQuerySet(models.QuerySet["EmbedKey"]):
    def usable(self) -> EmbedKeyQuerySet:
        return self.filter(active=True)


class EmbedKey(models.Model):
    name = models.CharField(max_length=100, help_text=_("The website, for staff."))
    public_key = models.CharField(
        max_length=40, unique=True, default=new_public_key, editable=False
    )
    active = models.BooleanField(
        default=True,
        help_text=_("Off: no new session starts, and the key's live sessions end at once."),
    )
    allowed_origins = models.TextField(
        help_text=_(
            "The websites that may show the avatar, one origin per line "
            "(https://shop.example, with a port if not the default)."
        )
    )
    presets = models.ManyToManyField(
        "avatar_sessions.AvatarPreset",
        related_name="embed_keys",
        help_text=_("The avatars the website offers."),
    )
    # What the host page may ask of the avatar by postMessage.
    host_may_start = models.BooleanField(default=True)
    host_may_end = models.BooleanField(default=True)
    host_may_say = models.BooleanField(
        default=False, help_text=_("The host page may type for the visitor.")
    )
    # Per visitor (one address) and for the whole key.
    visitor_sessions_per_hour = models.PositiveIntegerField(default=5)
    visitor_concurrent = models.PositiveIntegerField(default=1)
    visitor_minutes_per_day = models.PositiveIntegerField(default=30)
    key_sessions_per_hour = models.PositiveIntegerField(default=100)
    key_concurrent = models.PositiveIntegerField(default=5)
    key_minutes_per_day = models.PositiveIntegerField(default=600)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = EmbedKeyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("embed key")

    def __str__(self) -> str:
        return f"{self.name} ({self.public_key})"

    def clean(self) -> None:
        self.allowed_origins = "\n".join(parse_origins(self.allowed_origins))
        if not self.allowed_origins:
            raise ValidationError({"allowed_origins": _("List at least one origin.")})

    @property
    def origins(self) -> list[str]:
        try:
            return parse_origins(self.allowed_origins)
        except ValidationError:
            return []

    def allows_origin(self, origin: str) -> bool:
        try:
            return normalise_origin(origin) in self.origins
        except ValueError:
            return False
