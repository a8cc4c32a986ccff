"""The JSON API under /api/v1/ (django-ninja: the same pydantic schemas validate
requests and generate /api/v1/openapi.json). Routes live in sessions.py and presets.py;
errors of every kind become one JSON shape here."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from sessions import errors
from sessions.api import embed, presets, sessions
from sessions.api.auth import ApiAuth
from sessions.api.http_errors import domain_error_response, error_response
from sessions.services import catalog

log = logging.getLogger("avatarsite.api")

api = NinjaAPI(
    title="avatarsite API",
    version="1",
    description=(
        "Start, follow and end live avatar sessions. Authenticate with "
        # In backticks: the docs page renders this as Markdown, where a bare <token>
        # is an HTML tag and vanishes.
        "`Authorization: Bearer <token>` (or the site's session cookie and `X-CSRFToken`)."
    ),
    auth=ApiAuth(),
    urls_namespace="api",
    docs_url="/docs",
)
api.add_router("", presets.router)
api.add_router("", sessions.router)
api.add_router("", embed.router)


# --- Errors: one shape everywhere ---------------------------------------------------
@api.exception_handler(errors.DomainError)
def _domain_error(request: HttpRequest, exc: errors.DomainError):
    return domain_error_response(exc)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError):
    return error_response(
        401,
        "not_authenticated",
        _("Sign in, or send an API token as 'Authorization: Bearer <token>'."),
    )


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "data"))
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", ""))


def _specific(error: dict[str, Any], request: HttpRequest) -> tuple[str, str] | None:
    """The errors a client can act on get their own code and a plainer message."""
    field, kind = str(error.get("loc", ("",))[-1]), error.get("type")
    if field == "duration" and kind in ("greater_than_equal", "less_than_equal"):
        low, high = settings.SESSION_MIN_DURATION, settings.SESSION_MAX_DURATION
        text = _("The duration must be between %(low)d and %(high)d seconds.")
        return "invalid_duration", text % {"low": low, "high": high}
    if field == "language" and kind == "literal_error":
        try:  # ninja's errors leave the input out; the body has it
            given = str(json.loads(request.body).get("language"))[:20]
        except (ValueError, AttributeError):
            given = "?"
        known = ", ".join(lang["code"] for lang in catalog.languages())
        text = _("Unknown language “%(code)s”; use one of %(offered)s.")
        return "invalid_language", text % {"code": given, "offered": known}
    return None


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError):
    specific = _specific(exc.errors[0], request) if len(exc.errors) == 1 else None
    if specific:
        return error_response(422, *specific)
    details = "; ".join(_describe(e) for e in exc.errors[:5]) or "invalid request"
    return error_response(422, "invalid_request", f"The request is not valid: {details}.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError):
    if exc.status_code == 400:
        return error_response(400, "bad_json", _("The request body is not valid JSON."))
    return error_response(exc.status_code, "http_error", str(exc))


@api.exception_handler(OperationalError)
def _database_unavailable(request: HttpRequest, exc: OperationalError):
    # The database is unreachable or every pooled connection is busy: try again soon.
    log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
    response = error_response(
        503, "database_unavailable", _("The service is busy right now; please try again shortly.")
    )
    response["Retry-After"] = "5"
    return response


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception):
    log.exception("unexpected error on %s %s", request.method, request.path)
    return error_response(500, "internal_error", _("Something went wrong on our side."))
