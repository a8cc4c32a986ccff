from __future__ import annotations

from collections.abc import Callable

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware

from .errors import error_response


def _oversized(request: HttpRequest) -> HttpResponse | None:
    if not request.path.startswith("/api/"):
        return None
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return error_response(400, "bad_request", "Content-Length is not a number.")
    limit = settings.API_MAX_BODY_BYTES
    if length > limit:
        return error_response(
            413, "body_too_large", f"The request body is {length} bytes; the limit is {limit}."
        )
    return None


@sync_and_async_middleware
def api_body_limit(get_response: Callable) -> Callable:
    """Refuse oversized API bodies with a 413 in the API's error shape.

    Checked on Content-Length before anything reads the body, so a huge upload costs
    nothing. (Django's DATA_UPLOAD_MAX_MEMORY_SIZE would answer with a bare 400.)
    Both flavours, so async views are not pushed through a thread for this check.
    """
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            return _oversized(request) or await get_response(request)

    else:

        def middleware(request: HttpRequest) -> HttpResponse:  # type: ignore[misc]
            return _oversized(request) or get_response(request)

    return middleware
