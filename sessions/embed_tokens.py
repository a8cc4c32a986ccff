"""The embed page's visitor token: who a visitor of a website's embed is, without cookies.

Inside a website's iframe our cookies are third-party (not sent under SameSite=Lax,
blocked by Safari, partitioned by Firefox), so the embed page gets this token when it
loads and keeps it in memory. It names the embed key, a random visitor id (theirs for as
long as the page is open) and the host page's origin, signed with SECRET_KEY and good for
EMBED_TOKEN_MAX_AGE seconds. It travels as `Authorization: Bearer emb.…` (which no other
site can make a browser send, so no CSRF token is needed) and, for the socket, as a
websocket subprotocol (browsers cannot set headers on a socket).

Every use checks the key again: turned off, or the origin no longer listed, and the
token is worth nothing at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

TOKEN_PREFIX = "emb."  # noqa: S105 (a prefix, not a secret)
# The socket's subprotocols: this one (the server answers with it) and the token itself.
SOCKET_PROTOCOL = "avatarsite.embed"
_SALT = "avatarsite.embed-token"
# "." rather than signing's ":": a subprotocol may hold only token characters (RFC 6455).
_SIGNER_SEP = "."


@dataclass(frozen=True)
class Grant:
    """What a valid token says (its key checked against the database)."""

    key: object  # EmbedKey
    visitor: str
    origin: str


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT, sep=_SIGNER_SEP)


def issue(public_key: str, origin: str, visitor: str | None = None) -> str:
    """A token for a new visitor (or, renewed, for the same one)."""
    payload = {"k": public_key, "v": visitor or secrets.token_hex(16), "o": origin}
    return TOKEN_PREFIX + _signer().sign_object(payload)


def read(raw: str) -> Grant | None:
    """The grant of a token, or None when it is not one of ours, has expired, or its key
    is off or no longer allows its origin (sync: it queries)."""
    from sessions.embed_models import EmbedKey

    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 1000:
        return None
    try:
        payload = _signer().unsign_object(
            raw[len(TOKEN_PREFIX) :], max_age=settings.EMBED_TOKEN_MAX_AGE
        )
    except (signing.BadSignature, ValueError):
        return None
    if not isinstance(payload, dict):
        return None
    public_key, visitor, origin = payload.get("k"), payload.get("v"), payload.get("o")
    if not all(isinstance(value, str) and value for value in (public_key, visitor, origin)):
        return None
    key = EmbedKey.objects.usable().filter(public_key=public_key).first()
    if key is None or not key.allows_origin(origin):
        return None
    return Grant(key=key, visitor=visitor, origin=origin)


def from_subprotocols(protocols: list[str]) -> str | None:
    """The token a socket offered beside SOCKET_PROTOCOL, if it offered both."""
    if SOCKET_PROTOCOL not in protocols:
        return None
    return next((p for p in protocols if p.startswith(TOKEN_PREFIX)), None)
