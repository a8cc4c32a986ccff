from __future__ import annotations

from collections.abc import Callable

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from sessions.api.http_errors import error_response

BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _too_large(length: int) -> HttpResponse:
    limit = settings.API_MAX_BODY_BYTES
    return error_response(
        413, "body_too_large", f"The request body is {length} bytes; the limit is {limit}."
    )


def _before(request: HttpRequest) -> HttpResponse | None:
    """Refuse an oversized body before any view reads it."""
    limit = settings.API_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH")
    if declared:
        try:
            length = int(declared)
        except ValueError:
            return error_response(400, "bad_request", "Content-Length is not a number.")
        return _too_large(length) if length > limit else None
    if request.method in BODY_METHODS:
        # A chunked body has no Content-Length; the ASGI handler has buffered it already,
        # so measuring it costs nothing more.
        try:
            length = len(request.body)
        except RequestDataTooBig:
            return _too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
        return _too_large(length) if length > limit else None
    return None


# Answers under this path may carry a session's `rtc` join credentials (create, detail,
# list, close): no browser or proxy cache may keep them.
CREDENTIAL_PATHS = "/api/v1/sessions"


def _after(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Django's and ninja's own 404/405 for API paths, in the API's error shape; no-store
    on every answer about sessions."""
    response = _json_errors(response)
    if request.path.startswith(CREDENTIAL_PATHS):
        response["Cache-Control"] = "no-store"
    return response


def _json_errors(response: HttpResponse) -> HttpResponse:
    if response.status_code in (404, 405) and not response.get("Content-Type", "").startswith(
        "application/json"
    ):
        if response.status_code == 404:
            return error_response(404, "not_found", "There is no such API path.")
        replacement = error_response(
            405, "method_not_allowed", "This API path does not accept that method."
        )
        if response.has_header("Allow"):  # required on a 405 (RFC 9110)
            replacement["Allow"] = response["Allow"]
        return replacement
    return response


@sync_and_async_middleware
def api_guard(get_response: Callable) -> Callable:
    """Keeps every /api/ answer in one error shape: oversized bodies get a 413 before
    anything reads them (Django's own limit would answer a bare 400), and unknown paths
    and methods get JSON errors instead of HTML pages. Answers about sessions are never
    cached (they carry join credentials).

    Both flavours, so async views are not pushed through a thread for these checks.
    """
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            if not request.path.startswith("/api/"):
                return await get_response(request)
            return _before(request) or _after(request, await get_response(request))

    else:

        def middleware(request: HttpRequest) -> HttpResponse:  # type: ignore[misc]
            if not request.path.startswith("/api/"):
                return get_response(request)
            return _before(request) or _after(request, get_response(request))

    return middleware
