"""The embed's pages (issue 20): our avatar page inside a website's iframe, and the script
a website loads to put it there (README "Embedding").

The page is framed only by the key's own origins (CSP frame-ancestors, no
X-Frame-Options); every other page of the site keeps `frame-ancestors 'none'` and DENY.
It sets no cookie and uses none: its visitor token comes in the page and lives in the
page's memory (sessions/embed_tokens.py)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from sessions import embed_tokens
from sessions.embed_models import EmbedKey, normalise_origin
from sessions.views import page_config

EMBED_SCRIPT = Path(settings.BASE_DIR) / "static" / "embed" / "embed.js"


def _refused(request: HttpRequest, status: int, title: str, text: str) -> HttpResponse:
    """A small plain page saying why there is no avatar here (keeps DENY and 'none')."""
    context = {"title": title, "text": text}
    return render(request, "embed_refused.html", context, status=status)


def _host_origin(request: HttpRequest, key: EmbedKey) -> str | None:
    """The host page's origin as its script named it, if the key lists it."""
    try:
        origin = normalise_origin(request.GET.get("origin", ""))
    except ValueError:
        return None
    return origin if key.allows_origin(origin) else None


def embed_config(request: HttpRequest, key: EmbedKey, origin: str) -> dict:
    """The page's config with the embed's part: a fresh visitor token (new visitor), the
    host page's origin (the only one its messages go to), what the host may ask, and the
    preset asked for by `?preset=` when the key offers it."""
    asked = request.GET.get("preset", "")
    offered = key.presets.filter(active=True, slug=asked).exists() if asked else False
    return page_config(
        request,
        embed={
            "embedToken": embed_tokens.issue(key.public_key, origin),
            "embedTokenMaxAge": settings.EMBED_TOKEN_MAX_AGE,
            "hostOrigin": origin,
            "hostMay": {
                "start": key.host_may_start,
                "end": key.host_may_end,
                "say": key.host_may_say,
            },
            "preset": asked if offered else "",
        },
    )


def _framed_by(response: HttpResponse, origins: list[str]) -> HttpResponse:
    """Exactly `origins` may frame this response (django-csp 4: a per-response
    replacement), and no X-Frame-Options (it knows no list of origins): what
    django.views.decorators.clickjacking.xframe_options_exempt sets, on this one only."""
    response.xframe_options_exempt = True  # type: ignore[attr-defined]
    response._csp_replace = {"frame-ancestors": origins}  # type: ignore[attr-defined]
    return response


@never_cache  # no-store: the page carries a visitor's token
def embed_page(request: HttpRequest, public_key: str) -> HttpResponse:
    key = EmbedKey.objects.filter(public_key=public_key).first()
    origin = _host_origin(request, key) if key is not None else None
    if key is None or not key.active:
        refused = _refused(
            request,
            404,
            _("No avatar here"),
            _("This website's avatar is not available. It may have been turned off."),
        )
        # A key turned off says so inside its own websites' panels (a browser's blocked
        # frame would say nothing); an unknown key's page, like every other, is framed by none.
        return _framed_by(refused, [origin]) if origin is not None else refused
    if origin is None:
        return _refused(
            request,
            403,
            _("Not allowed on this website"),
            _("This avatar may not be shown on this website."),
        )
    response = render(request, "embed.html", {"page_config": embed_config(request, key, origin)})
    return _framed_by(response, key.origins)


def embed_script(request: HttpRequest) -> FileResponse:
    """static/embed/embed.js, loaded by other websites: readable across origins, cached a
    few minutes (a fixed address, so a deploy reaches websites soon)."""
    if not EMBED_SCRIPT.is_file():
        raise Http404(_("The embed script is not installed."))
    response = FileResponse(EMBED_SCRIPT.open("rb"), content_type="text/javascript")
    response["Cache-Control"] = "public, max-age=300"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
