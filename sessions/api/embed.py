"""POST /embed/token: the embed page renews its visitor token before it expires.

Only an embed token renews (with itself, as `Authorization: Bearer emb.…`): the answer is
a token for the same visitor, key and host origin, good for EMBED_TOKEN_MAX_AGE seconds
again. A key turned off, an origin no longer listed, an expired or forged token, an API
token or a cookie: 401, like every other failed sign-in (sessions/embed_tokens.read)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router
from ninja.security.base import AuthBase

from sessions import embed_tokens, errors
from sessions.access import bearer_from_header
from sessions.api.http_errors import error_map
from sessions.api.schemas import EmbedTokenOut

router = Router(tags=["embed"])


class EmbedTokenAuth(AuthBase):
    """Only an embed visitor token (a Bearer header): its grant, else 401 invalid_token."""

    openapi_type = "http"
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> embed_tokens.Grant:
        raw = bearer_from_header(request.headers.get("Authorization") or "") or ""
        grant = embed_tokens.read(raw) if raw.startswith(embed_tokens.TOKEN_PREFIX) else None
        if grant is None:
            raise errors.NotAuthenticated(
                "invalid_token",
                _("This page's visitor pass has expired or is no longer valid. Reload the page."),
            )
        return grant


@router.post("/embed/token", auth=EmbedTokenAuth(), response={200: EmbedTokenOut, **error_map()})
def renew_embed_token(request: HttpRequest):
    """A fresh visitor token for the embed page that sends its current one."""
    grant: embed_tokens.Grant = request.auth  # type: ignore[attr-defined]
    token = embed_tokens.issue(grant.key.public_key, grant.origin, grant.visitor)
    return {"token": token, "expires_in": settings.EMBED_TOKEN_MAX_AGE}
